//! Where a device's MSI-X table lives, read from its config space.
//!
//! The table is a BAR range the kernel may forbid mapping (older kernels, or no
//! `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`): a mapping of that BAR must leave it out.

use std::ops::Range;

#[cfg(target_pointer_width = "64")]
use std::os::fd::BorrowedFd;

use crate::io::error::AccessError;
use crate::io::region::{BadBarIndex, BarIndex};
use crate::io::register::ConfigRegisters;
#[cfg(target_pointer_width = "64")]
use crate::io::{file::ConfigIo, file::RegionIo, region::RegionIndex};
#[cfg(target_pointer_width = "64")]
use crate::vfio::region::{region_info, RegionInfo, RegionInfoError};

const STATUS: u64 = 0x06;
const STATUS_CAP_LIST: u16 = 1 << 4;
const CAP_POINTER: u64 = 0x34;
const CAP_ID_MSIX: u8 = 0x11;
/// 256 bytes of standard config space hold at most 48 capabilities of 4 bytes.
const MAX_CAPS: usize = 48;

/// The MSI-X table: which BAR, and the byte range inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsixTable {
    /// The table's BAR Indicator Register value (0 to 5 name a BAR; 6 and 7
    /// are reserved but still what the device says): see [`MsixTable::bar`].
    pub bir: u8,
    /// Where the table lies in that BAR.
    pub range: Range<u64>,
    /// Number of vectors (table entries).
    pub entries: u16,
}

impl MsixTable {
    /// The BAR the table is in; an error for a reserved indicator.
    pub fn bar(&self) -> Result<BarIndex, BadBarIndex> {
        BarIndex::new(u32::from(self.bir))
    }
}

/// Walks the capability list of `config` (the config-space region) for MSI-X.
/// A malformed list (pointer into the header, unaligned, looping) ends the walk.
pub fn find_msix_table(config: &impl ConfigRegisters) -> Result<Option<MsixTable>, AccessError> {
    if config.read16(STATUS)? & STATUS_CAP_LIST == 0 {
        return Ok(None);
    }
    let mut pointer = config.read8(CAP_POINTER)? & !0x3;
    for _ in 0..MAX_CAPS {
        if pointer < 0x40 {
            return Ok(None);
        }
        let at = u64::from(pointer);
        let header = config.read16(at)?;
        let (id, next) = ((header & 0xff) as u8, (header >> 8) as u8);
        if id == CAP_ID_MSIX {
            let control = config.read16(at + 2)?;
            let table = config.read32(at + 4)?;
            let entries = (control & 0x7ff) + 1;
            let start = u64::from(table & !0x7);
            return Ok(Some(MsixTable {
                bir: (table & 0x7) as u8,
                range: start..start + u64::from(entries) * 16,
                entries,
            }));
        }
        pointer = next & !0x3;
    }
    Ok(None)
}

