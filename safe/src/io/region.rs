//! Naming what is accessed: BAR numbers, device regions, and plain-file regions.

use std::fmt;

/// A BAR number, checked: PCI devices have BARs 0 to 5.
///
/// The one BAR index type of the crate: it cannot hold 6 or more, so every
/// function taking one has nothing left to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BarIndex(u8);

/// A BAR number outside 0..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("BAR {0} does not exist: PCI devices have BARs 0 to 5")]
pub struct BadBarIndex(pub u32);

impl BarIndex {
    /// BAR 0.
    pub const BAR0: BarIndex = BarIndex(0);
    /// BAR 1.
    pub const BAR1: BarIndex = BarIndex(1);
    /// BAR 2.
    pub const BAR2: BarIndex = BarIndex(2);
    /// BAR 3.
    pub const BAR3: BarIndex = BarIndex(3);
    /// BAR 4.
    pub const BAR4: BarIndex = BarIndex(4);
    /// BAR 5.
    pub const BAR5: BarIndex = BarIndex(5);
    /// All six, in order.
    pub const ALL: [BarIndex; 6] = [
        BarIndex(0),
        BarIndex(1),
        BarIndex(2),
        BarIndex(3),
        BarIndex(4),
        BarIndex(5),
    ];

    /// BAR `n`, checked.
    pub const fn new(n: u32) -> Result<Self, BadBarIndex> {
        if n <= 5 {
            Ok(BarIndex(n as u8))
        } else {
            Err(BadBarIndex(n))
        }
    }

    /// The number, 0 to 5.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The number as an index into a six-entry table.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<u32> for BarIndex {
    type Error = BadBarIndex;
    fn try_from(n: u32) -> Result<Self, BadBarIndex> {
        BarIndex::new(n)
    }
}

impl fmt::Display for BarIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BAR{}", self.0)
    }
}

/// A region of a vfio-pci device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegionIndex {
    /// One of the six BARs.
    Bar(BarIndex),
    /// The expansion ROM.
    Rom,
    /// Config space.
    Config,
    /// Legacy VGA ranges.
    Vga,
    /// Device-specific regions past the standard ones.
    Other(u32),
}

impl RegionIndex {
    /// BAR 0.
    pub const BAR0: RegionIndex = RegionIndex::Bar(BarIndex::BAR0);
    /// BAR 1.
    pub const BAR1: RegionIndex = RegionIndex::Bar(BarIndex::BAR1);
    /// BAR 2.
    pub const BAR2: RegionIndex = RegionIndex::Bar(BarIndex::BAR2);
    /// BAR 3.
    pub const BAR3: RegionIndex = RegionIndex::Bar(BarIndex::BAR3);
    /// BAR 4.
    pub const BAR4: RegionIndex = RegionIndex::Bar(BarIndex::BAR4);
    /// BAR 5.
    pub const BAR5: RegionIndex = RegionIndex::Bar(BarIndex::BAR5);

    /// BAR `n`, checked.
    pub fn bar(n: u32) -> Result<Self, BadBarIndex> {
        BarIndex::new(n).map(RegionIndex::Bar)
    }

    /// The kernel's `VFIO_PCI_*_REGION_INDEX`.
    pub fn as_u32(self) -> u32 {
        match self {
            RegionIndex::Bar(n) => u32::from(n.get()),
            RegionIndex::Rom => dpdk_sys::VFIO_PCI_ROM_REGION_INDEX,
            RegionIndex::Config => dpdk_sys::VFIO_PCI_CONFIG_REGION_INDEX,
            RegionIndex::Vga => dpdk_sys::VFIO_PCI_VGA_REGION_INDEX,
            RegionIndex::Other(n) => n,
        }
    }

    /// The region the kernel numbers `index`.
    pub fn from_u32(index: u32) -> Self {
        match index {
            0..=5 => RegionIndex::Bar(BarIndex(index as u8)),
            6 => RegionIndex::Rom,
            7 => RegionIndex::Config,
            8 => RegionIndex::Vga,
            n => RegionIndex::Other(n),
        }
    }
}

impl From<BarIndex> for RegionIndex {
    fn from(bar: BarIndex) -> Self {
        RegionIndex::Bar(bar)
    }
}

impl fmt::Display for RegionIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionIndex::Bar(n) => n.fmt(f),
            RegionIndex::Rom => f.write_str("ROM"),
            RegionIndex::Config => f.write_str("config space"),
            RegionIndex::Vga => f.write_str("VGA"),
            RegionIndex::Other(n) => write!(f, "region {n}"),
        }
    }
}

/// One area of a region that may be mapped, region-relative (the kernel's
/// `VFIO_REGION_INFO_CAP_SPARSE_MMAP` entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseArea {
    /// Start inside the region.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// A region of a file as the caller (or the kernel, for a VFIO device) describes
/// it: where it starts in the file, how large it is, what it allows.
///
/// Plain public data: nothing safe trusts it.
/// [`RegionIo::over_file`](crate::RegionIo::over_file) reads and writes the file
/// with `pread64`/`pwrite64`, where a wrong description gives an
/// [`AccessError`](crate::AccessError) (a file shorter than claimed gives
/// `AccessError::Short`); mapping it, with `MappedRegion::map_file`, is `unsafe`,
/// because there a wrong description is undefined behaviour or a SIGBUS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRegion {
    /// The region it stands for; named in errors.
    pub index: RegionIndex,
    /// Start of the region in the file.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Reads are allowed.
    pub readable: bool,
    /// Writes are allowed.
    pub writable: bool,
    /// For mapping: only these region-relative areas are mapped, like the
    /// kernel's sparse-mmap capability. Ignored by `pread64`/`pwrite64` access.
    pub sparse: Option<Vec<SparseArea>>,
}

impl FileRegion {
    /// `size` bytes at `offset` in the file, readable and writable, not sparse.
    pub fn new(index: RegionIndex, offset: u64, size: u64) -> Self {
        FileRegion {
            index,
            offset,
            size,
            readable: true,
            writable: true,
            sparse: None,
        }
    }

    /// The access window the checks work from.
    pub(crate) fn window(&self) -> crate::io::window::Window {
        crate::io::window::Window::new(self.index, self.size, self.readable, self.writable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_numbers_are_checked() {
        for n in 0..=5 {
            assert_eq!(
                RegionIndex::bar(n),
                Ok(RegionIndex::Bar(BarIndex::new(n).unwrap()))
            );
            assert_eq!(
                RegionIndex::from_u32(n),
                RegionIndex::Bar(BarIndex::new(n).unwrap())
            );
        }
        assert_eq!(RegionIndex::bar(6), Err(BadBarIndex(6)));
        assert_eq!(RegionIndex::bar(256), Err(BadBarIndex(256)));
        assert_eq!(
            BadBarIndex(6).to_string(),
            "BAR 6 does not exist: PCI devices have BARs 0 to 5"
        );
        for index in 0..12 {
            assert_eq!(RegionIndex::from_u32(index).as_u32(), index);
        }
        assert_eq!(RegionIndex::from_u32(6), RegionIndex::Rom);
        assert_eq!(RegionIndex::from_u32(7), RegionIndex::Config);
        assert_eq!(RegionIndex::from_u32(9), RegionIndex::Other(9));
        assert_eq!(RegionIndex::BAR2.to_string(), "BAR2");
        assert_eq!(BarIndex::new(5).unwrap().get(), 5);
        assert_eq!(BarIndex::try_from(6), Err(BadBarIndex(6)));
        assert_eq!(BarIndex::ALL.map(BarIndex::as_usize), [0, 1, 2, 3, 4, 5]);
    }
}
