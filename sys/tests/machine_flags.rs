//! The build script's check of DPDK's machine flags against the target, on the
//! flags Debian's libdpdk.pc files export (amd64, i386, arm64).

#[path = "../build/machine.rs"]
mod machine;

fn flags(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

const AMD64: &str =
    "-I/usr/include/dpdk -include rte_config.h -march=corei7 -mrtm -I/usr/include/libnl3";
const ARM64: &str =
    "-I/usr/include/dpdk -include rte_config.h -march=armv8-a+crc -moutline-atomics";

#[test]
fn each_architecture_accepts_its_own_flags() {
    assert!(machine::foreign_flags("x86_64", &flags(AMD64)).is_empty());
    assert!(machine::foreign_flags("x86", &flags(AMD64)).is_empty());
    assert!(machine::foreign_flags("aarch64", &flags(ARM64)).is_empty());
}

#[test]
fn another_architectures_flags_are_named() {
    assert_eq!(
        machine::foreign_flags("aarch64", &flags(AMD64)),
        ["-march=corei7", "-mrtm"]
    );
    assert_eq!(
        machine::foreign_flags("x86_64", &flags(ARM64)),
        ["-march=armv8-a+crc", "-moutline-atomics"]
    );
    let message = machine::foreign_flags_message("aarch64", &["-march=corei7".to_owned()]);
    assert!(
        message.contains("another architecture than the target (aarch64)"),
        "{message}"
    );
    assert!(message.contains("-march=corei7"), "{message}");
    assert!(message.contains("PKG_CONFIG_SYSROOT_DIR"), "{message}");
}

#[test]
fn unknown_architectures_and_flags_are_not_judged() {
    assert!(machine::foreign_flags("riscv64", &flags(AMD64)).is_empty());
    assert!(machine::foreign_flags("aarch64", &flags("-march=native -O2 -g")).is_empty());
}