/// Why the MSI-X table of a device could not be located.
#[cfg(target_pointer_width = "64")]
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocateError {
    #[error(transparent)]
    Info(#[from] RegionInfoError),
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// What a mapping of `info`'s region, on VFIO device file `fd`, must leave out:
/// the MSI-X table when it lies in this BAR and the kernel does not report it
/// mappable (DPDK leaves those pages out of its own mappings for the same
/// reason). Shared by `VfioDevice::map_bar` and the views of DPDK's mappings.
#[cfg(target_pointer_width = "64")]
pub(crate) fn unmappable_ranges(
    fd: BorrowedFd<'_>,
    info: &RegionInfo,
) -> Result<Vec<Range<u64>>, LocateError> {
    let RegionIndex::Bar(bar) = info.index else {
        return Ok(Vec::new());
    };
    if info.msix_mappable {
        return Ok(Vec::new());
    }
    let info = region_info(fd, RegionIndex::Config)?;
    let config = ConfigIo::new(RegionIo::new(fd, info.window(), info.offset));
    Ok(find_msix_table(&config)?
        .filter(|table| table.bar() == Ok(bar))
        .map(|table| table.range)
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    //! Over config-space images in plain (unlinked) files, read through
    //! `RegionIo::over_file`: the same `pread64` path a VFIO device file takes.
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::io::file::ConfigIo;
    use crate::io::region::{FileRegion, RegionIndex};

    const CAP_ID_PM: u8 = 0x01;
    const CAP_ID_MSI: u8 = 0x05;
    const CAP_ID_PCIE: u8 = 0x10;

    /// An unlinked temporary file holding `bytes`.
    fn file_with(bytes: &[u8]) -> File {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "dpdk-rs-msix-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    /// 256 bytes of type-0 config space: header only, no capability yet.
    struct Image(Vec<u8>);

    impl Image {
        /// An 82574L's header (8086:10d3, Ethernet controller): BAR0 and BAR1
        /// memory, BAR2 I/O, BAR3 memory (its MSI-X BAR), interrupt pin A.
        fn new() -> Self {
            let mut bytes = vec![0u8; 256];
            let mut put = |at: usize, value: u32| {
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            };
            put(0x00, 0x10d3_8086);
            put(0x04, 0x0000_0407);
            put(0x08, 0x0200_0000);
            put(0x10, 0xfebc_0000);
            put(0x14, 0xfeb8_0000);
            put(0x18, 0x0000_c001);
            put(0x1c, 0xfebe_0000);
            put(0x2c, 0x0000_8086);
            put(0x3c, 0x0000_010b);
            Image(bytes)
        }
        /// Sets the capability-list bit of the status register and the list's head.
        fn list(mut self, head: u8) -> Self {
            self.0[STATUS as usize] |= STATUS_CAP_LIST as u8;
            self.0[CAP_POINTER as usize] = head;
            self
        }
        /// A capability header at `at`: `id`, then the next pointer.
        fn cap(mut self, at: u8, id: u8, next: u8) -> Self {
            self.0[at as usize] = id;
            self.0[at as usize + 1] = next;
            self
        }
        /// An MSI-X capability at `at`: message control, then table offset/BIR.
        fn msix(self, at: u8, next: u8, control: u16, table: u32) -> Self {
            let mut image = self.cap(at, CAP_ID_MSIX, next);
            let at = at as usize;
            image.0[at + 2..at + 4].copy_from_slice(&control.to_le_bytes());
            image.0[at + 4..at + 8].copy_from_slice(&table.to_le_bytes());
            // The PBA, which the walk does not read: BAR 3, offset 0x2000.
            image.0[at + 8..at + 12].copy_from_slice(&0x2003u32.to_le_bytes());
            image
        }
    }

    /// Runs `find_msix_table` over `bytes` in a file, as a config region of `size`.
    fn find_in(bytes: &[u8], size: u64) -> Result<Option<MsixTable>, AccessError> {
        let file = file_with(bytes);
        let config =
            ConfigIo::over_file(file.as_fd(), &FileRegion::new(RegionIndex::Config, 0, size));
        find_msix_table(&config)
    }

    fn find(image: &Image) -> Result<Option<MsixTable>, AccessError> {
        find_in(&image.0, 256)
    }

    /// Like `find`, but a walk that does not end within 10 s fails the test
    /// instead of hanging it.
    fn find_within_time(image: Image) -> Result<Option<MsixTable>, AccessError> {
        let (done, result) = mpsc::channel();
        std::thread::spawn(move || done.send(find(&image)).unwrap());
        result
            .recv_timeout(Duration::from_secs(10))
            .expect("the capability walk did not end")
    }

    fn table(bir: u8, start: u64, entries: u16) -> MsixTable {
        MsixTable {
            bir,
            range: start..start + u64::from(entries) * 16,
            entries,
        }
    }

    /// An 82574L (e1000e) as lspci shows it: PM at 0xc8, MSI at 0xd0, PCI
    /// Express at 0xe0, MSI-X at 0xa0 (5 vectors, table at BAR 3 offset 0).
    fn e1000e() -> Image {
        Image::new()
            .list(0xc8)
            .cap(0xc8, CAP_ID_PM, 0xd0)
            .cap(0xd0, CAP_ID_MSI, 0xe0)
            .cap(0xe0, CAP_ID_PCIE, 0xa0)
            .msix(0xa0, 0x00, 0x0004, 0x0000_0003)
    }

    #[test]
    fn finds_msix_after_other_capabilities() {
        assert_eq!(find(&e1000e()).unwrap(), Some(table(3, 0, 5)));
    }

    #[test]
    fn no_capability_list_bit_means_no_table() {
        let mut image = e1000e();
        image.0[STATUS as usize] &= !(STATUS_CAP_LIST as u8);
        // The pointer and the capabilities are still there: only the bit counts.
        assert_eq!(image.0[CAP_POINTER as usize], 0xc8);
        assert_eq!(find(&image).unwrap(), None);
    }

    #[test]
    fn a_list_without_msix_ends_with_none() {
        let image = Image::new()
            .list(0x40)
            .cap(0x40, CAP_ID_PM, 0x50)
            .cap(0x50, CAP_ID_MSI, 0x00);
        assert_eq!(find(&image).unwrap(), None);
    }

    #[test]
    fn pointers_into_the_header_end_the_walk() {
        // Header bytes that read as an MSI-X capability where the (masked)
        // pointer lands, so that a walk taking the header for a capability
        // would find a table. (0x34..0x38 is the pointer itself.)
        let header_msix = |image: Image, at: u8| {
            let mut image = image;
            image.0[at as usize] = CAP_ID_MSIX;
            image.0[at as usize + 1] = 0;
            image
        };
        for head in [0x00, 0x04, 0x10, 0x2c, 0x3c, 0x3f] {
            let image = header_msix(Image::new().list(head), head & !0x3);
            assert_eq!(find(&image).unwrap(), None, "head 0x{head:x}");
        }
        // The same for a next pointer after a capability.
        for next in [0x04, 0x10, 0x3c, 0x3e] {
            let image = Image::new().list(0x40).cap(0x40, CAP_ID_PM, next);
            let image = header_msix(image, next & !0x3);
            assert_eq!(find(&image).unwrap(), None, "next 0x{next:x}");
        }
    }

    #[test]
    fn the_low_two_bits_of_pointers_are_masked() {
        for low in 1..=3 {
            let image = Image::new()
                .list(0x40 | low)
                .cap(0x40, CAP_ID_PM, 0x60 | low)
                .msix(0x60, 0, 0x0001, 0x0000_1000);
            assert_eq!(
                find(&image).unwrap(),
                Some(table(0, 0x1000, 2)),
                "low {low}"
            );
        }
    }

    #[test]
    fn a_capability_pointing_to_itself_ends_with_none() {
        let image = Image::new().list(0x40).cap(0x40, CAP_ID_PM, 0x40);
        assert_eq!(find_within_time(image).unwrap(), None);
        // Unaligned, so that only the masking makes it a loop.
        let image = Image::new().list(0x40).cap(0x40, CAP_ID_PM, 0x43);
        assert_eq!(find_within_time(image).unwrap(), None);
    }

    #[test]
    fn a_two_capability_cycle_ends_with_none() {
        let image = Image::new()
            .list(0x40)
            .cap(0x40, CAP_ID_PM, 0x50)
            .cap(0x50, CAP_ID_MSI, 0x40);
        assert_eq!(find_within_time(image).unwrap(), None);
        // A cycle entered after a capability outside it.
        let image = Image::new()
            .list(0x40)
            .cap(0x40, CAP_ID_PCIE, 0xf0)
            .cap(0xf0, CAP_ID_PM, 0xfc)
            .cap(0xfc, CAP_ID_MSI, 0xf0);
        assert_eq!(find_within_time(image).unwrap(), None);
    }

    #[test]
    fn the_bound_does_not_cut_off_the_longest_list_that_fits() {
        // 45 capabilities of 4 bytes from 0x40 to 0xf0, then MSI-X (12 bytes)
        // at 0xf4, ending at the end of standard config space.
        let mut image = Image::new().list(0x40);
        for at in (0x40..=0xf0).step_by(4) {
            image = image.cap(at, CAP_ID_PM, at + 4);
        }
        let image = image.msix(0xf4, 0, 0x0010, 0x0000_4002);
        assert_eq!(find(&image).unwrap(), Some(table(2, 0x4000, 17)));
    }

    #[test]
    fn the_table_size_is_eleven_bits_plus_one() {
        for (control, entries) in [
            (0x0000, 1),
            (0x07ff, 2048),
            // Enable and function mask set: not part of the size.
            (0xc000, 1),
            (0xffff, 2048),
            (0xc7fe, 2047),
        ] {
            let image = Image::new().list(0x40).msix(0x40, 0, control, 0x0000_0000);
            let found = find(&image).unwrap().unwrap();
            assert_eq!(found.entries, entries, "control 0x{control:04x}");
            assert_eq!(found, table(0, 0, entries), "control 0x{control:04x}");
        }
    }

    #[test]
    fn the_bir_bits_are_the_bar_and_not_part_of_the_offset() {
        for (word, bar, start) in [
            (0x0000_2005, 5, 0x2000),
            (0x0000_3008, 0, 0x3008),
            (0x0001_000c, 4, 0x1_0008),
            // BIR 6 and 7 are reserved, still what the device says.
            (0xffff_fff7, 7, 0xffff_fff0),
        ] {
            let image = Image::new().list(0x40).msix(0x40, 0, 0x07ff, word);
            let found = find(&image).unwrap().unwrap();
            assert_eq!(found, table(bar, start, 2048), "table word 0x{word:08x}");
            // Past 4 GiB without wrapping: the range is u64.
            assert_eq!(found.range.end - found.range.start, 2048 * 16);
        }
    }

    #[test]
    fn a_short_config_space_gives_errors_not_panics() {
        let image = e1000e();
        // Regions too small for what the walk reads (the status register, the
        // list pointer, the first capability at 0xc8): refused before any read.
        for size in [0, 0x06, 0x34, 0x40, 0xc9] {
            let err = find_in(&image.0, size).unwrap_err();
            assert!(
                matches!(
                    err,
                    AccessError::OutOfBounds {
                        region: RegionIndex::Config,
                        ..
                    }
                ),
                "size 0x{size:x}: {err}"
            );
        }
        // MSI-X last in the region: a region ending inside its control or
        // table word.
        let image = Image::new().list(0xf4).msix(0xf4, 0, 0x0004, 0x0000_0003);
        assert_eq!(find_in(&image.0, 0xfc).unwrap(), Some(table(3, 0, 5)));
        for (size, offset) in [(0xf5, 0xf4), (0xf6, 0xf6), (0xf8, 0xf8), (0xfb, 0xf8)] {
            let err = find_in(&image.0, size).unwrap_err();
            assert!(
                matches!(err, AccessError::OutOfBounds { offset: o, .. } if o == offset),
                "size 0x{size:x}: {err}"
            );
        }
        // The last 4-byte slot of a 256-byte region: the table word would be
        // at 0x100, past the end.
        let image = Image::new().list(0xfc).cap(0xfc, CAP_ID_MSIX, 0);
        let err = find_in(&image.0, 256).unwrap_err();
        assert!(
            matches!(
                err,
                AccessError::OutOfBounds {
                    offset: 0x100,
                    width: 4,
                    ..
                }
            ),
            "{err}"
        );
        // A file shorter than the region it is said to be: short reads (0xc9
        // bytes: one byte of the 2-byte header at 0xc8).
        let image = e1000e();
        for len in [0, 0x05, 0x36, 0xa4, 0xc9, 0xca] {
            let err = find_in(&image.0[..len], 256).unwrap_err();
            assert!(
                matches!(
                    err,
                    AccessError::Short {
                        region: RegionIndex::Config,
                        ..
                    }
                ),
                "file of 0x{len:x} bytes: {err}"
            );
        }
    }

    #[test]
    fn the_fuzz_seeds_are_what_their_names_say() {
        // safe/fuzz/seeds/msix_caps: starting points of the msix_caps target.
        let e1000e_seed: &[u8] = include_bytes!("../../fuzz/seeds/msix_caps/e1000e");
        assert_eq!(e1000e_seed, &e1000e().0[..]);
        assert_eq!(find_in(e1000e_seed, 256).unwrap(), Some(table(3, 0, 5)));
        let looping: &[u8] = include_bytes!("../../fuzz/seeds/msix_caps/loop");
        assert_eq!(find_in(looping, 256).unwrap(), None);
        let largest: &[u8] = include_bytes!("../../fuzz/seeds/msix_caps/bir7_2048");
        assert_eq!(
            find_in(largest, 256).unwrap(),
            Some(table(7, 0xffff_fff0, 2048))
        );
    }
}
