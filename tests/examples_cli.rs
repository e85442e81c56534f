//! Every example behaves like a command-line tool, with one option style:
//! long options (`--name VALUE` or `--name=VALUE`), `-h` the only short one,
//! operands positional, the EAL's arguments after `--`. `--help` prints the
//! usage on standard output and exits 0; a bad command line is reported on
//! standard error, prefixed with the program's name and followed by the
//! usage, with status 2 and nothing on standard output (a failure at run time
//! exits 1). The bad arguments are refused before the EAL starts, so no run
//! here reaches a PCI bus.

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
    ("devbind", &["--frobnicate"]),
    ("driver", &[]),
    ("edu", &["not-an-address"]),
    ("l2fwd", &["--seconds", "soon", "--", "--no-pci"]),
    ("nvme", &["check-image"]),
    ("pktgen", &["--size", "20", "--", "--no-pci"]),
    ("probe", &[]),
];

/// Every example's source file is in the table above.
#[test]
fn the_table_covers_every_example() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    found.sort();
    let listed: Vec<&str> = EXAMPLES.iter().map(|(name, _)| *name).collect();
    assert_eq!(found, listed);
}

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
        assert_eq!(out.status.code(), Some(2), "{name} {bad:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("{name}: ")),
            "{name} {bad:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("\nusage: {name}"))
                && stderr.contains(&format!("{name} --help")),
            "{name} {bad:?}: {stderr}"
        );
    }
}

/// The same options everywhere: unknown ones, one-letter ones other than
/// `-h`, and an option's missing value are usage errors.
#[test]
fn unknown_short_and_valueless_options_are_usage_errors() {
    std::fs::create_dir_all(std::env::temp_dir().join("dpdk-rs-empty-pci-tree")).unwrap();
    for (name, _) in EXAMPLES {
        for bad in [&["--no-such-option"][..], &["-x"]] {
            let out = run(name, bad);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {bad:?}: {stderr}");
            assert!(
                stderr.contains("invalid option"),
                "{name} {bad:?}: {stderr}"
            );
        }
    }
    for (name, option) in [
        ("bar", "--width"),
        ("devbind", "--bind"),
        ("devbind", "--sysfs"),
        ("l2fwd", "--seconds"),
        ("nvme", "--write-lba"),
        ("pktgen", "--count"),
        ("probe", "--allow"),
    ] {
        let out = run(name, &[option]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {option}: {stderr}");
        assert!(
            stderr.contains(&format!("missing argument for option '{option}'")),
            "{name} {option}: {stderr}"
        );
    }
}

/// `--name=VALUE` is the same as `--name VALUE`: the value reaches the
/// example's own check.
#[test]
fn option_values_may_follow_an_equals_sign() {
    std::fs::create_dir_all(std::env::temp_dir().join("dpdk-rs-empty-pci-tree")).unwrap();
    for (name, args, message) in [
        (
            "bar",
            &["read", "0000:00:03.0", "0", "0", "--width=12"][..],
            "width \"12\" is not 8, 16, 32 or 64",
        ),
        ("pktgen", &["--size=2000"], "--size 2000 outside 60..=1514"),
        (
            "pktgen",
            &["--linger=-1"],
            "--linger -1 is not a number of seconds",
        ),
        (
            "probe",
            &["--allow=0000:00:100.0"],
            "the device 0x100 is more than 0xff",
        ),
    ] {
        let out = run(name, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {stderr}");
        assert!(stderr.contains(message), "{name} {args:?}: {stderr}");
    }
}
