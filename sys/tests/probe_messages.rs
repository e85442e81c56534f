//! The build script's messages when DPDK is missing or too old, produced by the
//! build script's own code against the real pkg-config.

#[path = "../build/probe.rs"]
#[allow(dead_code)]
mod probe;

use std::fs;
use std::path::Path;

fn with_pkg_config_dir<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    // SAFETY-free: env changes in this single-test binary, no other threads read them.
    std::env::set_var("PKG_CONFIG_LIBDIR", dir);
    std::env::set_var("PKG_CONFIG_PATH", dir);
    let out = f();
    std::env::remove_var("PKG_CONFIG_LIBDIR");
    std::env::remove_var("PKG_CONFIG_PATH");
    out
}

#[test]
fn missing_and_old_dpdk_give_one_clear_message() {
    let dir = std::env::temp_dir().join(format!("dpdk-sys-probe-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();

    // No libdpdk.pc anywhere pkg-config looks.
    let missing = with_pkg_config_dir(&dir, || probe::find_dpdk(false)).unwrap_err();
    let text = missing.to_string();
    assert!(
        matches!(missing, probe::ProbeError::NotFound(_)),
        "{missing:?}"
    );
    for needle in ["libdpdk-dev", "dpdk-devel", "PKG_CONFIG_PATH", "22.11"] {
        assert!(text.contains(needle), "message lacks {needle}: {text}");
    }

    // A DPDK older than 22.11.
    fs::write(
        dir.join("libdpdk.pc"),
        "prefix=/opt/old\nName: DPDK\nDescription: old\nVersion: 21.11.2\nLibs: -lrte_eal\nCflags: -I/opt/old/include\n",
    )
    .unwrap();
    let old = with_pkg_config_dir(&dir, || probe::find_dpdk(false)).unwrap_err();
    let text = old.to_string();
    assert!(
        matches!(old, probe::ProbeError::TooOld(ref v) if v == "21.11.2"),
        "{old:?}"
    );
    assert!(
        text.contains("DPDK 21.11.2 was found") && text.contains("libdpdk-dev"),
        "{text}"
    );

    // Cross-compiling without pkg-config's cross variables.
    std::env::remove_var("PKG_CONFIG_ALLOW_CROSS");
    let cross = probe::find_dpdk(true).unwrap_err();
    assert!(
        cross.to_string().contains("PKG_CONFIG_SYSROOT_DIR"),
        "{cross}"
    );

    // A custom prefix is found through PKG_CONFIG_PATH and reported as such.
    fs::write(
        dir.join("libdpdk.pc"),
        "prefix=/opt/dpdk\nName: DPDK\nDescription: new\nVersion: 24.11.1\nLibs: -L/opt/dpdk/lib -lrte_eal\nCflags: -I/opt/dpdk/include -include rte_config.h\n",
    )
    .unwrap();
    let found = with_pkg_config_dir(&dir, || probe::find_dpdk(false)).unwrap();
    assert_eq!(found.version, "24.11.1");
    assert_eq!(found.version_number(), 241101);
    assert_eq!(found.origin, probe::Origin::CustomPrefix);
    assert!(
        found.cflags.iter().any(|f| f == "rte_config.h"),
        "{:?}",
        found.cflags
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn version_parsing() {
    assert_eq!(probe::parse_version("22.11.11"), Some((22, 11, 11)));
    assert_eq!(probe::parse_version("24.11"), Some((24, 11, 0)));
    assert_eq!(probe::parse_version("23.07.0-rc2"), Some((23, 7, 0)));
    assert_eq!(probe::parse_version("x.y"), None);
    assert_eq!(probe::parse_version(""), None);
}
