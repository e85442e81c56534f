//! Configuring and running an ethdev port: queues, start and stop, promiscuous
//! mode, MTU, MAC address, link, statistics.
//!
//! A [`Port`] is the one handle to its port id in the process. Everything that
//! reconfigures it takes `&mut self`; the queue handles ([`RxQueue`],
//! [`TxQueue`]) borrow it (`&self`) and can only be taken while it is started,
//! so a port cannot be stopped, reconfigured or closed under a burst, and a
//! burst never reaches a stopped port: the compiler rules out what C leaves to
//! the programmer, and the rest is checked before DPDK is called.

use std::ffi::{c_char, CStr, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::eal::Eal;
use crate::errno::DpdkErrno;
use crate::eth::mempool::Mempool;
use crate::eth::queue::{RxQueue, TxQueue};

/// Ports that have a [`Port`] handle now.
static TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Misuse of a port, or a DPDK call on it that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortError {
    /// [`Port::take`] got an id `rte_eth_dev_is_valid_port` rejects; holds the id.
    #[error("no ethdev port {0}")]
    NoSuchPort(u16),
    /// Another [`Port`] for this port id is alive in the process; holds the id.
    #[error("ethdev port {0} already has a handle in this process")]
    AlreadyTaken(u16),
    /// `rte_eth_dev_get_port_by_name` knows no port by this name (or it holds a NUL
    /// byte); holds the name.
    #[error("no ethdev port named {0:?}")]
    NoSuchName(String),
    /// An operation that needs [`Port::configure`] first was called on an unconfigured port.
    #[error("port {port}: {what} needs a configured port (call configure first)")]
    NotConfigured {
        /// The port id.
        port: u16,
        /// The operation refused (`"start"`, `"queue setup"`).
        what: &'static str,
    },
    /// An operation that needs a stopped port was called on a started one.
    #[error("port {port}: {what} is not allowed while the port is started (stop it first)")]
    Started {
        /// The port id.
        port: u16,
        /// The operation refused (`"configure"`, `"queue setup"`).
        what: &'static str,
    },
    /// An operation that needs [`Port::start`] first was called on a stopped port.
    #[error("port {port}: {what} needs a started port")]
    NotStarted {
        /// The port id.
        port: u16,
        /// The operation refused (`"taking a queue"`).
        what: &'static str,
    },
    /// A queue index at or above the number of queues configured.
    #[error("port {port}: {kind} queue {queue} is out of range (the port has {count})")]
    QueueOutOfRange {
        /// The port id.
        port: u16,
        /// `"RX"` or `"TX"`.
        kind: &'static str,
        /// The queue index asked for.
        queue: u16,
        /// Queues of this kind configured, so valid indices are `0..count`.
        count: u16,
    },
    /// The queue's handle ([`RxQueue`] or [`TxQueue`]) was already taken since the
    /// port started.
    #[error("port {port}: {kind} queue {queue} has a handle already")]
    QueueTaken {
        /// The port id.
        port: u16,
        /// `"RX"` or `"TX"`.
        kind: &'static str,
        /// The queue index.
        queue: u16,
    },
    /// The started port's driver gave DPDK no burst function of this kind
    /// (DPDK's inline burst calls it without a check).
    #[error("port {port}: the driver has no {kind} burst function")]
    NoBurstFunction {
        /// The port id.
        port: u16,
        /// `"RX"` or `"TX"`.
        kind: &'static str,
    },
    /// [`Port::start`] found a configured queue that was not set up; the first one.
    #[error("port {port}: {kind} queue {queue} was not set up")]
    QueueNotSetUp {
        /// The port id.
        port: u16,
        /// `"RX"` or `"TX"`.
        kind: &'static str,
        /// The lowest queue index not set up.
        queue: u16,
    },
    /// [`PortConfig`] asks for more queues than `rte_eth_dev_info`'s
    /// `max_rx_queues` / `max_tx_queues`.
    #[error("port {port}: {count} {kind} queues requested, the driver offers at most {max}")]
    TooManyQueues {
        /// The port id.
        port: u16,
        /// `"RX"` or `"TX"`.
        kind: &'static str,
        /// Queues requested.
        count: u16,
        /// The driver's maximum.
        max: u16,
    },
    /// An offload bit requested in [`PortConfig`] is not in the driver's
    /// `rx_offload_capa` / `tx_offload_capa`; reports the lowest such bit.
    #[error("port {port}: {kind} offload {name} (0x{bit:x}) is not offered by the driver")]
    OffloadUnsupported {
        /// The port id.
        port: u16,
        /// `"RX"` or `"TX"`.
        kind: &'static str,
        /// The offload bit (one of [`rx_offload`] or [`tx_offload`]).
        bit: u64,
        /// DPDK's name for the bit (`rte_eth_dev_rx_offload_name` /
        /// `rte_eth_dev_tx_offload_name`).
        name: String,
    },
    /// A redirection table of another length than the driver's.
    #[error("port {port}: an RSS redirection table of {len} entries; the driver's has {size}")]
    RetaSize {
        /// The port id.
        port: u16,
        /// Entries given.
        len: usize,
        /// The driver's table size (`reta_size`).
        size: u16,
    },
    /// The driver keeps no RSS redirection table (`reta_size` 0).
    #[error("port {port}: the driver keeps no RSS redirection table")]
    NoReta {
        /// The port id.
        port: u16,
    },
    /// The RSS hash types requested are empty or not all in the driver's
    /// `flow_type_rss_offloads`.
    #[error(
        "port {port}: RSS hash types 0x{requested:x} not offered (the driver offers 0x{offered:x})"
    )]
    RssUnsupported {
        /// The port id.
        port: u16,
        /// The [`rss`] bits requested.
        requested: u64,
        /// The [`rss`] bits the driver offers (`flow_type_rss_offloads`).
        offered: u64,
    },
    /// A non-zero descriptor count outside the driver's `rx_desc_lim` / `tx_desc_lim`.
    #[error("port {port}: {nb_desc} descriptors outside the driver's range {min}..={max}")]
    BadDescriptorCount {
        /// The port id.
        port: u16,
        /// The descriptor count asked for.
        nb_desc: u16,
        /// The driver's minimum (`nb_min`).
        min: u16,
        /// The driver's maximum (`nb_max`).
        max: u16,
    },
    /// An MTU outside the driver's `min_mtu..=max_mtu`.
    #[error("port {port}: MTU {mtu} outside the driver's range {min}..={max}")]
    BadMtu {
        /// The port id.
        port: u16,
        /// The MTU asked for, in bytes.
        mtu: u16,
        /// The driver's `min_mtu`, in bytes.
        min: u16,
        /// The driver's `max_mtu`, in bytes.
        max: u16,
    },
    /// [`Port::wait_link_up`] ran out of time with the link still down.
    #[error("port {port}: the link did not come up within {waited:?}")]
    LinkDown {
        /// The port id.
        port: u16,
        /// How long it waited (at least the limit given).
        waited: Duration,
    },
    /// [`Port::xstat`] found no extended statistic of this name.
    #[error("port {port}: no extended statistic named {name:?}")]
    NoSuchXstat {
        /// The port id.
        port: u16,
        /// The name asked for.
        name: String,
    },
    /// A DPDK call returned a negative errno.
    #[error("port {port}: {what} failed: {errno}")]
    Failed {
        /// The port id (`u16::MAX` for `rte_dev_probe`, before there is a port).
        port: u16,
        /// The DPDK function that failed (`"rte_eth_dev_start"`).
        what: &'static str,
        /// The error it returned.
        #[source]
        errno: DpdkErrno,
    },
    /// [`Port::attach_vdev`]'s arguments hold a NUL byte; holds the arguments.
    #[error("vdev arguments {0:?} hold a NUL byte")]
    BadDevargs(String),
}

