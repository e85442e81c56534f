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

#endif
