//! The hand-written driver SDK structures (`src/pci_driver_sdk.rs`) against the
//! real `bus_pci_driver.h` and `dev_driver.h` of the distribution's source
//! package: a C program built with the target's compiler prints size, alignment
//! and every field offset, and each must match. `tools/test.sh` runs this with
//! `DPDK_RS_SDK_INCLUDE` pointing at those headers, on x86_64 and i686.
#![cfg(any(dpdk_hand_driver_structs, dpdk_driver_sdk_bindgen))]

use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

use dpdk_sys::pci_driver_sdk::*;

/// (struct, field or "", Rust value): "" stands for size and alignment.
fn rust_layout() -> Vec<(String, u64)> {
    let mut v = Vec::new();
    macro_rules! layout {
        ($c:literal, $t:ty, [$($f:ident),*]) => {
            v.push((format!("{}.sizeof", $c), size_of::<$t>() as u64));
            v.push((format!("{}.alignof", $c), align_of::<$t>() as u64));
            $(v.push((format!("{}.{}", $c, stringify!($f)), offset_of!($t, $f) as u64));)*
        };
    }
    layout!("rte_driver", rte_driver, [next, name, alias]);
    layout!(
        "rte_device",
        rte_device,
        [next, name, bus_info, driver, bus, numa_node, devargs]
    );
    layout!(
        "rte_pci_device",
        rte_pci_device,
        [
            next,
            device,
            addr,
            id,
            mem_resource,
            intr_handle,
            driver,
            max_vfs,
            kdrv,
            name,
            bus_info,
            vfio_req_intr_handle
        ]
    );
    layout!(
        "rte_pci_driver",
        rte_pci_driver,
        [next, driver, probe, remove, dma_map, dma_unmap, id_table, drv_flags]
    );
    // The one enum value the safe crate reads.
    v.push((
        "enum.RTE_PCI_KDRV_VFIO".to_owned(),
        RTE_PCI_KDRV_VFIO as u64,
    ));
    v
}

fn c_program(layout: &[(String, u64)]) -> String {
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <rte_bus_pci.h>\n#include <bus_pci_driver.h>\nint main(void) {\n",
    );
    for (key, _) in layout {
        let (s, f) = key.split_once('.').unwrap();
        let expr = match f {
            "sizeof" => format!("sizeof(struct {s})"),
            "alignof" => format!("_Alignof(struct {s})"),
            constant if s == "enum" => constant.to_owned(),
            field => format!("offsetof(struct {s}, {field})"),
        };
        c.push_str(&format!("printf(\"{key} %zu\\n\", (size_t){expr});\n"));
    }
    c.push_str("return 0;\n}\n");
    c
}

#[test]
#[ignore = "needs DPDK's driver SDK headers in DPDK_RS_SDK_INCLUDE (tools/test.sh sets it)"]
fn layouts_match_the_real_headers() {
    let include = std::env::var("DPDK_RS_SDK_INCLUDE")
        .expect("DPDK_RS_SDK_INCLUDE: directory holding bus_pci_driver.h");
    let layout = rust_layout();
    let dir = std::env::temp_dir().join(format!("dpdk-rs-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c_program(&layout)).unwrap();
    let cflags = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config");
    let cflags = String::from_utf8(cflags.stdout).unwrap();
    let status = Command::new("cc")
        .args(cflags.split_whitespace())
        .args([
            "-DALLOW_INTERNAL_API",
            "-DALLOW_EXPERIMENTAL_API",
            "-I",
            &include,
            "-o",
        ])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("cc");
    assert!(status.success(), "compiling the layout probe failed");
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for ((key, rust), line) in layout.iter().zip(text.lines()) {
        let (c_key, c_value) = line.split_once(' ').unwrap();
        assert_eq!(c_key, key);
        assert_eq!(
            c_value.parse::<u64>().unwrap(),
            *rust,
            "{key}: C says {c_value}, Rust says {rust}"
        );
        checked += 1;
    }
    assert_eq!(checked, layout.len(), "every field compared");
    println!(
        "{checked} sizes, alignments and offsets match ({}-bit)",
        usize::BITS
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
