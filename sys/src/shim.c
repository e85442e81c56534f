/* See shim.h for why each of these exists. */
#include "shim.h"

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <errno.h>
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

int dpdk_shim_eth_info(uint16_t port, struct dpdk_shim_eth_info *out)
{
	struct rte_eth_dev_info info;
	int ret = rte_eth_dev_info_get(port, &info);

	if (ret != 0)
		return ret;
	memset(out, 0, sizeof(*out));
	out->max_rx_queues = info.max_rx_queues;
	out->max_tx_queues = info.max_tx_queues;
	out->rx_desc_max = info.rx_desc_lim.nb_max;
	out->rx_desc_min = info.rx_desc_lim.nb_min;
	out->tx_desc_max = info.tx_desc_lim.nb_max;
	out->tx_desc_min = info.tx_desc_lim.nb_min;
	out->min_mtu = info.min_mtu;
	out->max_mtu = info.max_mtu;
	out->max_rx_pktlen = info.max_rx_pktlen;
	out->rx_offload_capa = info.rx_offload_capa;
	out->tx_offload_capa = info.tx_offload_capa;
	out->flow_type_rss_offloads = info.flow_type_rss_offloads;
	out->reta_size = info.reta_size;
	out->hash_key_size = info.hash_key_size;
	out->socket_id = rte_eth_dev_socket_id(port);
	out->nb_rx_queues = info.nb_rx_queues;
	out->nb_tx_queues = info.nb_tx_queues;
	return 0;
}

int dpdk_shim_eth_configure(uint16_t port, uint16_t nb_rx, uint16_t nb_tx, uint64_t rx_offloads,
			    uint64_t tx_offloads, int rss, uint64_t rss_hf, uint32_t mtu)
{
	struct rte_eth_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.offloads = rx_offloads;
	conf.txmode.offloads = tx_offloads;
	conf.rxmode.mtu = mtu;
	if (rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	return rte_eth_dev_configure(port, nb_rx, nb_tx, &conf);
}

int dpdk_shim_eth_rx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc, unsigned int socket,
				 struct rte_mempool *pool)
{
	return rte_eth_rx_queue_setup(port, queue, nb_desc, socket, NULL, pool);
}

int dpdk_shim_eth_tx_queue_setup(uint16_t port, uint16_t queue, uint16_t nb_desc, unsigned int socket)
{
	return rte_eth_tx_queue_setup(port, queue, nb_desc, socket, NULL);
}

int dpdk_shim_eth_start(uint16_t port) { return rte_eth_dev_start(port); }

int dpdk_shim_eth_stop(uint16_t port) { return rte_eth_dev_stop(port); }

int dpdk_shim_eth_close(uint16_t port) { return rte_eth_dev_close(port); }

int dpdk_shim_eth_reset(uint16_t port) { return rte_eth_dev_reset(port); }

int dpdk_shim_eth_promiscuous(uint16_t port, int enable)
{
	return enable ? rte_eth_promiscuous_enable(port) : rte_eth_promiscuous_disable(port);
}

int dpdk_shim_eth_promiscuous_get(uint16_t port) { return rte_eth_promiscuous_get(port); }

/* The groups of 64 entries that rte_eth_dev_rss_reta_query/update take, for
 * a table of size entries, each of them selected; NULL for size 0. */
