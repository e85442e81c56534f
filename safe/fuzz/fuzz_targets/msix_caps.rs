//! The MSI-X capability walk (`find_msix_table`) over any config-space image,
//! read the way a VFIO device file is read (`pread64` through `RegionIo`): no
//! image hangs it or makes it panic, and every table it reports is one a
//! mapping can leave out (BIR in 0..=7, 1 to 2048 entries of 16 bytes, the
//! start 8-byte aligned and below 4 GiB, found only with the list bit set).
//!
//! The input is the image, written to one unlinked temporary file kept for the
//! whole run. Up to 256 bytes it stands for standard config space (a 256-byte
//! region: a shorter image gives short reads); longer, for PCI Express
//! extended config space (4096 bytes), so reads past the image, past 256
//! bytes and past the region are all reached.
#![no_main]

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use dpdk_safe::parse::find_msix_table;
use dpdk_safe::{ConfigIo, FileRegion, RegionIndex};
use libfuzzer_sys::fuzz_target;

fn image_file() -> &'static File {
    static FILE: OnceLock<File> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("dpdk-rs-fuzz-msix-{}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .expect("temporary file for the config-space image");
        std::fs::remove_file(&path).expect("unlinking it");
        file
    })
}

fuzz_target!(|data: &[u8]| {
    let file = image_file();
    file.set_len(0).unwrap();
    file.write_all_at(data, 0).unwrap();
    let size = if data.len() <= 256 { 256 } else { 4096 };
    let config = ConfigIo::over_file(file.as_fd(), &FileRegion::new(RegionIndex::Config, 0, size));
    let Ok(Some(table)) = find_msix_table(&config) else {
        return;
    };
    assert!(table.bir <= 7, "{table:?}");
    assert_eq!(table.bar().is_ok(), table.bir <= 5, "{table:?}");
    assert!((1..=2048).contains(&table.entries), "{table:?}");
    assert_eq!(
        table.range.end - table.range.start,
        u64::from(table.entries) * 16,
        "{table:?}"
    );
    assert_eq!(table.range.start % 8, 0, "{table:?}");
    // The offset is the upper 29 bits of a 32-bit word.
    assert!(table.range.start <= 0xffff_fff8, "{table:?}");
    // Only a list announced by the status register is walked.
    assert!(data.len() > 6 && data[6] & 0x10 != 0, "{table:?}");
});
