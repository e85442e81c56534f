/*
 * The headers the bindings cover, and the shim: real functions for what DPDK
 * offers only as macros or per-lcore (thread-local) variables, which Rust cannot
 * reach through a plain `extern` declaration.
 *
 * Static inline functions are not listed here: bindgen's wrap_static_fns writes
 * a wrapper for each of them (static_fns.c in OUT_DIR).
 */
#ifndef DPDK_RS_SHIM_H
#define DPDK_RS_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_malloc.h>
#include <rte_version.h>
#include <rte_cycles.h>
#include <rte_bus_pci.h>
#include <rte_pci.h>
#include <rte_vfio.h>
#include <rte_launch.h>
#include <rte_per_lcore.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <linux/vfio.h>

/* rte_errno is a per-lcore variable behind a macro. */
int dpdk_shim_errno_get(void);
void dpdk_shim_errno_set(int value);

/* sizeof(off_t) as this translation unit sees it: must be 8 on every target. */
size_t dpdk_shim_off_t_size(void);

/* RTE_VERSION, a macro computed from the version fields. */
uint32_t dpdk_shim_version_num(void);

/* VFIO ioctl request numbers: function-like macros (_IO) in linux/vfio.h. */
unsigned long dpdk_shim_vfio_ioctl_get_device_info(void);
unsigned long dpdk_shim_vfio_ioctl_get_region_info(void);
unsigned long dpdk_shim_vfio_ioctl_get_irq_info(void);
unsigned long dpdk_shim_vfio_ioctl_set_irqs(void);
unsigned long dpdk_shim_vfio_ioctl_reset(void);
unsigned long dpdk_shim_vfio_ioctl_group_get_status(void);

/*
 * A few ethdev calls, wrapped with plain types: rte_ethdev.h drags in rte_flow
 * and every protocol header, which bindgen cannot lay out cleanly (packed
 * structs with aligned members) and nobody here needs.
 */
/* Number of usable ethdev ports. */
uint16_t dpdk_shim_eth_dev_count_avail(void);
/* The first usable port at or after `port`, or RTE_MAX_ETHPORTS when none. */
uint16_t dpdk_shim_eth_find_next(uint16_t port);
/* The port's MAC address into mac[6]; 0 or a negative errno. */
int dpdk_shim_eth_macaddr(uint16_t port, uint8_t mac[6]);
/* The port's DPDK driver name and device name into the buffers; 0 or a negative errno. */
int dpdk_shim_eth_names(uint16_t port, char *driver, size_t driver_len, char *device, size_t device_len);


/*
 * The data plane (safe/src/eth/). rte_mbuf and rte_mempool are bindgen's
 * (rte_mbuf.h is in the list above, and bindgen wraps its static inline
 * functions: rte_pktmbuf_alloc, rte_pktmbuf_free, rte_pktmbuf_append, ...).
 * rte_ethdev.h stays out of the bindings (see above): the port calls below take
 * and return plain types, and the two burst calls, static inline in
 * rte_ethdev.h, are wrapped here.
 */

/* What rte_eth_dev_info_get reports that the safe crate checks requests against. */
struct dpdk_shim_eth_info {
	uint16_t max_rx_queues;
	uint16_t max_tx_queues;
	uint16_t rx_desc_max;
	uint16_t rx_desc_min;
	uint16_t tx_desc_max;
	uint16_t tx_desc_min;
	uint16_t min_mtu;
	uint16_t max_mtu;
	uint32_t max_rx_pktlen;
	uint64_t rx_offload_capa;
	uint64_t tx_offload_capa;
	uint64_t flow_type_rss_offloads;
	uint16_t reta_size;
	uint8_t hash_key_size;
	int32_t socket_id;
	uint16_t nb_rx_queues;
	uint16_t nb_tx_queues;
};
int dpdk_shim_eth_info(uint16_t port, struct dpdk_shim_eth_info *info);

/* rte_eth_dev_configure with the fields the safe crate sets; mtu 0 keeps the default. */
int dpdk_shim_eth_configure(uint16_t port, uint16_t nb_rx, uint16_t nb_tx, uint64_t rx_offloads,
			    uint64_t tx_offloads, int rss, uint64_t rss_hf, uint32_t mtu);
