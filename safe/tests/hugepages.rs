//! The hugepage status over fake sysfs/procfs trees, and the EAL's hugepage
//! errors saying how to reserve pages.

mod common;

use std::fs;
use std::path::Path;

use common::{child_passes, is_child};
use dpdk_safe::{hugepage_status, hugepage_status_at, HugepageError, HugepageRoots, NodePages};
use dpdk_safe::{EalBuilder, EalError, LogLevel};

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A machine with 2 MiB and 1 GiB pages on two nodes.
fn fake(root: &Path, free_2m: [u64; 2], mounts: &str) -> HugepageRoots {
    let roots = HugepageRoots {
        hugepages: root.join("sys/kernel/mm/hugepages"),
        nodes: root.join("sys/devices/system/node"),
        mounts: root.join("proc/mounts"),
        meminfo: root.join("proc/meminfo"),
    };
    let size = |kib: u64, total: u64, free: u64| {
        let dir = roots.hugepages.join(format!("hugepages-{kib}kB"));
        write(&dir.join("nr_hugepages"), &format!("{total}\n"));
        write(&dir.join("free_hugepages"), &format!("{free}\n"));
        write(&dir.join("resv_hugepages"), "0\n");
        write(&dir.join("surplus_hugepages"), "0\n");
    };
    size(2048, 512, free_2m[0] + free_2m[1]);
    size(1 << 20, 0, 0);
    for (node, free) in free_2m.iter().enumerate() {
        let dir = roots.nodes.join(format!("node{node}/hugepages"));
        write(&dir.join("hugepages-2048kB/nr_hugepages"), "256\n");
        write(
            &dir.join("hugepages-2048kB/free_hugepages"),
            &format!("{free}\n"),
        );
        write(&dir.join("hugepages-1048576kB/nr_hugepages"), "0\n");
        write(&dir.join("hugepages-1048576kB/free_hugepages"), "0\n");
    }
    // Not a node directory.
    fs::create_dir_all(roots.nodes.join("power")).unwrap();
    write(&roots.mounts, mounts);
    write(
        &roots.meminfo,
        "MemTotal: 1000 kB\nHugepagesize:       2048 kB\n",
    );
    roots
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dpdk-rs-huge-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sizes_nodes_and_mounts_are_read() {
    let dir = tempdir("read");
    let roots = fake(
        &dir,
        [100, 56],
        "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime 0 0\n",
    );
    let status = hugepage_status_at(&roots).unwrap();
    assert_eq!(status.default_size_kib, Some(2048));
    assert_eq!(status.sizes.len(), 2);
    let small = &status.sizes[0];
    assert_eq!((small.size_kib, small.total, small.free), (2048, 512, 156));
    assert_eq!(
        small.nodes,
        [
            NodePages {
                node: 0,
                total: 256,
                free: 100
            },
            NodePages {
                node: 1,
                total: 256,
                free: 56
            }
        ]
    );
    assert_eq!(status.sizes[1].size_kib, 1 << 20);
    assert_eq!(status.mounts.len(), 1);
    assert_eq!(status.mounts[0].page_size_kib, Some(2048));
    assert_eq!(status.usable_pages(2048), 156);
    assert_eq!(status.usable_pages(1 << 20), 0);
    assert!(status.usable());
    assert_eq!(status.advice(), None);
    assert_eq!(
        status.to_string(),
        "2 MiB: 156 of 512 free (node 0 100/256, node 1 56/256), \
         1 GiB: 0 of 0 free (node 0 0/0, node 1 0/0); hugetlbfs: /dev/hugepages (2 MiB)"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn no_free_pages_and_no_mount_say_how_to_reserve() {
    let dir = tempdir("none");
    let roots = fake(&dir, [0, 0], "proc /proc proc rw 0 0\n");
    let status = hugepage_status_at(&roots).unwrap();
    assert!(!status.usable());
    let advice = status.advice().unwrap();
    assert!(
        advice.contains("echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
        "{advice}"
    );
    assert!(
        advice.contains("mount -t hugetlbfs -o pagesize=2M"),
        "{advice}"
    );
    assert!(advice.contains("hugetlbfs: none mounted"), "{advice}");

    // Free pages, but mounted only for the other size: only the mount is missing.
    let roots = fake(
        &dir,
        [10, 0],
        "nodev /mnt/huge1g hugetlbfs rw,pagesize=1G 0 0\n",
    );
    let status = hugepage_status_at(&roots).unwrap();
    assert!(!status.usable());
    let advice = status.advice().unwrap();
    assert!(!advice.contains("echo "), "{advice}");
    assert!(advice.contains("pagesize=2M"), "{advice}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_kernel_without_hugepages_and_bad_files() {
    let dir = tempdir("bad");
    let roots = HugepageRoots {
        hugepages: dir.join("absent"),
        nodes: dir.join("absent-nodes"),
        mounts: dir.join("absent-mounts"),
        meminfo: dir.join("absent-meminfo"),
    };
    let status = hugepage_status_at(&roots).unwrap();
    assert!(status.sizes.is_empty() && status.mounts.is_empty());
    assert!(status.advice().unwrap().contains("no_huge"));

    let roots = fake(&dir, [1, 1], "");
    write(
        &roots.hugepages.join("hugepages-2048kB/free_hugepages"),
        "many\n",
    );
    match hugepage_status_at(&roots) {
        Err(HugepageError::Parse { path, text }) => {
            assert!(path.ends_with("hugepages-2048kB/free_hugepages"));
            assert_eq!(text, "many\n");
        }
        other => panic!("unparsable count gave {other:?}"),
    }
    fs::remove_file(roots.hugepages.join("hugepages-2048kB/nr_hugepages")).unwrap();
    assert!(matches!(
        hugepage_status_at(&roots),
        Err(HugepageError::Read { .. })
    ));
    fs::remove_dir_all(dir).unwrap();
}

/// The EAL started with hugepages but pointed at a directory that is no
/// hugetlbfs mount finds none; its error then carries the machine's status
/// and, when this machine has no usable hugepages, how to reserve them.
#[test]
fn eal_hugepage_errors_say_how_to_reserve() {
    let name = "eal_hugepage_errors_say_how_to_reserve";
    if !is_child(name) {
        child_passes(name, &[]);
        return;
    }
    let not_a_mount = tempdir("not-a-mount");
    let err = EalBuilder::new()
        .program_name("dpdk-rs-test")
        .lcores([0])
        .no_shconf()
        .in_memory()
        .no_pci()
        .log_level(LogLevel::Warning)
        .arg("--huge-dir")
        .arg(not_a_mount.to_str().unwrap())
        .init()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EalError::InitFailed { .. }), "{text}");
    let status = hugepage_status().unwrap();
    if status.usable() {
        assert!(!text.contains("no usable hugepages"), "{text}");
    } else {
        assert!(text.contains("no usable hugepages"), "{text}");
        assert!(text.contains("nr_hugepages"), "{text}");
        assert!(text.contains(&status.to_string()), "{text}");
    }
    fs::remove_dir_all(&not_a_mount).unwrap();
    eprintln!("error: {text}");
}