fn check(port: u16, what: &'static str, ret: i32) -> Result<(), PortError> {
    if ret >= 0 {
        return Ok(());
    }
    Err(PortError::Failed {
        port,
        what,
        errno: DpdkErrno::new(ret),
    })
}

/// RX offloads (`RTE_ETH_RX_OFFLOAD_*`, the same bits in 22.11 and 24.11).
pub mod rx_offload {
    /// Strip the VLAN tag into the mbuf's `vlan_tci` (`RTE_ETH_RX_OFFLOAD_VLAN_STRIP`).
    pub const VLAN_STRIP: u64 = 1 << 0;
    /// Check IPv4 header checksums (`RTE_ETH_RX_OFFLOAD_IPV4_CKSUM`).
    pub const IPV4_CKSUM: u64 = 1 << 1;
    /// Check UDP checksums (`RTE_ETH_RX_OFFLOAD_UDP_CKSUM`).
    pub const UDP_CKSUM: u64 = 1 << 2;
    /// Check TCP checksums (`RTE_ETH_RX_OFFLOAD_TCP_CKSUM`).
    pub const TCP_CKSUM: u64 = 1 << 3;
    /// Merge TCP segments into larger packets, large receive offload (`RTE_ETH_RX_OFFLOAD_TCP_LRO`).
    pub const TCP_LRO: u64 = 1 << 4;
    /// Strip the outer VLAN tag of QinQ packets (`RTE_ETH_RX_OFFLOAD_QINQ_STRIP`).
    pub const QINQ_STRIP: u64 = 1 << 5;
    /// Drop packets of VLANs not in the port's VLAN filter (`RTE_ETH_RX_OFFLOAD_VLAN_FILTER`).
    pub const VLAN_FILTER: u64 = 1 << 9;
    /// Receive packets larger than one mbuf as chains of segments (`RTE_ETH_RX_OFFLOAD_SCATTER`).
    pub const SCATTER: u64 = 1 << 13;
    /// Timestamp each packet in an mbuf dynamic field (`RTE_ETH_RX_OFFLOAD_TIMESTAMP`).
    pub const TIMESTAMP: u64 = 1 << 14;
    /// Keep the Ethernet CRC at the end of the packet data (`RTE_ETH_RX_OFFLOAD_KEEP_CRC`).
    pub const KEEP_CRC: u64 = 1 << 16;
    /// Deliver the RSS hash in each mbuf, flagged `RTE_MBUF_F_RX_RSS_HASH` (`RTE_ETH_RX_OFFLOAD_RSS_HASH`).
    pub const RSS_HASH: u64 = 1 << 19;
}

