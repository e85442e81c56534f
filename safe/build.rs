//! DPDK version differences, in one place: `dpdk-sys` reports the DPDK it built
//! against (`DEP_DPDK_VERSION`), and this turns it into cfgs for the safe crate.

fn main() {
    let version = std::env::var("DEP_DPDK_VERSION").expect("dpdk-sys sets DEP_DPDK_VERSION");
    println!("cargo:rustc-check-cfg=cfg(dpdk_abi_23)");
    // The hand-declared driver SDK structures of dpdk-sys exist for 22.11 (ABI 23).
    if version.starts_with("22.11") {
        println!("cargo:rustc-cfg=dpdk_abi_23");
    }
    println!("cargo:rerun-if-env-changed=DEP_DPDK_VERSION");
}
