//! Every example behaves like a command-line tool: `--help` prints its usage
//! on standard output and exits 0; a bad argument is reported on standard
//! error, prefixed with the program's name, with a non-zero status and
//! nothing on standard output. The bad arguments are refused before the EAL
//! starts, so no run here reaches a PCI bus.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(name: &str, args: &[&str]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let path: PathBuf = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} not built", path.display());
    Command::new(path)
        .args(args)
        // Even if an argument slipped through, DPDK would see only this empty tree.
        .env(
            "SYSFS_PCI_DEVICES",
            std::env::temp_dir().join("dpdk-rs-empty-pci-tree"),
        )
        .output()
        .unwrap()
}

/// Each example with arguments it must refuse before starting the EAL.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("bar", &["read", "not-an-address", "0", "0"]),
    ("bar_report", &["not-an-address"]),
    ("driver", &[]),
    ("edu", &["not-an-address"]),
    ("probe", &[]),
    ("devbind", &["--frobnicate"]),
];

#[test]
fn help_prints_usage_and_exits_0() {
    std::fs::create_dir_all(std::env::temp_dir().join("dpdk-rs-empty-pci-tree")).unwrap();
    for (name, _) in EXAMPLES {
        // `-h` is the same branch; valgrind (tools/memcheck.sh) runs each process.
        let out = run(name, &["--help"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} --help: {:?}", out.status);
        assert!(
            stdout.starts_with(&format!("usage: {name}")),
            "{name} --help: {stdout}"
        );
        assert!(out.stderr.is_empty(), "{name} --help");
    }
}

#[test]
fn bad_arguments_go_to_stderr_with_a_failure_status() {
    std::fs::create_dir_all(std::env::temp_dir().join("dpdk-rs-empty-pci-tree")).unwrap();
    for (name, bad) in EXAMPLES {
        let out = run(name, bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} {bad:?} succeeded");
        assert!(
            out.stdout.is_empty(),
            "{name} {bad:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.starts_with(&format!("{name}: ")),
            "{name} {bad:?}: {stderr}"
        );
    }
}
