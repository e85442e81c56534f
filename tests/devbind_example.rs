//! The `devbind` example run as a user would, over fake sysfs trees: its
//! status listing, its refusals on standard error with exit status 1, usage
//! errors with 2, `--help` with 0.

use std::path::PathBuf;
use std::process::{Command, Output};

use dpdk::testing::{FakeDevice, FakePciTree};

fn devbind(args: &[&str]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let path: PathBuf = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/devbind");
    assert!(path.exists(), "{} not built", path.display());
    Command::new(path).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn fake() -> FakePciTree {
    let tree = FakePciTree::new().unwrap();
    let a = |s: &str| s.parse().unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:03.0"))
            .ids(0x1234, 0x11e8)
            .iommu_group(Some(3)),
    )
    .unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:05.0"))
            .ids(0x8086, 0x10d3)
            .class(0x020000)
            .driver(Some("e1000e"))
            .iommu_group(Some(5)),
    )
    .unwrap();
    tree.add(
        &FakeDevice::new(a("0000:00:06.0"))
            .driver(None)
            .iommu_group(None),
    )
    .unwrap();
    tree
}

#[test]
fn status_groups_devices_by_driver_and_shows_hugepages() {
    let tree = fake();
    let out = devbind(&["--sysfs", tree.devices_dir().to_str().unwrap(), "--status"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for line in [
        "Bound to vfio-pci (usable by DPDK)",
        "0000:00:03.0 1234:11e8 class 00ff00 iommu_group=3 drv=vfio-pci",
        "Bound to another kernel driver",
        "0000:00:05.0 8086:10d3 class 020000 iommu_group=5 drv=e1000e",
        "No driver",
        "0000:00:06.0 1234:0001 class 00ff00 no-iommu-group drv=no driver",
        "Hugepages",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{stdout}"
        );
    }
}

#[test]
fn refusals_go_to_stderr_with_status_1() {
    let tree = fake();
    let dir = tree.devices_dir().to_str().unwrap();
    std::fs::create_dir_all(
        tree.devices_dir()
            .parent()
            .unwrap()
            .join("drivers/vfio-pci"),
    )
    .unwrap();
    let out = devbind(&["--sysfs", dir, "--bind", "vfio-pci", "0000:00:06.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("0000:00:06.0 has no IOMMU group"),
        "{stderr}"
    );
    let out = devbind(&["--sysfs", dir, "--unbind", "0000:00:1f.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("0000:00:1f.0: no such PCI device"));
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    for args in [
        &[][..],
        &["--bind"],
        &["--bind", "vfio-pci"],
        &["--status", "0000:00:03.0"],
        &["--unbind", "not-an-address"],
        &["--frobnicate"],
        &["--status", "--unbind", "0000:00:03.0"],
    ] {
        let out = devbind(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(text(&out.stderr).contains("usage: devbind"), "{args:?}");
    }
    let out = devbind(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("usage: devbind"));
}
