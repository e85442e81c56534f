/* See shim.h for why each of these exists. */
#include "shim.h"

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
