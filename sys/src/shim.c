/* See shim.h for why each of these exists. */
#include "shim.h"

#include <stdio.h>
#include <string.h>
#include <rte_ethdev.h>

int dpdk_shim_errno_get(void) { return rte_errno; }

void dpdk_shim_errno_set(int value) { rte_errno = value; }

size_t dpdk_shim_off_t_size(void) { return sizeof(off_t); }

uint32_t dpdk_shim_version_num(void) { return RTE_VERSION; }

unsigned long dpdk_shim_vfio_ioctl_get_device_info(void) { return VFIO_DEVICE_GET_INFO; }

unsigned long dpdk_shim_vfio_ioctl_get_region_info(void) { return VFIO_DEVICE_GET_REGION_INFO; }

unsigned long dpdk_shim_vfio_ioctl_get_irq_info(void) { return VFIO_DEVICE_GET_IRQ_INFO; }

unsigned long dpdk_shim_vfio_ioctl_set_irqs(void) { return VFIO_DEVICE_SET_IRQS; }

unsigned long dpdk_shim_vfio_ioctl_reset(void) { return VFIO_DEVICE_RESET; }

unsigned long dpdk_shim_vfio_ioctl_group_get_status(void) { return VFIO_GROUP_GET_STATUS; }

uint16_t dpdk_shim_eth_dev_count_avail(void) { return rte_eth_dev_count_avail(); }

uint16_t dpdk_shim_eth_find_next(uint16_t port)
{
	return (uint16_t)rte_eth_find_next_owned_by(port, RTE_ETH_DEV_NO_OWNER);
}

int dpdk_shim_eth_macaddr(uint16_t port, uint8_t mac[6])
{
	struct rte_ether_addr addr;
	int ret = rte_eth_macaddr_get(port, &addr);

	if (ret == 0)
		memcpy(mac, addr.addr_bytes, RTE_ETHER_ADDR_LEN);
	return ret;
}

int dpdk_shim_eth_names(uint16_t port, char *driver, size_t driver_len, char *device, size_t device_len)
{
	struct rte_eth_dev_info info;
	int ret = rte_eth_dev_info_get(port, &info);

	if (ret != 0)
		return ret;
	snprintf(driver, driver_len, "%s", info.driver_name ? info.driver_name : "");
	snprintf(device, device_len, "%s", info.device ? rte_dev_name(info.device) : "");
	return 0;
}
