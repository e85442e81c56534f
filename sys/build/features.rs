//! What differs between the DPDK releases this crate supports, decided in one
//! place. Everything version-dependent downstream (the cfgs of this crate, the
//! `DEP_DPDK_*` keys the safe crate turns into its own cfgs) comes from here.
//!
//! | feature | 22.11 (ABI 23) | 24.11 (ABI 25) | decided by |
//! |---|---|---|---|
//! | PCI driver structures | by hand | by hand | installed SDK header, else the release list below |
//! | `rte_pci_mmio_read`/`write` | absent | present | the generated bindings |
//! | `rte_vfio_setup_device` and the rest of `rte_vfio_*` in public | present | present | the generated bindings (internal from 26.11) |
//! | EAL options parsed by `rte_argparse`, which exits the process on a bad one | no (getopt) | no (getopt) | the version: 25.11 and later |
//! | RX/TX bursts and single mbuf alloc/free written in Rust over `rte_eth_fp_ops` and the mempool cache (else one shim call each) | yes | no (the shim, until 24.11's tables have been through CI) | the fast-path bindings, the header configuration, the release list below |

use std::path::Path;

/// Releases the hand-written structures in `src/pci_driver_sdk.rs` are used
/// for. 22.11's layouts are compared field by field with the headers of
/// Debian's source package on every CI run (`tests/driver_layout.rs`, x86_64
/// and i686). 24.11's headers do not reach CI (Debian serves no 24.11 source
/// package to it, and its libdpdk-dev installs no driver SDK header): 24.11 is
/// checked by behaviour only (the driver tests in the Debian 13 tree and in
/// the VM read these structures as 24.11 fills them in), and by the header
/// comparison where `DPDK_RS_SDK_INCLUDE_24_11` points at its headers.
const HAND_DRIVER_STRUCTS: &[&str] = &["22.11", "24.11", "25.11"];

/// Releases whose inline fast-path functions were read and found to do, with
/// debug checks, statistics, fast-path traces and mbuf history off, what
/// `dpdk::eth`'s Rust fast path (`safe/src/eth/fast_path.rs`) does:
/// `rte_eth_rx_burst`/`rte_eth_tx_burst` index `rte_eth_fp_ops` by port and
/// the queue's data by queue, call the driver's burst function and run the
/// queue's callbacks when one is installed (RX after the driver, TX before);
/// `rte_pktmbuf_alloc` with an object in the calling lcore's mempool cache
/// pops it (`cache->objs[--cache->len]`) and resets the mbuf field by field;
/// `rte_pktmbuf_free` of one direct, unshared segment pushes it onto that
/// cache while it is below its flush threshold. Everything else goes to
/// DPDK's own functions. A release not listed keeps the shim and bindgen's
/// wrappers until its bodies are read. (25.11 reorders
/// `rte_pktmbuf_prefree_seg` and adds an mbuf-history mark that is compiled
/// out without `RTE_MBUF_HISTORY_DEBUG`; for one direct, unshared segment it
/// does what 22.11 does.)
const RUST_FAST_PATH_RELEASES: &[&str] = &["22.11", "24.11", "25.11"];

/// Where the PCI driver structures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverStructs {
    /// bindgen on the installed driver SDK header (`-Denable_driver_sdk=true`).
    Generated,
    /// `src/pci_driver_sdk.rs`, for a release listed in `HAND_DRIVER_STRUCTS`.
    ByHand,
    /// Neither: Rust PCI drivers are not available.
    Unavailable,
}

