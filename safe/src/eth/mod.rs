//! Ethernet ports of DPDK's own drivers (ethdev): how a Rust application sees
//! the NICs that DPDK's C drivers took, beside its own PCI drivers, and how it
//! moves packets through them.
//!
//! * [`Eal::eth_ports`]: the ports DPDK's probe and the vdev arguments created.
//! * [`Mempool`]: packet mempools (`rte_pktmbuf_pool_create`).
//! * [`Mbuf`], [`Burst`]: owned packets and reusable arrays of them.
//! * [`Port`]: configure, queues, start/stop/close, promiscuous mode, MTU, MAC,
//!   link, statistics.
//! * [`RxQueue`], [`TxQueue`]: the fast path, one lcore per queue.

mod fast_path;
mod mbuf;
mod mempool;
mod port;
mod queue;

pub use mbuf::{Burst, Mbuf, MbufError, OffloadFlags, PacketType, MAX_BURST};
pub use mempool::{Mempool, MempoolConfig, MempoolError, MAX_CACHE_SIZE, MAX_NAME_LEN};
pub use port::{
    rss, rx_offload, tx_offload, Link, Port, PortConfig, PortError, PortInfo, PortStats,
};
pub use queue::{RxQueue, TxQueue};

use std::ffi::{c_char, CStr};

use crate::eal::Eal;
use crate::errno::DpdkErrno;

/// One ethdev port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthPort {
    /// DPDK's port id.
    pub port_id: u16,
    /// The DPDK driver, e.g. `net_e1000_em`.
    pub driver: String,
    /// The device's name: a PCI address, or a vdev name such as `net_null0`.
    pub device: String,
    /// The port's MAC address.
    pub mac: [u8; 6],
}

impl EthPort {
    /// The MAC address as `52:54:00:12:34:56`.
    pub fn mac_string(&self) -> String {
        let parts: Vec<String> = self.mac.iter().map(|b| format!("{b:02x}")).collect();
        parts.join(":")
    }
}

/// An ethdev call failed for a port.
#[derive(Debug, thiserror::Error)]
#[error("ethdev port {port}: {what} failed: {errno}")]
pub struct EthError {
    /// The port.
    pub port: u16,
    /// The call that failed.
    pub what: &'static str,
    /// What DPDK returned.
    #[source]
    pub errno: DpdkErrno,
}

fn check(port: u16, what: &'static str, ret: i32) -> Result<(), EthError> {
    if ret == 0 {
        return Ok(());
    }
    Err(EthError {
        port,
        what,
        errno: DpdkErrno::new(ret),
    })
}

fn text(buf: &[c_char]) -> String {
    // SAFETY: the shim NUL-terminates within the buffer (snprintf).
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

impl Eal {
    /// Number of usable ethdev ports.
    pub fn eth_port_count(&self) -> u16 {
        // SAFETY: a plain query while the EAL runs.
        unsafe { dpdk_sys::dpdk_shim_eth_dev_count_avail() }
    }

    /// Every usable ethdev port, by port id.
    pub fn eth_ports(&self) -> Result<Vec<EthPort>, EthError> {
        let mut ports = Vec::new();
        let max = dpdk_sys::RTE_MAX_ETHPORTS as u16;
        // SAFETY: a plain query while the EAL runs.
        let mut port = unsafe { dpdk_sys::dpdk_shim_eth_find_next(0) };
        while port < max {
            let mut mac = [0u8; 6];
            let mut driver = [0 as c_char; 64];
            let mut device = [0 as c_char; 64];
            // SAFETY: the buffers are live and their lengths are passed.
            let (mac_ret, names_ret) = unsafe {
                (
                    dpdk_sys::dpdk_shim_eth_macaddr(port, mac.as_mut_ptr()),
                    dpdk_sys::dpdk_shim_eth_names(
                        port,
                        driver.as_mut_ptr(),
                        driver.len(),
                        device.as_mut_ptr(),
                        device.len(),
                    ),
                )
            };
            check(port, "rte_eth_macaddr_get", mac_ret)?;
            check(port, "rte_eth_dev_info_get", names_ret)?;
            ports.push(EthPort {
                port_id: port,
                driver: text(&driver),
                device: text(&device),
                mac,
            });
            // SAFETY: as above; port + 1 <= RTE_MAX_ETHPORTS fits u16.
            port = unsafe { dpdk_sys::dpdk_shim_eth_find_next(port + 1) };
        }
        Ok(ports)
    }
}
