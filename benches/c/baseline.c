/*
 * The C side of the benchmarks: what a C program would write for the same job,
 * compiled by build.rs with cc and DPDK's own cflags. Every loop takes its trip
 * count as an argument so that callgrind's cost per iteration is
 * (cost of n2 iterations - cost of n1 iterations) / (n2 - n1).
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_lcore.h>

/* Kept out of line (also under LTO) so that callgrind counts each loop by name. */
#define KERNEL __attribute__((noinline, used))

/* Mapped BAR: volatile loads and stores, constant and varying offsets. */
KERNEL uint32_t bench_c_read32_const(const volatile uint8_t *base, uint64_t n)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
		acc += *(const volatile uint32_t *)(base + 0x40);
	return acc;
}

KERNEL uint32_t bench_c_read32_var(const volatile uint8_t *base, uint64_t n)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
		acc += *(const volatile uint32_t *)(base + ((i & 63) << 2));
	return acc;
}

KERNEL void bench_c_write32_const(volatile uint8_t *base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		*(volatile uint32_t *)(base + 0x40) = (uint32_t)i;
}

KERNEL void bench_c_write32_var(volatile uint8_t *base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		*(volatile uint32_t *)(base + ((i & 63) << 2)) = (uint32_t)i;
}

/* The pread path: one pread64 per 4-byte register, and one for a bulk range. */
KERNEL uint32_t bench_c_pread32(int fd, int64_t region_offset, uint64_t n)
{
	uint32_t acc = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t v = 0;

		if (pread64(fd, &v, sizeof(v), region_offset + (int64_t)((i & 63) << 2)) != sizeof(v))
			return 0;
		acc += v;
	}
	return acc;
}

KERNEL int bench_c_pread_bulk(int fd, int64_t region_offset, uint8_t *buf, size_t len, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (pread64(fd, buf, len, region_offset) != (ssize_t)len)
			return -1;
	return 0;
}

/*
 * Static inline functions, inlined here as C programs get them. The empty asm
 * with a memory clobber (a compiler barrier, as the Rust side's compiler_fence)
 * makes every iteration call the function again instead of hoisting the load.
 */
KERNEL uint64_t bench_c_lcore_id(uint64_t n)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++) {
		acc += rte_lcore_id();
		__asm__ volatile("" ::: "memory");
	}
	return acc;
}

KERNEL uint64_t bench_c_rdtsc(uint64_t n)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++) {
		acc += rte_rdtsc();
		__asm__ volatile("" ::: "memory");
	}
	return acc;
}

/* rte_eal_init exactly as a C program calls it; returns its result. */
KERNEL int bench_c_eal_init(int argc, char **argv)
{
	return rte_eal_init(argc, argv);
}

/* DPDK's own scan of the PCI tree (re-reads every device's sysfs files). */
KERNEL int bench_c_bus_scan(void)
{
	return rte_bus_scan();
}

/* Walks DPDK's PCI bus as a C program would; returns the number of devices. */
KERNEL int bench_c_count_pci(void)
{
	struct rte_dev_iterator it;
	struct rte_device *dev;
	int count = 0;

	memset(&it, 0, sizeof(it));
	RTE_DEV_FOREACH(dev, "bus=pci", &it)
		count++;
	return count;
}

KERNEL uint64_t bench_c_pwrite32(int fd, int64_t region_offset, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)i;

		if (pwrite64(fd, &v, sizeof(v), region_offset + (int64_t)((i & 63) << 2)) != sizeof(v))
			return 0;
	}
	return n;
}

/*
 * The data plane, as a C application writes it (forwarding.rs): io forwarding
 * between two ports, bursts of 32, what TX does not take freed in bulk; and
 * mbuf alloc+free, single and in bursts of 32.
 */
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define FWD_BURST 32

static inline uint64_t bench_c_fwd_one(uint16_t from, uint16_t from_q, uint16_t to, uint16_t to_q)
{
	struct rte_mbuf *pkts[FWD_BURST];
	uint16_t got = rte_eth_rx_burst(from, from_q, pkts, FWD_BURST);
	uint16_t sent;

	if (got == 0)
		return 0;
	sent = rte_eth_tx_burst(to, to_q, pkts, got);
	if (sent < got)
		rte_pktmbuf_free_bulk(&pkts[sent], got - sent);
	return got;
}

/* n rounds of a->b then b->a; returns the packets received. */
static inline uint64_t bench_c_io_fwd(uint16_t a, uint16_t qa, uint16_t b, uint16_t qb, uint64_t n)
{
	uint64_t pkts = 0;

	for (uint64_t i = 0; i < n; i++) {
		pkts += bench_c_fwd_one(a, qa, b, qb);
		pkts += bench_c_fwd_one(b, qb, a, qa);
	}
	return pkts;
}

/*
 * The same loop under several names, so that callgrind counts each apart:
 * per port pair, and with queue 0 written into the loop (as DPDK's l2fwd
 * does) or the queue ids given at run time (as testpmd's forwarding engines
 * take them from their stream, and as a Rust queue handle holds them).
 */
KERNEL uint64_t bench_c_io_fwd_ring(uint16_t a, uint16_t b, uint64_t n) { return bench_c_io_fwd(a, 0, b, 0, n); }

KERNEL uint64_t bench_c_io_fwd_null(uint16_t a, uint16_t b, uint64_t n) { return bench_c_io_fwd(a, 0, b, 0, n); }

KERNEL uint64_t bench_c_io_fwd_ring_queues(uint16_t a, uint16_t qa, uint16_t b, uint16_t qb, uint64_t n)
{
	return bench_c_io_fwd(a, qa, b, qb, n);
}

KERNEL uint64_t bench_c_io_fwd_null_queues(uint16_t a, uint16_t qa, uint16_t b, uint16_t qb, uint64_t n)
{
	return bench_c_io_fwd(a, qa, b, qb, n);
}

/* n single allocations, each freed at once; returns the ones that succeeded. */
KERNEL uint64_t bench_c_mbuf_single(struct rte_mempool *mp, uint64_t n)
{
	uint64_t ok = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

		if (m != NULL) {
			ok++;
			rte_pktmbuf_free(m);
		}
	}
	return ok;
}

/* n bulk allocations of 32, each freed in bulk; returns the mbufs allocated. */
KERNEL uint64_t bench_c_mbuf_bulk(struct rte_mempool *mp, uint64_t n)
{
	struct rte_mbuf *pkts[FWD_BURST];
	uint64_t ok = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (rte_pktmbuf_alloc_bulk(mp, pkts, FWD_BURST) == 0) {
			ok += FWD_BURST;
			rte_pktmbuf_free_bulk(pkts, FWD_BURST);
		}
	}
	return ok;
}
