//! `pread64`/`pwrite64` register access over a regular file standing in for a
//! VFIO device fd: the same calls, offsets and checks, on every target.

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;

use common::{plain_region, unlinked_file};
use dpdk_safe::{AccessError, FileRegion, RegionIndex, RegionIo, Registers};

/// BAR5's offset on vfio-pci (5 << 40) does not fit a sparse file on every
/// filesystem; 5 << 32 still needs 64-bit file offsets, which is the point.
const FAR: u64 = 5 << 32;

fn info(offset: u64, size: u64, readable: bool, writable: bool) -> FileRegion {
    plain_region(RegionIndex::BAR2, offset, size, readable, writable)
}

fn sparse_file(offset: u64, contents: &[u8]) -> File {
    let mut file = unlinked_file();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(contents).unwrap();
    file
}

#[test]
fn values_come_from_the_region_offset_not_its_low_32_bits() {
    let pattern: Vec<u8> = (0..64u8).collect();
    let file = sparse_file(FAR, &pattern);
    // What a truncated offset would hit: the start of the file, all zeros.
    let io = RegionIo::over_file(file.as_fd(), &info(FAR, 64, true, true));
    assert_eq!(io.read8(1).unwrap(), 1);
    assert_eq!(io.read16(2).unwrap(), 0x0302);
    assert_eq!(io.read32(4).unwrap(), 0x0706_0504);
    assert_eq!(io.read64(8).unwrap(), 0x0f0e_0d0c_0b0a_0908);
    let mut buf = [0u8; 7];
    io.read_bytes(17, &mut buf).unwrap();
    assert_eq!(buf, [17, 18, 19, 20, 21, 22, 23]);

    io.write32(0x20, 0xdead_beef).unwrap();
    io.write16(0x24, 0x1234).unwrap();
    io.write8(0x26, 0x56).unwrap();
    io.write64(0x28, 0x0102_0304_0506_0708).unwrap();
    io.write_bytes(0x30, b"hello").unwrap();
    let mut file = file;
    let mut back = [0u8; 0x35];
    file.seek(SeekFrom::Start(FAR)).unwrap();
    file.read_exact(&mut back).unwrap();
    assert_eq!(
        &back[0x20..0x27],
        &[0xef, 0xbe, 0xad, 0xde, 0x34, 0x12, 0x56]
    );
    assert_eq!(&back[0x28..0x30], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&back[0x30..0x35], b"hello");
    let mut low = [0u8; 8];
    file.seek(SeekFrom::Start(FAR & 0xffff_ffff)).unwrap();
    file.read_exact(&mut low).unwrap();
    assert_eq!(low, [0; 8], "nothing landed at the truncated offset");
}

#[test]
fn bounds_alignment_and_flags_are_checked() {
    let file = sparse_file(0x1000, &[0xaa; 0x100]);
    let io = RegionIo::over_file(file.as_fd(), &info(0x1000, 0x100, true, false));
    assert!(matches!(
        io.read32(0x100),
        Err(AccessError::OutOfBounds {
            offset: 0x100,
            width: 4,
            size: 0x100,
            ..
        })
    ));
    assert!(matches!(
        io.read64(0xfc),
        Err(AccessError::OutOfBounds { .. })
    ));
    assert!(matches!(
        io.read8(u64::MAX),
        Err(AccessError::OutOfBounds { .. })
    ));
    assert!(matches!(
        io.read_bytes(0xff, &mut [0; 2]),
        Err(AccessError::OutOfBounds { .. })
    ));
    assert!(matches!(
        io.read32(2),
        Err(AccessError::Unaligned {
            offset: 2,
            width: 4,
            ..
        })
    ));
    assert!(matches!(io.read16(1), Err(AccessError::Unaligned { .. })));
    assert!(matches!(io.read64(4), Err(AccessError::Unaligned { .. })));
    let err = io.write32(0, 1).unwrap_err();
    assert!(matches!(
        err,
        AccessError::NotWritable {
            region: RegionIndex::BAR2
        }
    ));
    assert!(err.to_string().contains("BAR2 is not writable"), "{err}");
    assert!(matches!(
        io.write_bytes(0, &[1]),
        Err(AccessError::NotWritable { .. })
    ));

    let wo = RegionIo::over_file(file.as_fd(), &info(0x1000, 0x100, false, true));
    assert!(matches!(wo.read8(0), Err(AccessError::NotReadable { .. })));
    assert!(matches!(
        wo.read_bytes(0, &mut [0; 1]),
        Err(AccessError::NotReadable { .. })
    ));

    let text = io.read32(0x100).unwrap_err().to_string();
    assert_eq!(
        text,
        "BAR2: 4-byte access at 0x100 is past the end (size 0x100)"
    );
}

#[test]
fn short_reads_and_impossible_offsets_are_errors() {
    // The file ends before the region does: a register read comes back short.
    let file = sparse_file(0x1000, &[1, 2]);
    let io = RegionIo::over_file(file.as_fd(), &info(0x1000, 0x100, true, true));
    assert!(matches!(
        io.read32(0),
        Err(AccessError::Short {
            done: 2,
            wanted: 4,
            ..
        })
    ));
    assert!(matches!(
        io.read_bytes(0, &mut [0; 8]),
        Err(AccessError::Short {
            done: 2,
            wanted: 8,
            ..
        })
    ));

    // Region offset + offset beyond i64::MAX cannot be an off64_t.
    let io = RegionIo::over_file(file.as_fd(), &info(u64::MAX - 0xff, 0x100, true, true));
    assert!(matches!(
        io.read32(0),
        Err(AccessError::OffsetOverflow { .. })
    ));

    // A bad descriptor gives the OS error.
    let dir = File::open("/").unwrap();
    let io = RegionIo::over_file(dir.as_fd(), &info(0, 0x100, true, true));
    let err = io.read32(0).unwrap_err();
    assert!(matches!(err, AccessError::Io { op: "read", .. }), "{err}");
}
