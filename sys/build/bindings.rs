//! Generating the Rust declarations with bindgen and building the C shim with cc.

use std::env;
use std::fmt;
use std::panic;
use std::path::Path;

use crate::probe::Dpdk;
use crate::Target;

#[derive(Debug)]
pub enum BindingsError {
    /// bindgen could not load libclang.
    NoLibclang(String),
    /// clang failed on the headers.
    Clang(String),
    Io(String),
}

impl fmt::Display for BindingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindingsError::NoLibclang(detail) => write!(
                f,
                "dpdk-sys: bindgen could not load libclang, which it needs to read DPDK's headers.\n  \
                 Install it:\n    Debian, Ubuntu: apt install libclang-dev clang\n    \
                 Fedora, RHEL:   dnf install clang-devel\n  \
                 or set LIBCLANG_PATH to the directory holding libclang.so.\n  ({})",
                detail.trim()
            ),
            BindingsError::Clang(detail) => write!(
                f,
                "dpdk-sys: clang could not parse DPDK's headers: {}",
                detail.trim()
            ),
            BindingsError::Io(detail) => write!(f, "dpdk-sys: {detail}"),
        }
    }
}

/// Flags shared by bindgen (clang) and the C compiler, so both see the same types.
fn common_c_flags(dpdk: &Dpdk, target: &Target) -> Vec<String> {
    let mut flags: Vec<String> = dpdk.cflags.clone();
    flags.extend(target.large_file_defines().iter().map(|s| s.to_string()));
    // The shim and the wrappers may call functions DPDK marks experimental.
    flags.push("-DALLOW_EXPERIMENTAL_API".to_owned());
    if target.is_cross() {
        if let Some(root) = env::var_os("PKG_CONFIG_SYSROOT_DIR").filter(|r| !r.is_empty()) {
            flags.push(format!("--sysroot={}", Path::new(&root).display()));
        }
    }
    flags
}

pub fn generate(
    dpdk: &Dpdk,
    target: &Target,
    manifest_dir: &Path,
    out_dir: &Path,
) -> Result<(), BindingsError> {
    let header = manifest_dir.join("src/shim.h");
    let static_fns = out_dir.join("static_fns");
    let mut clang_args = common_c_flags(dpdk, target);
    clang_args.push(format!("--target={}", target.triple));
    clang_args.push(format!("-I{}", manifest_dir.join("src").display()));

    let builder = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_args(&clang_args)
        // What the listed headers declare, not all of libc.
        .allowlist_function("rte_.*|dpdk_shim_.*")
        .allowlist_type("rte_.*|vfio_.*")
        .allowlist_var("RTE_.*|VFIO_.*|PCI_.*")
        // Per-lcore variables are thread-local; Rust reaches them through the shim.
        .blocklist_item("per_lcore_.*")
        .allowlist_recursively(true)
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .merge_extern_blocks(true)
        .wrap_static_fns(true)
        .wrap_static_fns_path(&static_fns)
        .parse_callbacks(Box::new(
            bindgen::CargoCallbacks::new().rerun_on_header_files(false),
        ));

    // bindgen panics when libclang cannot be loaded; turn that into our message.
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(move || builder.generate()));
    panic::set_hook(previous_hook);
    let bindings = match result {
        Ok(Ok(bindings)) => bindings,
        Ok(Err(err)) => return Err(BindingsError::Clang(err.to_string())),
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "bindgen panicked".to_owned());
            return Err(if text.contains("libclang") {
                BindingsError::NoLibclang(text)
            } else {
                BindingsError::Clang(text)
            });
        }
    };
    let bindings_rs = out_dir.join("bindings.rs");
    bindings
        .write_to_file(&bindings_rs)
        .map_err(|e| BindingsError::Io(format!("writing {}: {e}", bindings_rs.display())))?;

    // The shim, plus bindgen's wrappers of the static inline functions.
    let mut build = cc::Build::new();
    build
        .file(manifest_dir.join("src/shim.c"))
        .file(static_fns.with_extension("c"))
        .include(manifest_dir.join("src"))
        .include(manifest_dir)
        .warnings(false);
    for flag in common_c_flags(dpdk, target) {
        build.flag(&flag);
    }
    build
        .try_compile("dpdk_shim")
        .map_err(|e| BindingsError::Clang(format!("compiling the C shim: {e}")))?;
    Ok(())
}