static struct rte_eth_rss_reta_entry64 *reta_groups(uint16_t size)
{
	uint16_t n = (size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
	struct rte_eth_rss_reta_entry64 *groups;
	uint16_t i;

	if (size == 0)
		return NULL;
	groups = calloc(n, sizeof(*groups));
	if (groups == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		groups[i].mask = UINT64_MAX;
	if (size % RTE_ETH_RETA_GROUP_SIZE != 0)
		groups[n - 1].mask = (UINT64_C(1) << (size % RTE_ETH_RETA_GROUP_SIZE)) - 1;
	return groups;
}

int dpdk_shim_eth_reta_query(uint16_t port, uint16_t *queues, uint16_t size)
{
	struct rte_eth_rss_reta_entry64 *groups = reta_groups(size);
	uint16_t i;
	int ret;

	if (groups == NULL)
		return -EINVAL;
	ret = rte_eth_dev_rss_reta_query(port, groups, size);
	if (ret == 0)
		for (i = 0; i < size; i++)
			queues[i] = groups[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	free(groups);
	return ret;
}

int dpdk_shim_eth_reta_update(uint16_t port, const uint16_t *queues, uint16_t size)
{
	struct rte_eth_rss_reta_entry64 *groups = reta_groups(size);
	uint16_t i;
	int ret;

	if (groups == NULL)
		return -EINVAL;
	for (i = 0; i < size; i++)
		groups[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = queues[i];
	ret = rte_eth_dev_rss_reta_update(port, groups, size);
	free(groups);
	return ret;
}

int dpdk_shim_eth_allmulticast(uint16_t port, int enable)
{
	return enable ? rte_eth_allmulticast_enable(port) : rte_eth_allmulticast_disable(port);
}

int dpdk_shim_eth_allmulticast_get(uint16_t port) { return rte_eth_allmulticast_get(port); }

int dpdk_shim_eth_set_link(uint16_t port, int up)
{
	return up ? rte_eth_dev_set_link_up(port) : rte_eth_dev_set_link_down(port);
}

int dpdk_shim_eth_mtu_get(uint16_t port, uint16_t *mtu) { return rte_eth_dev_get_mtu(port, mtu); }

int dpdk_shim_eth_mtu_set(uint16_t port, uint16_t mtu) { return rte_eth_dev_set_mtu(port, mtu); }

int dpdk_shim_eth_macaddr_set(uint16_t port, const uint8_t mac[6])
{
	struct rte_ether_addr addr;

	memcpy(addr.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	return rte_eth_dev_default_mac_addr_set(port, &addr);
}

int dpdk_shim_eth_socket_id(uint16_t port) { return rte_eth_dev_socket_id(port); }

int dpdk_shim_eth_link(uint16_t port, struct dpdk_shim_eth_link *out)
{
	struct rte_eth_link link;
	int ret;

	memset(&link, 0, sizeof(link));
	ret = rte_eth_link_get_nowait(port, &link);
	if (ret != 0)
		return ret;
	out->speed_mbps = link.link_speed;
	out->full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
	out->autoneg = link.link_autoneg == RTE_ETH_LINK_AUTONEG;
	out->up = link.link_status == RTE_ETH_LINK_UP;
	return 0;
}

int dpdk_shim_eth_stats(uint16_t port, struct dpdk_shim_eth_stats *out)
{
	struct rte_eth_stats stats;
	int ret = rte_eth_stats_get(port, &stats);

	if (ret != 0)
		return ret;
	out->ipackets = stats.ipackets;
	out->opackets = stats.opackets;
	out->ibytes = stats.ibytes;
	out->obytes = stats.obytes;
	out->imissed = stats.imissed;
	out->ierrors = stats.ierrors;
	out->oerrors = stats.oerrors;
	out->rx_nombuf = stats.rx_nombuf;
	return 0;
}

int dpdk_shim_eth_stats_reset(uint16_t port) { return rte_eth_stats_reset(port); }

int dpdk_shim_eth_xstats_count(uint16_t port) { return rte_eth_xstats_get_names(port, NULL, 0); }

int dpdk_shim_eth_xstats(uint16_t port, char *names, uint64_t *values, unsigned int n)
{
	struct rte_eth_xstat_name *xnames;
	struct rte_eth_xstat *xvalues;
	int got_names, got_values, i;

	xnames = calloc(n ? n : 1, sizeof(*xnames));
	xvalues = calloc(n ? n : 1, sizeof(*xvalues));
	if (xnames == NULL || xvalues == NULL) {
		free(xnames);
		free(xvalues);
		return -ENOMEM;
	}
	got_names = rte_eth_xstats_get_names(port, xnames, n);
	got_values = rte_eth_xstats_get(port, xvalues, n);
	if (got_names < 0 || got_values < 0 || got_names != got_values || (unsigned int)got_names > n) {
		free(xnames);
		free(xvalues);
		if (got_names < 0)
			return got_names;
		if (got_values < 0)
			return got_values;
		return -EAGAIN;
	}
	for (i = 0; i < got_values; i++) {
		uint64_t id = xvalues[i].id;

		snprintf(names + (size_t)i * RTE_ETH_XSTATS_NAME_SIZE, RTE_ETH_XSTATS_NAME_SIZE, "%s",
			 id < (uint64_t)got_names ? xnames[id].name : "");
		values[i] = xvalues[i].value;
	}
	free(xnames);
	free(xvalues);
	return got_values;
}

int dpdk_shim_eth_xstats_reset(uint16_t port) { return rte_eth_xstats_reset(port); }

int dpdk_shim_eth_is_valid(uint16_t port) { return rte_eth_dev_is_valid_port(port); }

uint16_t dpdk_shim_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t dpdk_shim_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

int dpdk_shim_eth_has_burst_function(uint16_t port, int tx)
{
	if (port >= RTE_MAX_ETHPORTS)
		return 0;
	return tx ? rte_eth_fp_ops[port].tx_pkt_burst != NULL : rte_eth_fp_ops[port].rx_pkt_burst != NULL;
}

unsigned int dpdk_shim_lcore_id(void) { return rte_lcore_id(); }

const unsigned int *dpdk_shim_lcore_id_addr(void) { return &RTE_PER_LCORE(_lcore_id); }

size_t dpdk_shim_mbuf_size(void) { return sizeof(struct rte_mbuf); }

const char *dpdk_shim_eth_offload_name(uint64_t offload, int tx)
{
	return tx ? rte_eth_dev_tx_offload_name(offload) : rte_eth_dev_rx_offload_name(offload);
}

int dpdk_shim_eth_port_by_name(const char *name, uint16_t *port) { return rte_eth_dev_get_port_by_name(name, port); }
