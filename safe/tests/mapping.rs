//! `mmap64` mappings over a file standing in for a VFIO device fd (64-bit only).
#![cfg(target_pointer_width = "64")]
// Lists of one range are what the API returns and takes here.
#![allow(clippy::single_range_in_vec_init)]

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use dpdk_safe::{
    AccessError, FileRegion, MapError, MappedRegion, RegionIndex, RegionIo, Registers, SparseArea,
};

const REGION_OFFSET: u64 = 2 << 32;
const SIZE: u64 = 4 * 4096;

fn region(sparse: Option<Vec<SparseArea>>) -> FileRegion {
    FileRegion {
        sparse,
        ..FileRegion::new(RegionIndex::BAR2, REGION_OFFSET, SIZE)
    }
}

/// Maps `region` of `file`, a region file (`region_file_at`): it holds all of
/// REGION_OFFSET..REGION_OFFSET + SIZE, is never truncated, and the tests
/// touch the mapping from one thread, or from several at disjoint offsets.
fn map<'fd>(
    file: &'fd File,
    region: &FileRegion,
    exclude: &[std::ops::Range<u64>],
) -> Result<MappedRegion<'fd>, MapError> {
    // SAFETY: see above.
    unsafe { MappedRegion::map_file(file.as_fd(), region, exclude) }
}

/// A fresh, unique path for each region file.
fn region_path() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("dpdk-rs-map-{}-{n}", std::process::id()))
}

fn region_file() -> File {
    region_file_at(&region_path())
}

/// A file holding a pattern at REGION_OFFSET, unlinked at once.
fn region_file_at(path: &Path) -> File {
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    std::fs::remove_file(path).unwrap();
    file.seek(SeekFrom::Start(REGION_OFFSET)).unwrap();
    let pattern: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    file.write_all(&pattern).unwrap();
    file
}

/// Mappings of the file at `path` in /proc/self/maps.
fn mapping_count(path: &Path) -> usize {
    let name = format!("{} ", path.display());
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&name))
        .count()
}

#[test]
fn reads_and_writes_reach_the_right_bytes() {
    let path = region_path();
    let mut file = region_file_at(&path);
    let before = mapping_count(&path);
    {
        let bar = map(&file, &region(None), &[]).unwrap();
        assert_eq!(bar.mapped_ranges(), [0..SIZE]);
        assert_eq!(bar.read8(5).unwrap(), 5);
        assert_eq!(bar.read32(0x100).unwrap(), u32::from_le_bytes([5, 6, 7, 8]));
        bar.write32(0x10, 0xcafe_f00d).unwrap();
        bar.write64(0x18, u64::MAX).unwrap();
        bar.write16(0x2000, 0xabcd).unwrap();
        bar.write8(0x3fff, 0x77).unwrap();
        assert_eq!(bar.read32(0x10).unwrap(), 0xcafe_f00d);

        let fixed = bar.fixed::<0x1000>().unwrap();
        assert_eq!(fixed.read32::<0x10>(), 0xcafe_f00d);
        fixed.write32::<0x20>(0x1122_3344);
        assert_eq!(fixed.read64::<0x18>(), u64::MAX);
        assert_eq!(bar.read32(0x20).unwrap(), 0x1122_3344);
        assert!(
            bar.fixed::<{ 8 * 4096 }>().is_err(),
            "larger than the mapping"
        );
        assert_eq!(mapping_count(&path), before + 1);
    }
    assert_eq!(mapping_count(&path), before, "drop unmaps");
    let mut back = vec![0u8; SIZE as usize];
    file.seek(SeekFrom::Start(REGION_OFFSET)).unwrap();
    file.read_exact(&mut back).unwrap();
    assert_eq!(&back[0x10..0x14], &0xcafe_f00du32.to_le_bytes());
    assert_eq!(&back[0x20..0x24], &0x1122_3344u32.to_le_bytes());
    assert_eq!(&back[0x2000..0x2002], &[0xcd, 0xab]);
    assert_eq!(back[0x3fff], 0x77);
}