/// Bindings for the driver SDK's PCI structures, from an installed
/// `bus_pci_driver.h`; the types the main bindings already have are reused.
pub fn generate_driver_sdk(
    dpdk: &Dpdk,
    target: &Target,
    header: &Path,
    out_dir: &Path,
) -> Result<(), BindingsError> {
    let mut clang_args = common_c_flags(dpdk, target);
    clang_args.push(format!("--target={}", target.triple));
    clang_args.push("-DALLOW_INTERNAL_API".to_owned());
    let bindings = bindgen::Builder::default()
        .header_contents("sdk.h", &format!("#include <rte_bus_pci.h>\n#include \"{}\"\n", header.display()))
        .clang_args(&clang_args)
        .allowlist_type("rte_pci_device|rte_pci_driver|rte_device|rte_driver")
        .allowlist_function("rte_pci_register|rte_pci_unregister")
        .blocklist_type("rte_pci_addr|rte_pci_id|rte_mem_resource|rte_intr_handle|rte_devargs|rte_bus|rte_pci_kernel_driver")
        .raw_line("use crate::{rte_bus, rte_devargs, rte_intr_handle, rte_mem_resource, rte_pci_addr, rte_pci_id};")
        .raw_line("#[allow(non_camel_case_types)] pub type rte_pci_kernel_driver = u32;")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .map_err(|e| BindingsError::Clang(format!("driver SDK header {}: {e}", header.display())))?;
    let path = out_dir.join("pci_driver_sdk.rs");
    bindings
        .write_to_file(&path)
        .map_err(|e| BindingsError::Io(format!("writing {}: {e}", path.display())))
}

/// The ethdev fast-path table (`rte_eth_fp_ops`, rte_ethdev_core.h) and the
/// two callback runners the inline bursts call, so the safe crate can write
/// `rte_eth_rx_burst`/`rte_eth_tx_burst` in Rust instead of calling the shim
/// once per burst. Only these items are kept: the rest of rte_ethdev.h stays
/// out (see shim.h). Two constants say how the installed headers were
/// configured: `DPDK_RS_FP_RXTX_CALLBACKS` (the bursts run per-queue
/// callbacks) and `DPDK_RS_FP_DEBUG_HOOKS` (debug checks, statistics,
/// fast-path trace points or mbuf history are compiled into the inline
/// bursts or the inline mbuf and mempool functions, which the Rust fast path
/// does not repeat; the build then keeps the shim and bindgen's wrappers).
pub fn generate_eth_fast_path(
    dpdk: &Dpdk,
    target: &Target,
    out_dir: &Path,
) -> Result<(), BindingsError> {
    let mut clang_args = common_c_flags(dpdk, target);
    clang_args.push(format!("--target={}", target.triple));
    let header = "#include <rte_ethdev.h>\n\
        #ifdef RTE_ETHDEV_RXTX_CALLBACKS\n#define DPDK_RS_FP_RXTX_CALLBACKS 1\n\
        #else\n#define DPDK_RS_FP_RXTX_CALLBACKS 0\n#endif\n\
        #if defined(RTE_ETHDEV_DEBUG_RX) || defined(RTE_ETHDEV_DEBUG_TX) || \
        defined(RTE_ENABLE_TRACE_FP) || defined(RTE_MBUF_HISTORY_DEBUG) || \
        defined(RTE_LIBRTE_MBUF_DEBUG) || defined(RTE_LIBRTE_MEMPOOL_DEBUG) || \
        defined(RTE_LIBRTE_MEMPOOL_STATS)\n\
        #define DPDK_RS_FP_DEBUG_HOOKS 1\n#else\n#define DPDK_RS_FP_DEBUG_HOOKS 0\n#endif\n";
    let bindings = bindgen::Builder::default()
        .header_contents("eth_fast_path.h", header)
        .clang_args(&clang_args)
        // The table, its members' types, and nothing they reach beyond that
        // (rte_mbuf, rte_mempool): those are the main bindings', which the
        // including module imports.
        .allowlist_type("rte_eth_fp_ops|rte_ethdev_qdata|eth_[a-z_]+_t|rte_eth_recycle_rxq_info")
        .allowlist_var("rte_eth_fp_ops|DPDK_RS_FP_.*")
        .allowlist_function("rte_eth_call_rx_callbacks|rte_eth_call_tx_callbacks")
        .allowlist_recursively(false)
        .derive_default(true)
        .layout_tests(true)
        .generate_comments(false)
        .generate()
        .map_err(|e| BindingsError::Clang(format!("rte_ethdev.h's fast-path table: {e}")))?;
    let path = out_dir.join("eth_fast_path.rs");
    bindings
        .write_to_file(&path)
        .map_err(|e| BindingsError::Io(format!("writing {}: {e}", path.display())))
}