int dpdk_shim_eth_rx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc, unsigned int socket,
				 struct rte_mempool *pool);
int dpdk_shim_eth_tx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc, unsigned int socket);
int dpdk_shim_eth_start(uint16_t port);
int dpdk_shim_eth_stop(uint16_t port);
int dpdk_shim_eth_close(uint16_t port);
int dpdk_shim_eth_reset(uint16_t port);
int dpdk_shim_eth_promiscuous(uint16_t port, int enable);
/* 1 enabled, 0 disabled, negative errno. */
int dpdk_shim_eth_promiscuous_get(uint16_t port);
int dpdk_shim_eth_allmulticast(uint16_t port, int enable);
/* 1 enabled, 0 disabled, negative errno. */
int dpdk_shim_eth_allmulticast_get(uint16_t port);
/* rte_eth_dev_set_link_up or _down. */
int dpdk_shim_eth_set_link(uint16_t port, int up);
/* The RSS redirection table as one queue id per hash bucket, size entries (the
 * driver's reta_size); -EINVAL for size 0, and from DPDK for another size than
 * the driver's. */
int dpdk_shim_eth_reta_query(uint16_t port, uint16_t *queues, uint16_t size);
int dpdk_shim_eth_reta_update(uint16_t port, const uint16_t *queues, uint16_t size);
int dpdk_shim_eth_mtu_get(uint16_t port, uint16_t *mtu);
int dpdk_shim_eth_mtu_set(uint16_t port, uint16_t mtu);
int dpdk_shim_eth_macaddr_set(uint16_t port, const uint8_t mac[6]);
int dpdk_shim_eth_socket_id(uint16_t port);

struct dpdk_shim_eth_link {
	uint32_t speed_mbps;
	uint8_t full_duplex;
	uint8_t autoneg;
	uint8_t up;
};
int dpdk_shim_eth_link(uint16_t port, struct dpdk_shim_eth_link *link);

struct dpdk_shim_eth_stats {
	uint64_t ipackets;
	uint64_t opackets;
	uint64_t ibytes;
	uint64_t obytes;
	uint64_t imissed;
	uint64_t ierrors;
	uint64_t oerrors;
	uint64_t rx_nombuf;
};
int dpdk_shim_eth_stats(uint16_t port, struct dpdk_shim_eth_stats *stats);
int dpdk_shim_eth_stats_reset(uint16_t port);
/* Number of extended stats, or a negative errno. */
int dpdk_shim_eth_xstats_count(uint16_t port);
/* Up to n names (64 bytes each, NUL-terminated) and values; the count or a negative errno. */
int dpdk_shim_eth_xstats(uint16_t port, char *names, uint64_t *values, unsigned int n);
int dpdk_shim_eth_xstats_reset(uint16_t port);
/* Is `port` a valid port id (rte_eth_dev_is_valid_port)? */
int dpdk_shim_eth_is_valid(uint16_t port);

/* DPDK's name of one RX or TX offload bit ("VLAN_STRIP"), or "UNKNOWN". */
const char *dpdk_shim_eth_offload_name(uint64_t offload, int tx);
/* The port id of ethdev `name` into *port; 0 or a negative errno. */
int dpdk_shim_eth_port_by_name(const char *name, uint16_t *port);

/* rte_eth_rx_burst and rte_eth_tx_burst, static inline in rte_ethdev.h. */
uint16_t dpdk_shim_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t dpdk_shim_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
/* 1 when rte_eth_fp_ops[port] holds an RX (tx == 0) or TX (tx != 0) burst
 * function, the one the two calls above call without a check; 0 when it is
 * null or port is not below RTE_MAX_ETHPORTS. */
int dpdk_shim_eth_has_burst_function(uint16_t port, int tx);

/* rte_lcore_id(), a per-lcore variable. */
unsigned int dpdk_shim_lcore_id(void);
/* The calling thread's own per-lcore lcore id variable, for a thread to read
 * its lcore id without a call: the address stays valid for the thread's life. */
const unsigned int *dpdk_shim_lcore_id_addr(void);

/* The layout line of rte_mbuf this shim was built against (sizeof, buf_addr offset checks). */
size_t dpdk_shim_mbuf_size(void);

#endif