/// TX offloads (`RTE_ETH_TX_OFFLOAD_*`).
pub mod tx_offload {
    /// Insert the VLAN tag from the mbuf's `vlan_tci` (`RTE_ETH_TX_OFFLOAD_VLAN_INSERT`).
    pub const VLAN_INSERT: u64 = 1 << 0;
    /// Compute IPv4 header checksums (`RTE_ETH_TX_OFFLOAD_IPV4_CKSUM`).
    pub const IPV4_CKSUM: u64 = 1 << 1;
    /// Compute UDP checksums (`RTE_ETH_TX_OFFLOAD_UDP_CKSUM`).
    pub const UDP_CKSUM: u64 = 1 << 2;
    /// Compute TCP checksums (`RTE_ETH_TX_OFFLOAD_TCP_CKSUM`).
    pub const TCP_CKSUM: u64 = 1 << 3;
    /// Segment large TCP packets, TCP segmentation offload (`RTE_ETH_TX_OFFLOAD_TCP_TSO`).
    pub const TCP_TSO: u64 = 1 << 5;
    /// Several threads may send on one TX queue without a lock (`RTE_ETH_TX_OFFLOAD_MT_LOCKFREE`).
    pub const MT_LOCKFREE: u64 = 1 << 14;
    /// Send packets made of several segments (`RTE_ETH_TX_OFFLOAD_MULTI_SEGS`).
    pub const MULTI_SEGS: u64 = 1 << 15;
    /// Free sent mbufs fast: all from one mempool, reference count 1, not indirect (`RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE`).
    pub const MBUF_FAST_FREE: u64 = 1 << 16;
}

/// RSS hash types (`RTE_ETH_RSS_*`).
pub mod rss {
    /// Hash IPv4 packets on their addresses (`RTE_ETH_RSS_IPV4`).
    pub const IPV4: u64 = 1 << 2;
    /// Hash unfragmented IPv4 TCP packets on addresses and ports (`RTE_ETH_RSS_NONFRAG_IPV4_TCP`).
    pub const NONFRAG_IPV4_TCP: u64 = 1 << 4;
    /// Hash unfragmented IPv4 UDP packets on addresses and ports (`RTE_ETH_RSS_NONFRAG_IPV4_UDP`).
    pub const NONFRAG_IPV4_UDP: u64 = 1 << 5;
    /// Hash IPv6 packets on their addresses (`RTE_ETH_RSS_IPV6`).
    pub const IPV6: u64 = 1 << 8;
    /// Hash unfragmented IPv6 TCP packets on addresses and ports (`RTE_ETH_RSS_NONFRAG_IPV6_TCP`).
    pub const NONFRAG_IPV6_TCP: u64 = 1 << 10;
    /// Hash unfragmented IPv6 UDP packets on addresses and ports (`RTE_ETH_RSS_NONFRAG_IPV6_UDP`).
    pub const NONFRAG_IPV6_UDP: u64 = 1 << 11;
    /// [`IPV4`] and [`IPV6`] only: narrower than DPDK's `RTE_ETH_RSS_IP`, which also covers fragments and other IP types.
    pub const IP: u64 = IPV4 | IPV6;
}

/// What `rte_eth_dev_info_get` reports about a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortInfo {
    /// The most RX queues the driver offers (`max_rx_queues`).
    pub max_rx_queues: u16,
    /// The most TX queues the driver offers (`max_tx_queues`).
    pub max_tx_queues: u16,
    /// RX descriptors per queue, `(min, max)` inclusive (`rx_desc_lim.nb_min`, `nb_max`).
    pub rx_desc: (u16, u16),
    /// TX descriptors per queue, `(min, max)` inclusive (`tx_desc_lim.nb_min`, `nb_max`).
    pub tx_desc: (u16, u16),
    /// MTU range in bytes, `(min, max)` inclusive (`min_mtu`, `max_mtu`).
    pub mtu: (u16, u16),
    /// RX offloads the driver offers, [`rx_offload`] bits (`rx_offload_capa`).
    pub rx_offload_capa: u64,
    /// TX offloads the driver offers, [`tx_offload`] bits (`tx_offload_capa`).
    pub tx_offload_capa: u64,
    /// RSS hash types the driver offers, [`rss`] bits (`flow_type_rss_offloads`); 0 without RSS.
    pub rss_offloads: u64,
    /// Entries of the RSS redirection table (`reta_size`); 0 without one.
    pub reta_size: u16,
    /// NUMA socket of the device, `None` when unknown.
    pub socket: Option<u32>,
}

