//! The machine flags DPDK's `libdpdk.pc` exports (`-march=corei7` on x86,
//! `-march=armv8-a+crc -moutline-atomics` on Debian's arm64), checked against
//! the target cargo builds for. bindgen's clang and the shim's compiler get
//! every `--cflags` token, so both compile for the machine DPDK was built for;
//! a `libdpdk.pc` of another architecture (a host pkg-config answering for a
//! cross target) would hand x86 flags to an aarch64 compiler, or the other way
//! round, and fail deep inside clang. That is caught here, by name.
//!
//! This file is also compiled into `tests/machine_flags.rs`.

/// The architecture family a machine flag belongs to, if it names one.
fn family_of_flag(flag: &str) -> Option<&'static str> {
    let value = flag
        .strip_prefix("-march=")
        .or_else(|| flag.strip_prefix("-mcpu="))
        .or_else(|| flag.strip_prefix("-mtune="));
    if let Some(value) = value {
        return family_of_cpu(value);
    }
    match flag {
        // AArch64-only code generation options.
        "-moutline-atomics" | "-mno-outline-atomics" => Some("aarch64"),
        // x86-only instruction set extensions DPDK's x86 builds add.
        "-mrtm" | "-msse4.2" | "-msse4.1" | "-mssse3" | "-mpclmul" | "-maes" | "-mavx"
        | "-mavx2" | "-mavx512f" | "-m32" | "-m64" => Some("x86"),
        _ => None,
    }
}

/// The family of a `-march`/`-mcpu`/`-mtune` value; `native` and unknown
/// names belong to none (they are not checked).
fn family_of_cpu(value: &str) -> Option<&'static str> {
    let v = value.to_ascii_lowercase();
    if v.starts_with("armv8")
        || v.starts_with("armv9")
        || v.starts_with("cortex-")
        || v.starts_with("neoverse-")
        || v.starts_with("thunderx")
        || v.starts_with("ampere")
        || v.starts_with("apple-")
        || v == "generic+crc"
    {
        return Some("aarch64");
    }
    const X86: &[&str] = &[
        "x86-64",
        "i386",
        "i486",
        "i586",
        "i686",
        "pentium",
        "core",
        "nehalem",
        "westmere",
        "sandybridge",
        "ivybridge",
        "haswell",
        "broadwell",
        "skylake",
        "icelake",
        "tigerlake",
        "sapphirerapids",
        "alderlake",
        "znver",
        "btver",
        "bdver",
        "atom",
        "silvermont",
        "goldmont",
        "tremont",
        "corei7",
        "x86",
    ];
    if X86.iter().any(|p| v.starts_with(p)) {
        return Some("x86");
    }
    None
}

/// The family of cargo's `CARGO_CFG_TARGET_ARCH`.
pub fn family_of_target(arch: &str) -> Option<&'static str> {
    match arch {
        "x86" | "x86_64" => Some("x86"),
        "aarch64" | "arm64ec" => Some("aarch64"),
        _ => None,
    }
}

/// The flags among `cflags` that name another architecture than `target_arch`.
pub fn foreign_flags(target_arch: &str, cflags: &[String]) -> Vec<String> {
    let Some(target) = family_of_target(target_arch) else {
        return Vec::new();
    };
    cflags
        .iter()
        .filter(|f| family_of_flag(f).is_some_and(|family| family != target))
        .cloned()
        .collect()
}

/// The error shown when [`foreign_flags`] found any.
pub fn foreign_flags_message(target_arch: &str, foreign: &[String]) -> String {
    format!(
        "dpdk-sys: the libdpdk that pkg-config found was built for another architecture than \
         the target ({target_arch}): its cflags say {}.\n  \
         When cross-compiling, point pkg-config at the target's DPDK:\n    \
         PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_SYSROOT_DIR=<target root> \
         PKG_CONFIG_LIBDIR=<target root>/usr/lib/<multiarch>/pkgconfig",
        foreign.join(" ")
    )
}