impl DriverStructs {
    fn as_str(self) -> &'static str {
        match self {
            DriverStructs::Generated => "generated",
            DriverStructs::ByHand => "by-hand",
            DriverStructs::Unavailable => "unavailable",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub driver_structs: DriverStructs,
    /// `rte_pci_mmio_read`/`rte_pci_mmio_write` (DPDK 23.07 and later).
    pub pci_mmio: bool,
    /// `rte_vfio_setup_device` and its siblings are public (up to 26.07).
    /// `DPDK_RS_PRETEND_NO_RTE_VFIO=1` says they are not, so that the build
    /// without them is checked on every DPDK line.
    pub rte_vfio: bool,
    /// The EAL parses its options with `rte_argparse`, set to exit the process
    /// on an error (DPDK 25.11 and later, `eal_common_options.c`). No header
    /// says so (the option table is in an uninstalled one), so the version does.
    pub eal_argparse: bool,
    /// The safe crate's RX/TX bursts and single mbuf alloc/free are written
    /// in Rust (over `rte_eth_fp_ops`, `eth_fast_path` in this crate, and the
    /// mempool cache), not through the shim. `DPDK_RS_ETH_BURST_SHIM=1` keeps
    /// the shim, so that path can be checked too.
    pub eth_fast_path: bool,
}

impl Features {
    /// `version` is DPDK's `YY.MM[.patch]`; `bindings` the generated bindings file.
    pub fn detect(
        version: &str,
        has_sdk_header: bool,
        bindings: &Path,
        fast_path_bindings: &Path,
    ) -> Features {
        let release = version.split('.').take(2).collect::<Vec<_>>().join(".");
        let driver_structs = if has_sdk_header {
            DriverStructs::Generated
        } else if HAND_DRIVER_STRUCTS.contains(&release.as_str()) {
            DriverStructs::ByHand
        } else {
            DriverStructs::Unavailable
        };
        // By content, not by version number: a backport or a distribution patch
        // that adds the calls is picked up too.
        let text = std::fs::read_to_string(bindings).unwrap_or_default();
        let pci_mmio = text.contains("pub fn rte_pci_mmio_read(")
            && text.contains("pub fn rte_pci_mmio_write(");
        let pretend_none =
            std::env::var_os("DPDK_RS_PRETEND_NO_RTE_VFIO").is_some_and(|v| v == "1");
        let rte_vfio = text.contains("pub fn rte_vfio_setup_device(")
            && text.contains("pub fn rte_vfio_release_device(")
            && !pretend_none;
        let eal_argparse =
            crate::probe::parse_version(version).is_some_and(|(y, m, _)| (y, m) >= (25, 11));
        let fast_path = std::fs::read_to_string(fast_path_bindings).unwrap_or_default();
        let force_shim = std::env::var_os("DPDK_RS_ETH_BURST_SHIM").is_some_and(|v| v == "1");
        let eth_fast_path = RUST_FAST_PATH_RELEASES.contains(&release.as_str())
            && fast_path.contains("pub static mut rte_eth_fp_ops:")
            && [
                "pub rxq:",
                "pub txq:",
                "pub rx_pkt_burst:",
                "pub tx_pkt_burst:",
            ]
            .iter()
            .all(|field| fast_path.contains(field))
            && fast_path.contains("pub const DPDK_RS_FP_DEBUG_HOOKS: u32 = 0;")
            && !force_shim;
        Features {
            driver_structs,
            pci_mmio,
            rte_vfio,
            eal_argparse,
            eth_fast_path,
        }
    }

    /// cfgs for this crate, metadata for dependants (`DEP_DPDK_DRIVER_STRUCTS`,
    /// `DEP_DPDK_PCI_MMIO`, `DEP_DPDK_RTE_VFIO`, `DEP_DPDK_EAL_ARGPARSE`,
    /// `DEP_DPDK_ETH_FAST_PATH`).
    pub fn emit(&self) {
        println!("cargo:rustc-check-cfg=cfg(dpdk_hand_driver_structs)");
        println!("cargo:rustc-check-cfg=cfg(dpdk_driver_sdk_bindgen)");
        println!("cargo:rustc-check-cfg=cfg(dpdk_pci_mmio)");
        println!("cargo:rustc-check-cfg=cfg(dpdk_eth_fast_path)");
        if self.eth_fast_path {
            println!("cargo:rustc-cfg=dpdk_eth_fast_path");
        }
        match self.driver_structs {
            DriverStructs::Generated => println!("cargo:rustc-cfg=dpdk_driver_sdk_bindgen"),
            DriverStructs::ByHand => println!("cargo:rustc-cfg=dpdk_hand_driver_structs"),
            DriverStructs::Unavailable => {}
        }
        if self.pci_mmio {
            println!("cargo:rustc-cfg=dpdk_pci_mmio");
        }
        println!("cargo:driver_structs={}", self.driver_structs.as_str());
        println!("cargo:pci_mmio={}", self.pci_mmio);
        println!("cargo:rte_vfio={}", self.rte_vfio);
        println!("cargo:eal_argparse={}", self.eal_argparse);
        println!("cargo:eth_fast_path={}", self.eth_fast_path);
        println!("cargo:rerun-if-env-changed=DPDK_RS_ETH_BURST_SHIM");
        println!("cargo:rerun-if-env-changed=DPDK_RS_PRETEND_NO_RTE_VFIO");
    }
}