/// What [`Port::configure`] sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortConfig {
    /// Number of RX queues, at most [`PortInfo::max_rx_queues`].
    pub rx_queues: u16,
    /// Number of TX queues, at most [`PortInfo::max_tx_queues`].
    pub tx_queues: u16,
    /// `rx_offload::*` bits; each must be in the driver's capabilities.
    pub rx_offloads: u64,
    /// `tx_offload::*` bits; each must be in the driver's capabilities.
    pub tx_offloads: u64,
    /// RSS over these `rss::*` hash types; `None` for no RSS.
    pub rss: Option<u64>,
    /// MTU; `None` for the driver's default.
    pub mtu: Option<u16>,
}

impl PortConfig {
    /// `rx` and `tx` queues, no offloads, no RSS.
    pub fn new(rx_queues: u16, tx_queues: u16) -> Self {
        PortConfig {
            rx_queues,
            tx_queues,
            ..Default::default()
        }
    }
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The link is up (`link_status == RTE_ETH_LINK_UP`).
    pub up: bool,
    /// Speed in Mbit/s (`link_speed`): 0 (`RTE_ETH_SPEED_NUM_NONE`) or `u32::MAX`
    /// (`RTE_ETH_SPEED_NUM_UNKNOWN`) when not known.
    pub speed_mbps: u32,
    /// Full duplex (`link_duplex == RTE_ETH_LINK_FULL_DUPLEX`), false for half duplex.
    pub full_duplex: bool,
    /// The speed was autonegotiated (`link_autoneg == RTE_ETH_LINK_AUTONEG`).
    pub autoneg: bool,
}

/// Basic port statistics (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    /// Packets received successfully (`ipackets`).
    pub rx_packets: u64,
    /// Packets sent successfully (`opackets`).
    pub tx_packets: u64,
    /// Bytes received successfully (`ibytes`).
    pub rx_bytes: u64,
    /// Bytes sent successfully (`obytes`).
    pub tx_bytes: u64,
    /// Packets the hardware dropped because the RX queues were full (`imissed`).
    pub rx_missed: u64,
    /// Erroneous packets received (`ierrors`).
    pub rx_errors: u64,
    /// Packets that failed to send (`oerrors`).
    pub tx_errors: u64,
    /// RX mbuf allocation failures (`rx_nombuf`).
    pub rx_no_mbuf: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unconfigured,
    Configured,
    Started,
}

/// One ethdev port, owned by this handle. Dropping it stops and closes the port.
pub struct Port<'eal> {
    id: u16,
    state: State,
    closed: bool,
    rx_count: u16,
    tx_count: u16,
    rx_pools: Vec<Option<Mempool<'eal>>>,
    tx_ready: Vec<bool>,
    pub(crate) rx_taken: Box<[AtomicBool]>,
    pub(crate) tx_taken: Box<[AtomicBool]>,
    _eal: PhantomData<&'eal ()>,
}

impl std::fmt::Debug for Port<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("rx_queues", &self.rx_count)
            .field("tx_queues", &self.tx_count)
            .finish()
    }
}

impl<'eal> Port<'eal> {
    /// The handle to port `id`, one per port in the process.
    pub fn take(_eal: &'eal Eal, id: u16) -> Result<Self, PortError> {
        // SAFETY: a query while the EAL runs (the borrow of eal proves it).
        if unsafe { dpdk_sys::dpdk_shim_eth_is_valid(id) } != 1 {
            return Err(PortError::NoSuchPort(id));
        }
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        if taken.contains(&id) {
            return Err(PortError::AlreadyTaken(id));
        }
        taken.push(id);
        Ok(Port {
            id,
            state: State::Unconfigured,
            closed: false,
            rx_count: 0,
            tx_count: 0,
            rx_pools: Vec::new(),
            tx_ready: Vec::new(),
            rx_taken: Box::new([]),
            tx_taken: Box::new([]),
            _eal: PhantomData,
        })
    }

