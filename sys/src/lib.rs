//! Raw FFI bindings to DPDK's EAL and VFIO PCI bus.
//!
//! The declarations are generated at build time by bindgen from the headers of the
//! DPDK that pkg-config finds (`libdpdk`, 22.11 or newer), so they always match the
//! installed library. Everything here is `unsafe` and mirrors C one to one; the
//! `dpdk-safe` crate builds the safe API on top.
//!
//! # What the build script does, and why
//!
//! * **pkg-config.** `libdpdk.pc` gives the include directories, the libraries and two
//!   flags that matter: `-include rte_config.h` (every DPDK header assumes it) and a
//!   `-march` flag. The build script passes every `--cflags` token to both clang
//!   (for bindgen) and the C compiler (for the shim), so both see the same types.
//!   `PKG_CONFIG_PATH`, `PKG_CONFIG_LIBDIR` and `PKG_CONFIG_SYSROOT_DIR` select another
//!   DPDK or a cross sysroot. The metadata `DEP_DPDK_VERSION`, `DEP_DPDK_INCLUDE`,
//!   `DEP_DPDK_LIBDIR`, `DEP_DPDK_ORIGIN` (`distribution` or `custom-prefix`) and
//!   `DEP_DPDK_DRIVER_SDK` reach the build scripts of direct dependants.
//! * **Allowlists.** bindgen is told to keep `rte_*` functions and types, `vfio_*`
//!   types and `RTE_*`/`VFIO_*`/`PCI_*` constants, plus whatever those need. Without
//!   the lists the module would redeclare most of libc and the kernel headers.
//! * **`-D_FILE_OFFSET_BITS=64` on 32-bit targets.** DPDK's own build compiles every
//!   file with it, so `off_t` inside the library is 64 bits wide on i686 too, but
//!   `libdpdk.pc` does not export the flag. Without it, bindgen would declare
//!   `off_t` as a 32-bit `c_long` and every call to `rte_pci_read_config()`,
//!   `rte_pci_write_config()` or `rte_pci_ioport_read()` would pass a wrong
//!   offset: the 2015 VFIO offset bug in a new place. The build script adds the
//!   define for bindgen and for the shim; [`off_t`] is therefore `i64` everywhere,
//!   and a test compares it with what the library's imports prove.
//! * **The shim.** DPDK declares part of its API as `static inline` functions
//!   (`rte_lcore_id()`, `rte_rdtsc()`, ...), which have no symbol to link to.
//!   bindgen's `wrap_static_fns` writes a C wrapper for each one in the allowlist,
//!   and `cc` compiles those wrappers, so they appear here as ordinary functions.
//!   What bindgen cannot wrap is written by hand in `src/shim.c`: the per-lcore
//!   variable `rte_errno` ([`dpdk_shim_errno_get`], [`dpdk_shim_errno_set`]), the
//!   `RTE_VERSION` macro and the VFIO ioctl numbers, which are function-like macros.
//!   `RTE_DEV_FOREACH` is a macro over [`rte_dev_iterator_init`] and
//!   [`rte_dev_iterator_next`], which are real functions and bound directly.
//! * **Linking.** By default the shared libraries of `pkg-config --libs libdpdk`
//!   plus the PCI and vdev bus libraries (DPDK counts buses among the drivers and
//!   leaves them out of the public link line). With the `static` feature, the
//!   archives DPDK lists between `--whole-archive` and `--no-whole-archive` are
//!   linked whole: drivers register from constructors that nothing references,
//!   and a plain static link would drop every one of them.
//! * **Driver SDK structures.** Where `bus_pci_driver.h` is installed (a DPDK
//!   built with `-Denable_driver_sdk=true`), bindgen generates the few internal
//!   structures a PCI driver needs from it. Distributions do not install it, so
//!   for DPDK 22.11 (ABI 23) they are declared by hand in `pci_driver_sdk`; a
//!   test compares their layout with the real headers.
//! * **Documentation without DPDK.** With `DOCS_RS` set (docs.rs builds with
//!   no DPDK installed) nothing is probed, generated or linked: the build uses
//!   `pregenerated/bindings.rs`, which this build script wrote for Debian 12's
//!   DPDK 22.11 on x86_64. `tests/pregenerated.rs` compares it with a fresh
//!   generation on every test run, so it cannot drift from the generator.
//! * **Re-runs.** The script re-runs when its own files, the shim, `rte_version.h`
//!   (rewritten by every DPDK upgrade) or the pkg-config and libclang variables
//!   change, and not otherwise.

#![allow(non_upper_case_globals, non_camel_case_types, non_snake_case)]

/// What bindgen generated: C declarations one to one, documented in DPDK's
/// headers (their comments are carried over), so the workspace's lints on
/// docs and unsafe blocks do not apply to it.
#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    rustdoc::all,
    unnecessary_transmutes,
    missing_docs,
    unsafe_op_in_unsafe_fn
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}
pub use generated::*;

/// Raw pointers to the fields of [`rte_mbuf`], whatever anonymous unions the
/// installed release wraps them in (written by the build script from the
/// bindings: `build/mbuf_fields.rs`).
pub mod mbuf_fields {
    include!(concat!(env!("OUT_DIR"), "/mbuf_fields.rs"));
}

#[cfg(any(dpdk_hand_driver_structs, dpdk_driver_sdk_bindgen))]
pub mod pci_driver_sdk;

/// rte_ethdev.h's fast-path table, `rte_eth_fp_ops[port]`, its type and the
/// callback runners `rte_eth_call_rx_callbacks`/`rte_eth_call_tx_callbacks`,
/// generated from the installed headers apart from the main bindings (which
/// leave rte_ethdev.h out). Present where the build script found the table in
/// a release whose inline bursts the safe crate repeats in Rust
/// (`build/features.rs`). `DPDK_RS_FP_RXTX_CALLBACKS` is 1 where DPDK was
/// configured to run per-queue callbacks in the bursts.
#[cfg(dpdk_eth_fast_path)]
#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    rustdoc::all,
    missing_docs,
    unused_imports
)]
pub mod eth_fast_path {
    use crate::*;
    include!(concat!(env!("OUT_DIR"), "/eth_fast_path.rs"));
}