#[test]
fn checks_bounds_alignment_and_flags() {
    let file = region_file();
    let bar = map(&file, &region(None), &[]).unwrap();
    assert!(matches!(
        bar.read32(SIZE),
        Err(AccessError::OutOfBounds { .. })
    ));
    assert!(matches!(
        bar.read64(SIZE - 4),
        Err(AccessError::OutOfBounds { .. })
    ));
    assert!(matches!(
        bar.read32(u64::MAX - 1),
        Err(AccessError::OutOfBounds { .. })
    ));
    assert!(matches!(bar.read32(1), Err(AccessError::Unaligned { .. })));
    assert!(matches!(
        bar.write16(3, 0),
        Err(AccessError::Unaligned { .. })
    ));

    let ro = FileRegion {
        writable: false,
        ..region(None)
    };
    let bar = map(&file, &ro, &[]).unwrap();
    assert!(matches!(
        bar.write32(0, 1),
        Err(AccessError::NotWritable { .. })
    ));
    assert!(bar.fixed::<16>().is_err());

    let odd = FileRegion {
        offset: REGION_OFFSET + 4,
        ..region(None)
    };
    let err = map(&file, &odd, &[]).unwrap_err();
    assert!(matches!(err, MapError::UnalignedRegion { .. }), "{err}");
    assert!(err.to_string().contains("pread/pwrite"), "{err}");
    let empty = FileRegion {
        size: 0,
        ..region(None)
    };
    assert!(matches!(
        map(&file, &empty, &[]),
        Err(MapError::Empty { .. })
    ));
}

#[test]
fn sparse_areas_and_exclusions_are_honoured() {
    let file = region_file();
    let sparse = vec![
        SparseArea {
            offset: 0,
            size: 4096,
        },
        SparseArea {
            offset: 2 * 4096,
            size: 2 * 4096,
        },
    ];
    let bar = map(&file, &region(Some(sparse)), &[]).unwrap();
    assert_eq!(bar.mapped_ranges(), [0..4096, 8192..16384]);
    assert_eq!(bar.read8(8192 + 3).unwrap(), ((8192 + 3) % 251) as u8);
    let err = bar.read32(4096).unwrap_err();
    assert!(
        matches!(err, AccessError::NotMapped { offset: 4096, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("pread/pwrite"), "{err}");
    // The last register before the gap is still mapped.
    assert!(bar.read64(4096 - 8).is_ok());

    // Excluding an MSI-X table at 0x1800..0x1900 removes its whole page.
    let bar = map(&file, &region(None), &[0x1800..0x1900]).unwrap();
    assert_eq!(bar.mapped_ranges(), [0..4096, 8192..SIZE]);
    assert!(matches!(
        bar.read32(0x1800),
        Err(AccessError::NotMapped { .. })
    ));
    let all = map(&file, &region(None), &[0..SIZE]);
    assert!(matches!(all, Err(MapError::NothingToMap { .. })));
}

#[test]
fn mapping_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MappedRegion<'static>>();
    assert_send_sync::<dpdk_safe::FixedMapping<'static, 4096>>();

    // Four threads, one mapping, each driving its own registers.
    let file = region_file();
    let bar = map(&file, &region(None), &[]).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let bar = &bar;
            s.spawn(move || {
                for i in 0..256u64 {
                    let at = t * 4096 + i * 8;
                    bar.write64(at, at ^ 0x5a5a).unwrap();
                }
            });
        }
    });
    for t in 0..4u64 {
        for i in 0..256u64 {
            let at = t * 4096 + i * 8;
            assert_eq!(bar.read64(at).unwrap(), at ^ 0x5a5a);
        }
    }
}

/// 1000 map/unmap and pread cycles leave no descriptor and no mapping behind.
/// Runs alone in a child process: the other tests open files concurrently.
#[test]
fn no_leaks_across_a_thousand_cycles() {
    const NAME: &str = "no_leaks_across_a_thousand_cycles";
    if !common::is_child(NAME) {
        common::child_passes(NAME, &[]);
        return;
    }
    fn fd_count() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }
    let path = region_path();
    let file = region_file_at(&path);
    let (fds, maps) = (fd_count(), mapping_count(&path));
    for i in 0..1000u64 {
        let bar = map(&file, &region(None), &[]).unwrap();
        bar.write32((i % 1024) * 4, i as u32).unwrap();
        assert_eq!(bar.read32((i % 1024) * 4).unwrap(), i as u32);
        let io = RegionIo::over_file(file.as_fd(), &region(None));
        assert_eq!(io.read32((i % 1024) * 4).unwrap(), i as u32);
    }
    assert_eq!(fd_count(), fds, "descriptors leaked");
    assert_eq!(mapping_count(&path), maps, "mappings leaked");
}