    /// The handle to the port DPDK named `name` (`net_ring0`, a PCI address).
    pub fn by_name(eal: &'eal Eal, name: &str) -> Result<Self, PortError> {
        let c = CString::new(name).map_err(|_| PortError::NoSuchName(name.to_owned()))?;
        let mut id = 0u16;
        // SAFETY: c is NUL-terminated; id is a live u16.
        let ret = unsafe { dpdk_sys::dpdk_shim_eth_port_by_name(c.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(PortError::NoSuchName(name.to_owned()));
        }
        Port::take(eal, id)
    }

    /// Creates a virtual device from vdev arguments (`net_null1,size=64`)
    /// with `rte_dev_probe`, and takes its port.
    pub fn attach_vdev(eal: &'eal Eal, devargs: &str) -> Result<Self, PortError> {
        let c = CString::new(devargs).map_err(|_| PortError::BadDevargs(devargs.to_owned()))?;
        // SAFETY: c is NUL-terminated; DPDK copies what it keeps.
        let ret = unsafe { dpdk_sys::rte_dev_probe(c.as_ptr()) };
        check(u16::MAX, "rte_dev_probe", ret)?;
        let name = devargs.split(',').next().unwrap_or(devargs);
        Port::by_name(eal, name)
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// True between a successful [`start`](Port::start) and [`stop`](Port::stop).
    pub fn is_started(&self) -> bool {
        self.state == State::Started
    }

    /// What the driver reports (`rte_eth_dev_info_get`).
    pub fn info(&self) -> Result<PortInfo, PortError> {
        let mut raw = dpdk_sys::dpdk_shim_eth_info::default();
        // SAFETY: raw is a live struct the shim fills in.
        check(self.id, "rte_eth_dev_info_get", unsafe {
            dpdk_sys::dpdk_shim_eth_info(self.id, &mut raw)
        })?;
        Ok(PortInfo {
            max_rx_queues: raw.max_rx_queues,
            max_tx_queues: raw.max_tx_queues,
            rx_desc: (raw.rx_desc_min, raw.rx_desc_max),
            tx_desc: (raw.tx_desc_min, raw.tx_desc_max),
            mtu: (raw.min_mtu, raw.max_mtu),
            rx_offload_capa: raw.rx_offload_capa,
            tx_offload_capa: raw.tx_offload_capa,
            rss_offloads: raw.flow_type_rss_offloads,
            reta_size: raw.reta_size,
            socket: u32::try_from(raw.socket_id).ok(),
        })
    }

    fn check_offloads(
        &self,
        kind: &'static str,
        requested: u64,
        offered: u64,
    ) -> Result<(), PortError> {
        let missing = requested & !offered;
        if missing == 0 {
            return Ok(());
        }
        let bit = 1u64 << missing.trailing_zeros();
        // SAFETY: DPDK returns a static string for any bit.
        let name = unsafe {
            CStr::from_ptr(dpdk_sys::dpdk_shim_eth_offload_name(
                bit,
                (kind == "TX") as i32,
            ))
        }
        .to_string_lossy()
        .into_owned();
        Err(PortError::OffloadUnsupported {
            port: self.id,
            kind,
            bit,
            name,
        })
    }

    /// Configures queue counts, offloads, RSS and MTU (`rte_eth_dev_configure`).
    /// Refused on a started port, and for what the driver does not offer.
    pub fn configure(&mut self, config: &PortConfig) -> Result<(), PortError> {
        if self.state == State::Started {
            return Err(PortError::Started {
                port: self.id,
                what: "configure",
            });
        }
        let info = self.info()?;
        for (kind, count, max) in [
            ("RX", config.rx_queues, info.max_rx_queues),
            ("TX", config.tx_queues, info.max_tx_queues),
        ] {
            if count > max {
                return Err(PortError::TooManyQueues {
                    port: self.id,
                    kind,
                    count,
                    max,
                });
            }
        }
        self.check_offloads("RX", config.rx_offloads, info.rx_offload_capa)?;
        self.check_offloads("TX", config.tx_offloads, info.tx_offload_capa)?;
        if let Some(hf) = config.rss {
            if hf & !info.rss_offloads != 0 || hf == 0 {
                return Err(PortError::RssUnsupported {
                    port: self.id,
                    requested: hf,
                    offered: info.rss_offloads,
                });
            }
        }
        if let Some(mtu) = config.mtu {
            if mtu < info.mtu.0 || mtu > info.mtu.1 {
                return Err(PortError::BadMtu {
                    port: self.id,
                    mtu,
                    min: info.mtu.0,
                    max: info.mtu.1,
                });
            }
        }
        // SAFETY: plain values; the port is valid and stopped.
        let ret = unsafe {
            dpdk_sys::dpdk_shim_eth_configure(
                self.id,
                config.rx_queues,
                config.tx_queues,
                config.rx_offloads,
                config.tx_offloads,
                config.rss.is_some() as i32,
                config.rss.unwrap_or(0),
                u32::from(config.mtu.unwrap_or(0)),
            )
        };
        check(self.id, "rte_eth_dev_configure", ret)?;
        self.state = State::Configured;
        self.rx_count = config.rx_queues;
        self.tx_count = config.tx_queues;
        self.rx_pools = vec![None; config.rx_queues as usize];
        self.tx_ready = vec![false; config.tx_queues as usize];
        self.rx_taken = (0..config.rx_queues)
            .map(|_| AtomicBool::new(false))
            .collect();
        self.tx_taken = (0..config.tx_queues)
            .map(|_| AtomicBool::new(false))
            .collect();
        Ok(())
    }

    fn check_setup(&self, kind: &'static str, queue: u16, count: u16) -> Result<(), PortError> {
        match self.state {
            State::Unconfigured => {
                return Err(PortError::NotConfigured {
                    port: self.id,
                    what: "queue setup",
                })
            }
            State::Started => {
                return Err(PortError::Started {
                    port: self.id,
                    what: "queue setup",
                })
            }
            State::Configured => {}
        }
        if queue >= count {
            return Err(PortError::QueueOutOfRange {
                port: self.id,
                kind,
                queue,
                count,
            });
        }
        Ok(())
    }

    fn socket_of(&self, socket: Option<u32>) -> u32 {
        // SOCKET_ID_ANY as the unsigned int DPDK's queue setup takes.
        socket.unwrap_or(u32::MAX)
    }

    /// Sets up RX queue `queue` with `nb_desc` descriptors, filled from `pool`
    /// (the port keeps a handle to the pool).
    pub fn setup_rx_queue(
        &mut self,
        queue: u16,
        nb_desc: u16,
        socket: Option<u32>,
        pool: &Mempool<'eal>,
    ) -> Result<(), PortError> {
        self.check_setup("RX", queue, self.rx_count)?;
        let info = self.info()?;
        if nb_desc != 0 && (nb_desc < info.rx_desc.0 || nb_desc > info.rx_desc.1) {
            return Err(PortError::BadDescriptorCount {
                port: self.id,
                nb_desc,
                min: info.rx_desc.0,
                max: info.rx_desc.1,
            });
        }
        // SAFETY: the pool is live and stays so: the port keeps a handle.
        let ret = unsafe {
            dpdk_sys::dpdk_shim_eth_rx_queue_setup(
                self.id,
                queue,
                nb_desc,
                self.socket_of(socket),
                pool.as_ptr(),
            )
        };
        check(self.id, "rte_eth_rx_queue_setup", ret)?;
        self.rx_pools[queue as usize] = Some(pool.clone());
        Ok(())
    }

    /// Sets up TX queue `queue` with `nb_desc` descriptors.
    pub fn setup_tx_queue(
        &mut self,
        queue: u16,
        nb_desc: u16,
        socket: Option<u32>,
    ) -> Result<(), PortError> {
        self.check_setup("TX", queue, self.tx_count)?;
        let info = self.info()?;
        if nb_desc != 0 && (nb_desc < info.tx_desc.0 || nb_desc > info.tx_desc.1) {
            return Err(PortError::BadDescriptorCount {
                port: self.id,
                nb_desc,
                min: info.tx_desc.0,
                max: info.tx_desc.1,
            });
        }
        // SAFETY: plain values on a configured, stopped port.
        let ret = unsafe {
            dpdk_sys::dpdk_shim_eth_tx_queue_setup(self.id, queue, nb_desc, self.socket_of(socket))
        };
        check(self.id, "rte_eth_tx_queue_setup", ret)?;
        self.tx_ready[queue as usize] = true;
        Ok(())
    }

    /// Starts the port; every configured queue must be set up.
    pub fn start(&mut self) -> Result<(), PortError> {
        match self.state {
            State::Unconfigured => {
                return Err(PortError::NotConfigured {
                    port: self.id,
                    what: "start",
                })
            }
            State::Started => return Ok(()),
            State::Configured => {}
        }
        if let Some(q) = self.rx_pools.iter().position(Option::is_none) {
            return Err(PortError::QueueNotSetUp {
                port: self.id,
                kind: "RX",
                queue: q as u16,
            });
        }
        if let Some(q) = self.tx_ready.iter().position(|r| !r) {
            return Err(PortError::QueueNotSetUp {
                port: self.id,
                kind: "TX",
                queue: q as u16,
            });
        }
        // SAFETY: a configured port with every queue set up.
        check(self.id, "rte_eth_dev_start", unsafe {
            dpdk_sys::dpdk_shim_eth_start(self.id)
        })?;
        self.state = State::Started;
        Ok(())
    }

    /// Stops the port. No queue handle can be live (they borrow the port).
    pub fn stop(&mut self) -> Result<(), PortError> {
        if self.state != State::Started {
            return Ok(());
        }
        // SAFETY: &mut self: no queue handle, hence no burst, is live.
        check(self.id, "rte_eth_dev_stop", unsafe {
            dpdk_sys::dpdk_shim_eth_stop(self.id)
        })?;
        self.state = State::Configured;
        Ok(())
    }

    /// Stops and closes the port (`rte_eth_dev_close`), releasing its handle.
    pub fn close(mut self) -> Result<(), PortError> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<(), PortError> {
        if self.closed {
            return Ok(());
        }
        let stopped = self.stop();
        self.closed = true;
        // SAFETY: the port is stopped and no queue handle is live.
        let closed = check(self.id, "rte_eth_dev_close", unsafe {
            dpdk_sys::dpdk_shim_eth_close(self.id)
        });
        stopped.and(closed)
    }

    /// RX queue `queue`'s handle, for one lcore; the port must be started.
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue<'_, 'eal>, PortError> {
        self.take_queue("RX", queue, &self.rx_taken)?;
        Ok(RxQueue::new(self, queue))
    }

    /// TX queue `queue`'s handle, for one lcore; the port must be started.
    pub fn tx_queue(&self, queue: u16) -> Result<TxQueue<'_, 'eal>, PortError> {
        self.take_queue("TX", queue, &self.tx_taken)?;
        Ok(TxQueue::new(self, queue))
    }

    fn take_queue(
        &self,
        kind: &'static str,
        queue: u16,
        taken: &[AtomicBool],
    ) -> Result<(), PortError> {
        if self.state != State::Started {
            return Err(PortError::NotStarted {
                port: self.id,
                what: "taking a queue",
            });
        }
        // Read once here: while a queue handle lives the port stays started
        // (stopping takes `&mut Port`), and DPDK replaces the entry only when
        // the port starts, stops or closes (ethdev_private.c,
        // `eth_dev_fp_ops_setup`/`_reset`); drivers that swap their burst
        // functions while started swap in others, never null.
        // SAFETY: no pointers; any port id is checked against the table's size.
        let present =
            unsafe { dpdk_sys::dpdk_shim_eth_has_burst_function(self.id, (kind == "TX").into()) };
        if present == 0 {
            return Err(PortError::NoBurstFunction {
                port: self.id,
                kind,
            });
        }
        let Some(flag) = taken.get(queue as usize) else {
            return Err(PortError::QueueOutOfRange {
                port: self.id,
                kind,
                queue,
                count: taken.len() as u16,
            });
        };
        if flag.swap(true, Ordering::AcqRel) {
            return Err(PortError::QueueTaken {
                port: self.id,
                kind,
                queue,
            });
        }
        Ok(())
    }

    /// Promiscuous mode on or off.
    pub fn set_promiscuous(&mut self, on: bool) -> Result<(), PortError> {
        // SAFETY: plain values on a valid port.
        check(self.id, "rte_eth_promiscuous_enable/disable", unsafe {
            dpdk_sys::dpdk_shim_eth_promiscuous(self.id, on as i32)
        })
    }

    /// Whether promiscuous mode is on.
    pub fn promiscuous(&self) -> Result<bool, PortError> {
        // SAFETY: a query on a valid port.
        let ret = unsafe { dpdk_sys::dpdk_shim_eth_promiscuous_get(self.id) };
        check(self.id, "rte_eth_promiscuous_get", ret)?;
        Ok(ret == 1)
    }

    /// The RSS redirection table: entry `i` is the RX queue that packets of
    /// hash bucket `i` go to ([`PortInfo::reta_size`] entries).
    pub fn rss_reta(&self) -> Result<Vec<u16>, PortError> {
        let size = self.reta_size()?;
        let mut table = vec![0u16; size as usize];
        // SAFETY: `table` has the `size` entries the shim writes.
        check(self.id, "rte_eth_dev_rss_reta_query", unsafe {
            dpdk_sys::dpdk_shim_eth_reta_query(self.id, table.as_mut_ptr(), size)
        })?;
        Ok(table)
    }

    /// Sets the RSS redirection table (see [`rss_reta`](Self::rss_reta)):
    /// `table` has the driver's [`PortInfo::reta_size`] entries, each an RX
    /// queue the port was configured with.
    pub fn set_rss_reta(&mut self, table: &[u16]) -> Result<(), PortError> {
        let size = self.reta_size()?;
        if table.len() != size as usize {
            return Err(PortError::RetaSize {
                port: self.id,
                len: table.len(),
                size,
            });
        }
        let count = self.rx_taken.len() as u16;
        if let Some(&queue) = table.iter().find(|&&q| q >= count) {
            return Err(PortError::QueueOutOfRange {
                port: self.id,
                kind: "RX",
                queue,
                count,
            });
        }
        // SAFETY: `table` has the `size` entries the shim reads.
        check(self.id, "rte_eth_dev_rss_reta_update", unsafe {
            dpdk_sys::dpdk_shim_eth_reta_update(self.id, table.as_ptr(), size)
        })
    }

    fn reta_size(&self) -> Result<u16, PortError> {
        match self.info()?.reta_size {
            0 => Err(PortError::NoReta { port: self.id }),
            size => Ok(size),
        }
    }

    /// All-multicast mode on or off: every multicast frame received, whatever
    /// the multicast filter holds.
    pub fn set_allmulticast(&mut self, on: bool) -> Result<(), PortError> {
        // SAFETY: plain values on a valid port.
        check(self.id, "rte_eth_allmulticast_enable/disable", unsafe {
            dpdk_sys::dpdk_shim_eth_allmulticast(self.id, on as i32)
        })
    }

    /// Whether all-multicast mode is on.
    pub fn allmulticast(&self) -> Result<bool, PortError> {
        // SAFETY: a query on a valid port.
        let ret = unsafe { dpdk_sys::dpdk_shim_eth_allmulticast_get(self.id) };
        check(self.id, "rte_eth_allmulticast_get", ret)?;
        Ok(ret == 1)
    }

    /// Sets the link up or down administratively (`rte_eth_dev_set_link_up`
    /// / `_down`), as far as the driver can; [`link`](Self::link) then
    /// reports the result. The port stays started.
    pub fn set_link(&mut self, up: bool) -> Result<(), PortError> {
        // SAFETY: plain values on a valid port.
        check(self.id, "rte_eth_dev_set_link_up/down", unsafe {
            dpdk_sys::dpdk_shim_eth_set_link(self.id, up as i32)
        })
    }

    /// The MTU.
    pub fn mtu(&self) -> Result<u16, PortError> {
        let mut mtu = 0u16;
        // SAFETY: mtu is a live u16.
        check(self.id, "rte_eth_dev_get_mtu", unsafe {
            dpdk_sys::dpdk_shim_eth_mtu_get(self.id, &mut mtu)
        })?;
        Ok(mtu)
    }

    /// Sets the MTU, within the driver's range.
    pub fn set_mtu(&mut self, mtu: u16) -> Result<(), PortError> {
        let info = self.info()?;
        if mtu < info.mtu.0 || mtu > info.mtu.1 {
            return Err(PortError::BadMtu {
                port: self.id,
                mtu,
                min: info.mtu.0,
                max: info.mtu.1,
            });
        }
        // SAFETY: plain values on a valid port.
        check(self.id, "rte_eth_dev_set_mtu", unsafe {
            dpdk_sys::dpdk_shim_eth_mtu_set(self.id, mtu)
        })
    }

    /// The default MAC address.
    pub fn mac(&self) -> Result<[u8; 6], PortError> {
        let mut mac = [0u8; 6];
        // SAFETY: mac has the 6 bytes the shim writes.
        check(self.id, "rte_eth_macaddr_get", unsafe {
            dpdk_sys::dpdk_shim_eth_macaddr(self.id, mac.as_mut_ptr())
        })?;
        Ok(mac)
    }

    /// Sets the default MAC address.
    pub fn set_mac(&mut self, mac: [u8; 6]) -> Result<(), PortError> {
        // SAFETY: mac has the 6 bytes the shim reads.
        check(self.id, "rte_eth_dev_default_mac_addr_set", unsafe {
            dpdk_sys::dpdk_shim_eth_macaddr_set(self.id, mac.as_ptr())
        })
    }

    /// The link state now, without waiting.
    pub fn link(&self) -> Result<Link, PortError> {
        let mut raw = dpdk_sys::dpdk_shim_eth_link::default();
        // SAFETY: raw is a live struct the shim fills in.
        check(self.id, "rte_eth_link_get_nowait", unsafe {
            dpdk_sys::dpdk_shim_eth_link(self.id, &mut raw)
        })?;
        Ok(Link {
            up: raw.up != 0,
            speed_mbps: raw.speed_mbps,
            full_duplex: raw.full_duplex != 0,
            autoneg: raw.autoneg != 0,
        })
    }

    /// Waits up to `limit` for the link to come up.
    pub fn wait_link_up(&self, limit: Duration) -> Result<Link, PortError> {
        let start = Instant::now();
        loop {
            let link = self.link()?;
            if link.up {
                return Ok(link);
            }
            if start.elapsed() >= limit {
                return Err(PortError::LinkDown {
                    port: self.id,
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Basic statistics.
    pub fn stats(&self) -> Result<PortStats, PortError> {
        let mut raw = dpdk_sys::dpdk_shim_eth_stats::default();
        // SAFETY: raw is a live struct the shim fills in.
        check(self.id, "rte_eth_stats_get", unsafe {
            dpdk_sys::dpdk_shim_eth_stats(self.id, &mut raw)
        })?;
        Ok(PortStats {
            rx_packets: raw.ipackets,
            tx_packets: raw.opackets,
            rx_bytes: raw.ibytes,
            tx_bytes: raw.obytes,
            rx_missed: raw.imissed,
            rx_errors: raw.ierrors,
            tx_errors: raw.oerrors,
            rx_no_mbuf: raw.rx_nombuf,
        })
    }

    /// Resets basic and extended statistics.
    pub fn reset_stats(&mut self) -> Result<(), PortError> {
        // SAFETY: plain calls on a valid port.
        check(self.id, "rte_eth_stats_reset", unsafe {
            dpdk_sys::dpdk_shim_eth_stats_reset(self.id)
        })?;
        // SAFETY: as above.
        check(self.id, "rte_eth_xstats_reset", unsafe {
            dpdk_sys::dpdk_shim_eth_xstats_reset(self.id)
        })
    }

    /// Every extended statistic, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, PortError> {
        const NAME: usize = 64; // RTE_ETH_XSTATS_NAME_SIZE
                                // SAFETY: a query on a valid port.
        let count = unsafe { dpdk_sys::dpdk_shim_eth_xstats_count(self.id) };
        check(self.id, "rte_eth_xstats_get_names", count)?;
        let n = count as usize;
        let mut names = vec![0 as c_char; n.max(1) * NAME];
        let mut values = vec![0u64; n.max(1)];
        // SAFETY: the buffers hold n names of NAME bytes and n values.
        let got = unsafe {
            dpdk_sys::dpdk_shim_eth_xstats(
                self.id,
                names.as_mut_ptr(),
                values.as_mut_ptr(),
                n as u32,
            )
        };
        check(self.id, "rte_eth_xstats_get", got)?;
        Ok((0..got as usize)
            .map(|i| {
                // SAFETY: the shim NUL-terminates each name within its NAME bytes.
                let name = unsafe { CStr::from_ptr(names[i * NAME..].as_ptr()) };
                (name.to_string_lossy().into_owned(), values[i])
            })
            .collect())
    }

    /// One extended statistic by name.
    pub fn xstat(&self, name: &str) -> Result<u64, PortError> {
        self.xstats()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| PortError::NoSuchXstat {
                port: self.id,
                name: name.to_owned(),
            })
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        let _ = self.close_inner();
        let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
        taken.retain(|&p| p != self.id);
    }
}
