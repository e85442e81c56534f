//! Runs the examples the way a user would, against fake sysfs trees.
//! `cargo test` builds the examples next to the test binaries.

use std::path::PathBuf;
use std::process::Command;

use dpdk::testing::{FakeDevice, FakePciTree, FLAGS_IO, FLAGS_MEM32, FLAGS_MEM64_PREFETCH};
use dpdk::BarIndex;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// The `probe` example's run over a fake tree.
fn probe_over(tree: &FakePciTree) -> std::process::Output {
    Command::new(example("probe"))
        .arg("--sysfs")
        .arg(tree.devices_dir())
        .output()
        .unwrap()
}

#[test]
fn probe_lists_devices_grouped_by_kernel_driver() {
    let tree = FakePciTree::new().unwrap();
    let a = |s: &str| s.parse().unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:03.0"))
            .ids(0x1234, 0x11e8)
            .iommu_group(Some(3))
            .bar(BarIndex::BAR0, 0xfea0_0000, 1 << 20, FLAGS_MEM32),
    )
    .unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:04.0"))
            .ids(0x1af4, 0x1110)
            .class(0x050000)
            .iommu_group(Some(4))
            .bar(BarIndex::BAR0, 0xfeb0_0000, 256, FLAGS_MEM32)
            .bar(BarIndex::BAR2, 0x8_0000_0000, 1 << 32, FLAGS_MEM64_PREFETCH),
    )
    .unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:05.0"))
            .ids(0x8086, 0x10d3)
            .class(0x020000)
            .driver(Some("e1000e"))
            .bar(BarIndex::BAR2, 0xc000, 32, FLAGS_IO),
    )
    .unwrap();
    tree.add(&FakeDevice::new(a("0000:00:06.0")).driver(None))
        .unwrap();

    let out = probe_over(&tree);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compat = stdout
        .find("Devices using a DPDK-compatible driver")
        .expect(&stdout);
    let kernel = stdout.find("Devices using a kernel driver").expect(&stdout);
    let none = stdout.find("Not on DPDK's bus").expect(&stdout);
    assert!(compat < kernel && kernel < none, "{stdout}");
    let line = |addr: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(addr))
            .unwrap_or_else(|| panic!("{addr}: {stdout}"))
    };
    assert!(
        line("0000:00:03.0").contains("1234:11e8") && line("0000:00:03.0").contains("0:1M(mem32)"),
        "{stdout}"
    );
    assert!(
        line("0000:00:04.0").contains("2:4G(mem64,pf)")
            && line("0000:00:04.0").contains("vfio-pci"),
        "{stdout}"
    );
    assert!(
        line("0000:00:05.0").contains("e1000e") && line("0000:00:05.0").contains("2:32(io)"),
        "{stdout}"
    );
    assert_eq!(line("0000:00:06.0").trim(), "0000:00:06.0");
}

#[test]
fn probe_refuses_to_guess_which_bus() {
    let out = Command::new(example("probe")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("say which devices"));
    // An address DPDK's parser refuses too: refused before any EAL starts
    // (which, without --sysfs, would scan the real bus).
    let out = Command::new(example("probe"))
        .args(["--allow", "0000:00:100.0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the device 0x100 is more than 0xff"),
        "{stderr}"
    );
}

#[test]
fn probe_lists_every_device_of_an_odd_tree_and_names_the_unreadable_one() {
    // Laid out like the fake tree DPDK's own unit tests once used
    // (test/test/test_pci_sysfs: 0000:01:00.0, 0000:01:02.0, 0000:02:ab.0),
    // plus names DPDK's scan reads in its own way.
    let tree = FakePciTree::new().unwrap();
    let dev = |device: u16| FakeDevice::new("0000:00:00.0".parse().unwrap()).ids(0x1234, device);
    for (dir, device) in [
        ("0000:01:00.0", 0x0100),
        ("0000:01:02.0", 0x0102),
        ("0000:02:ab.0", 0x02ab),
        ("0000:04:00.10", 0x0400),
        ("ffffffff:ff:ff.7", 0xffff),
    ] {
        tree.add_named(dir, &dev(device)).unwrap();
    }
    tree.add_named("0:5:0.0", &dev(0x0500).driver(None))
        .unwrap();
    // DPDK's scan masks the class to 24 bits; this crate refuses the file.
    std::fs::write(tree.devices_dir().join("0000:01:02.0/class"), "0x1000000\n").unwrap();

    let out = probe_over(&tree);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let both = format!("{stdout}\n{stderr}");
    assert!(
        !out.status.success(),
        "an unreadable device fails the run: {both}"
    );
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("{start}: {both}"))
    };
    // Every other device is listed, by DPDK's name, after the bad one too.
    assert!(line("0000:01:00.0 ").contains("1234:0100"), "{both}");
    assert!(line("0000:02:ab.0 ").contains("1234:02ab"), "{both}");
    assert!(line("0000:04:00.a ").contains("1234:0400"), "{both}");
    assert!(line("ffffffff:ff:ff.7 ").contains("1234:ffff"), "{both}");
    // The unreadable one is named, with the file at fault.
    let unreadable = stdout.find("On DPDK's bus, but unreadable").expect(&both);
    assert_eq!(line("0000:01:02.0").trim(), "0000:01:02.0", "{both}");
    assert!(stdout.rfind("0000:01:02.0").unwrap() > unreadable, "{both}");
    assert!(
        stderr.contains("probe: 0000:01:02.0: ") && stderr.contains("0000:01:02.0/class"),
        "{both}"
    );
    assert!(stderr.contains("1 device(s) could not be read"), "{both}");
    // Off the bus (no driver), under the address DPDK's scan gives its directory.
    assert_eq!(
        line("0000:05:00.0").trim(),
        "0000:05:00.0 (directory \"0:5:0.0\")",
        "{both}"
    );
}
