//! Reading a PCI device's sysfs directory, with a bound on every field.
//!
//! The same files DPDK's PCI scan reads: `vendor`, `device`, `subsystem_vendor`,
//! `subsystem_device`, `class`, `numa_node`, `resource`, and the `driver` and
//! `iommu_group` links. The kernel writes them, but a fake or damaged tree must
//! give an error naming the file, never a panic or a wrong value.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::io::region::{BarIndex, RegionIndex};
use crate::pci::address::{strtoul, PciAddress};

/// Attribute files are a line or two; anything longer is not a sysfs attribute.
const MAX_ATTRIBUTE_BYTES: u64 = 4096;

/// `IORESOURCE_*` flags of the `resource` file (include/linux/ioport.h).
const IORESOURCE_IO: u64 = 0x100;
const IORESOURCE_MEM: u64 = 0x200;
const IORESOURCE_PREFETCH: u64 = 0x2000;
const IORESOURCE_MEM_64: u64 = 0x0010_0000;

/// Where the PCI devices' sysfs directories are: `$SYSFS_PCI_DEVICES` when set,
/// as DPDK's PCI bus reads it, else `/sys/bus/pci/devices`.
pub fn sysfs_pci_root() -> PathBuf {
    match std::env::var_os("SYSFS_PCI_DEVICES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/sys/bus/pci/devices"),
    }
}

/// The vendor, device and subsystem IDs a device has (values; the pattern a
/// driver matches them with is [`PciIdPattern`](crate::PciIdPattern)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PciDeviceIds {
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Subsystem vendor ID.
    pub subsystem_vendor: u16,
    /// Subsystem device ID.
    pub subsystem_device: u16,
}

/// A 24-bit PCI class code: base class, subclass and programming interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct PciClass(u32);

impl PciClass {
    /// The class code `code`; bits above the 24 a class has are dropped.
    pub const fn new(code: u32) -> Self {
        PciClass(code & 0x00ff_ffff)
    }

    /// The whole 24-bit code.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// The base class (0x02: network controller, 0x01: mass storage...).
    pub const fn base(self) -> u8 {
        (self.0 >> 16) as u8
    }

    /// The subclass.
    pub const fn subclass(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// The programming interface.
    pub const fn prog_if(self) -> u8 {
        self.0 as u8
    }
}

impl fmt::Display for PciClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06x}", self.0)
    }
}

impl fmt::LowerHex for PciClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// The kernel driver a device is bound to (a device bound to none has
/// `kernel_driver: None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KernelDriver {
    /// `vfio-pci`.
    VfioPci,
    /// `uio_pci_generic`.
    UioPciGeneric,
    /// `igb_uio`.
    IgbUio,
    /// Any other driver, by name.
    Other(String),
}

/// The name a kernel driver (or its absence, `"none"`) is shown with.
pub fn kernel_driver_name(driver: Option<&KernelDriver>) -> String {
    driver.map_or_else(|| "none".to_owned(), KernelDriver::to_string)
}

impl KernelDriver {
    /// The driver Linux names `name` (the `driver` link's target).
    pub(crate) fn from_name(name: &str) -> Self {
        match name {
            "vfio-pci" => KernelDriver::VfioPci,
            "uio_pci_generic" => KernelDriver::UioPciGeneric,
            "igb_uio" => KernelDriver::IgbUio,
            other => KernelDriver::Other(other.to_owned()),
        }
    }
}

impl KernelDriver {
    /// The name Linux gives the driver (`vfio-pci`, `uio_pci_generic`, ...).
    pub fn name(&self) -> &str {
        match self {
            KernelDriver::VfioPci => "vfio-pci",
            KernelDriver::UioPciGeneric => "uio_pci_generic",
            KernelDriver::IgbUio => "igb_uio",
            KernelDriver::Other(name) => name,
        }
    }
}

impl fmt::Display for KernelDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Memory or I/O port space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BarKind {
    /// Memory space.
    Memory,
    /// I/O port space.
    Io,
}

/// One BAR (or the ROM) as the `resource` file describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BarInfo {
    /// `RegionIndex::Bar(n)` for BARs, `RegionIndex::Rom` for the ROM.
    pub region: RegionIndex,
    /// Bus address where the host put it.
    pub start: u64,
    /// Size in bytes.
    pub len: u64,
    /// Memory or I/O space.
    pub kind: BarKind,
    /// A 64-bit memory BAR (it takes two BAR slots).
    pub is_64bit: bool,
    /// Prefetchable memory.
    pub prefetchable: bool,
}

/// Everything read from one device directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SysfsDevice {
    /// The address DPDK's scan gives the directory.
    pub address: PciAddress,
    /// Vendor, device and subsystem IDs.
    pub ids: PciDeviceIds,
    /// Class code.
    pub class: PciClass,
    /// NUMA node; `None` when unknown.
    pub numa_node: Option<u32>,
    /// The kernel driver the device is bound to; `None` for no driver.
    pub kernel_driver: Option<KernelDriver>,
    /// IOMMU group number, when the device has one.
    pub iommu_group: Option<u32>,
    /// BARs 0 to 5 (`None`: unused, or the upper half of a 64-bit BAR).
    pub bars: [Option<BarInfo>; 6],
    /// The expansion ROM.
    pub rom: Option<BarInfo>,
}

impl SysfsDevice {
    /// BAR `index` as the `resource` file describes it.
    pub fn bar(&self, index: BarIndex) -> Option<&BarInfo> {
        self.bars[index.as_usize()].as_ref()
    }

    /// The kernel driver's name, `"none"` without one.
    pub fn kernel_driver_name(&self) -> String {
        kernel_driver_name(self.kernel_driver.as_ref())
    }
}

/// What was wrong with a sysfs file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SysfsErrorKind {
    /// Reading failed (missing file, permission, ...).
    Io(String),
    /// The file is larger than 4096 bytes, which no sysfs attribute is.
    TooLarge,
    /// The file is not UTF-8 text.
    NotUtf8,
    /// Expected a `0x`-prefixed hex number of the given width in bits.
    NotHex {
        /// The width the value must fit, in bits.
        bits: u32,
        /// The text found instead (its first 40 characters).
        found: String,
    },
    /// Expected a decimal number.
    NotDecimal {
        /// The text found instead (its first 40 characters).
        found: String,
    },
    /// The number parsed but is larger than the field it goes into holds.
    OutOfRange {
        /// The largest value accepted.
        max: u64,
        /// The value found.
        value: u64,
    },
    /// `resource` has fewer than 6 lines.
    TooFewResourceLines(usize),
    /// A `resource` line without exactly three numbers.
    BadResourceLine {
        /// The line's number, from 1.
        line: usize,
    },
    /// A `resource` line whose end lies before its start.
    ResourceEndBeforeStart {
        /// The line's number, from 1.
        line: usize,
    },
    /// The directory name is not one DPDK's scan reads as a PCI address
    /// ([`scan_address`]).
    BadDirectoryName,
    /// A link whose target name is not usable.
    BadLink,
}

/// A sysfs file that could not be read or parsed.
///
/// Two errors are equal when their path and kind are; the `io::Error` behind
/// a [`SysfsErrorKind::Io`] is its [`source`](std::error::Error::source).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {}", .path.display(), describe(.kind))]
pub struct SysfsError {
    /// The file (or directory) that failed.
    pub path: PathBuf,
    /// What was wrong with it.
    pub kind: SysfsErrorKind,
    /// The system call's error, for `SysfsErrorKind::Io`.
    #[source]
    io: Option<std::sync::Arc<std::io::Error>>,
}

impl PartialEq for SysfsError {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.kind == other.kind
    }
}

impl Eq for SysfsError {}

impl SysfsError {
    /// The file at fault.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn describe(kind: &SysfsErrorKind) -> String {
    match kind {
        SysfsErrorKind::Io(e) => e.clone(),
        SysfsErrorKind::TooLarge => {
            format!("larger than {MAX_ATTRIBUTE_BYTES} bytes, not a sysfs attribute")
        }
        SysfsErrorKind::NotUtf8 => "not UTF-8 text".to_owned(),
        SysfsErrorKind::NotHex { bits, found } => {
            format!("expected a 0x-prefixed {bits}-bit hex value, found {found:?}")
        }
        SysfsErrorKind::NotDecimal { found } => {
            format!("expected a decimal number, found {found:?}")
        }
        SysfsErrorKind::OutOfRange { max, value } => format!("value 0x{value:x} exceeds 0x{max:x}"),
        SysfsErrorKind::TooFewResourceLines(n) => format!("{n} lines, expected at least 6"),
        SysfsErrorKind::BadResourceLine { line } => {
            format!("line {line}: expected three 0x-prefixed hex numbers")
        }
        SysfsErrorKind::ResourceEndBeforeStart { line } => format!("line {line}: end before start"),
        SysfsErrorKind::BadDirectoryName => {
            "directory name is not a PCI address DPDK's scan reads".to_owned()
        }
        SysfsErrorKind::BadLink => "link target has no usable name".to_owned(),
    }
}

fn error(path: &Path, kind: SysfsErrorKind) -> SysfsError {
    SysfsError {
        path: path.to_path_buf(),
        kind,
        io: None,
    }
}

/// A failed read of `path`: the system's message as the kind, the error itself
/// as the source.
fn io_error(path: &Path, e: std::io::Error) -> SysfsError {
    SysfsError {
        path: path.to_path_buf(),
        kind: SysfsErrorKind::Io(e.to_string()),
        io: Some(std::sync::Arc::new(e)),
    }
}

/// Reads an attribute file of at most [`MAX_ATTRIBUTE_BYTES`] as text.
fn read_attribute(path: &Path) -> Result<String, SysfsError> {
    let file = fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_ATTRIBUTE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_ATTRIBUTE_BYTES {
        return Err(error(path, SysfsErrorKind::TooLarge));
    }
    String::from_utf8(bytes).map_err(|_| error(path, SysfsErrorKind::NotUtf8))
}

/// Parses `0x`-prefixed hex of at most `bits` bits; the caller names the file.
fn parse_hex(text: &str, bits: u32) -> Result<u64, SysfsErrorKind> {
    let not_hex = || SysfsErrorKind::NotHex {
        bits,
        found: text.chars().take(40).collect(),
    };
    let digits = text.strip_prefix("0x").ok_or_else(not_hex)?;
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_hex());
    }
    let value = u64::from_str_radix(digits, 16).map_err(|_| not_hex())?;
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    if value > max {
        return Err(SysfsErrorKind::OutOfRange { max, value });
    }
    Ok(value)
}

fn read_hex(dir: &Path, name: &str, bits: u32) -> Result<u64, SysfsError> {
    let path = dir.join(name);
    let text = read_attribute(&path)?;
    parse_hex(text.trim_end_matches('\n'), bits).map_err(|kind| error(&path, kind))
}

/// `numa_node`: missing or `-1` means unknown.
fn read_numa_node(dir: &Path) -> Result<Option<u32>, SysfsError> {
    let path = dir.join("numa_node");
    if !path.exists() {
        return Ok(None);
    }
    let text = read_attribute(&path)?;
    let text = text.trim_end_matches('\n');
    let value: i64 = text.parse().map_err(|_| {
        error(
            &path,
            SysfsErrorKind::NotDecimal {
                found: text.chars().take(40).collect(),
            },
        )
    })?;
    match value {
        -1 => Ok(None),
        v => u32::try_from(v).map(Some).map_err(|_| {
            error(
                &path,
                SysfsErrorKind::OutOfRange {
                    max: u32::MAX.into(),
                    value: v as u64,
                },
            )
        }),
    }
}

/// The basename of a symlink's target, `None` when there is no link.
fn link_name(path: &Path) -> Result<Option<String>, SysfsError> {
    match fs::read_link(path) {
        Ok(target) => target
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| Some(n.to_owned()))
            .ok_or_else(|| error(path, SysfsErrorKind::BadLink)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Parses the `resource` file: BARs 0-5 on lines 1-6, the ROM on line 7.
pub fn parse_resource(
    text: &str,
) -> Result<([Option<BarInfo>; 6], Option<BarInfo>), SysfsErrorKind> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 6 {
        return Err(SysfsErrorKind::TooFewResourceLines(lines.len()));
    }
    let mut bars = [None; 6];
    let mut rom = None;
    for (i, line) in lines.iter().enumerate().take(7) {
        let entry = parse_resource_line(line, i)?;
        if i < 6 {
            bars[i] = entry;
        } else {
            rom = entry;
        }
    }
    Ok((bars, rom))
}

fn parse_resource_line(line: &str, index: usize) -> Result<Option<BarInfo>, SysfsErrorKind> {
    let number = index + 1;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [start, end, flags] = fields.as_slice() else {
        return Err(SysfsErrorKind::BadResourceLine { line: number });
    };
    let hex =
        |s: &str| parse_hex(s, 64).map_err(|_| SysfsErrorKind::BadResourceLine { line: number });
    let (start, end, flags) = (hex(start)?, hex(end)?, hex(flags)?);
    if start == 0 && end == 0 {
        // Unused BAR, or the upper half of a 64-bit BAR.
        return Ok(None);
    }
    if end < start {
        return Err(SysfsErrorKind::ResourceEndBeforeStart { line: number });
    }
    // end - start + 1 overflows only for a BAR spanning all of u64: refuse it.
    let len = (end - start)
        .checked_add(1)
        .ok_or(SysfsErrorKind::OutOfRange {
            max: u64::MAX - 1,
            value: end - start,
        })?;
    let kind = if flags & IORESOURCE_IO != 0 {
        BarKind::Io
    } else if flags & IORESOURCE_MEM != 0 {
        BarKind::Memory
    } else {
        // Neither flag: the kernel reports no usable resource here.
        return Ok(None);
    };
    let region = match BarIndex::new(index as u32) {
        Ok(bar) => RegionIndex::Bar(bar),
        Err(_) => RegionIndex::Rom,
    };
    Ok(Some(BarInfo {
        region,
        start,
        len,
        kind,
        is_64bit: flags & IORESOURCE_MEM_64 != 0,
        prefetchable: flags & IORESOURCE_PREFETCH != 0,
    }))
}

impl SysfsDevice {
    /// Reads the device directory `dir`; its address is the one DPDK's scan
    /// gives the directory's name ([`scan_address`]).
    pub fn read(dir: &Path) -> Result<SysfsDevice, SysfsError> {
        let address = dir
            .file_name()
            .and_then(scan_address)
            .ok_or_else(|| error(dir, SysfsErrorKind::BadDirectoryName))?;
        let id16 = |name: &str| read_hex(dir, name, 16).map(|v| v as u16);
        let ids = PciDeviceIds {
            vendor: id16("vendor")?,
            device: id16("device")?,
            subsystem_vendor: id16("subsystem_vendor")?,
            subsystem_device: id16("subsystem_device")?,
        };
        let class = PciClass::new(read_hex(dir, "class", 24)? as u32);
        let numa_node = read_numa_node(dir)?;
        let kernel_driver = link_name(&dir.join("driver"))?.map(|n| KernelDriver::from_name(&n));
        let group_link = dir.join("iommu_group");
        let iommu_group = match link_name(&group_link)? {
            Some(name) => Some(name.parse().map_err(|_| {
                error(
                    &group_link,
                    SysfsErrorKind::NotDecimal {
                        found: name.chars().take(40).collect(),
                    },
                )
            })?),
            None => None,
        };
        let resource_path = dir.join("resource");
        let (bars, rom) = parse_resource(&read_attribute(&resource_path)?)
            .map_err(|kind| error(&resource_path, kind))?;
        Ok(SysfsDevice {
            address,
            ids,
            class,
            numa_node,
            kernel_driver,
            iommu_group,
            bars,
            rom,
        })
    }
}

/// The address DPDK's Linux PCI scan (`rte_pci_scan`) gives a directory
/// called `name` under the sysfs root, or `None` when the scan skips it.
///
/// The scan does not use `rte_pci_addr_parse`: it skips names starting with
/// `.`, splits the name at `:` into exactly three parts (a `:` at the very end
/// is dropped), splits the third at its first `.`, and reads each piece with
/// `strtoul`, ignoring what follows the number: the domain, bus and device in
/// hex and the function in decimal, each value cut to the field's width. It
/// skips a name only when a piece overflows C's `unsigned long`. So `0:3:0.1`
/// is `0000:03:00.1`, `0000:00:03.10` is function 0xa and `0000:00:03.f` is
/// function 0. DPDK's bus names the device after the address it stored, not
/// after the directory.
pub fn scan_address(name: &OsStr) -> Option<PciAddress> {
    let name = name.as_bytes();
    if name.first() == Some(&b'.') {
        return None;
    }
    // rte_strsplit(name, ':') into at most four tokens; exactly three wanted.
    let mut starts = Vec::with_capacity(4);
    let mut token_starts_here = true;
    for (i, &b) in name.iter().enumerate() {
        if b == 0 || starts.len() >= 4 {
            break;
        }
        if token_starts_here {
            token_starts_here = false;
            starts.push(i);
        }
        if b == b':' {
            token_starts_here = true;
        }
    }
    let [domain, bus, device_function] = starts.as_slice() else {
        return None;
    };
    let token = |start: usize| {
        let rest = &name[start..];
        let len = rest.iter().position(|&b| b == b':' || b == 0);
        &rest[..len.unwrap_or(rest.len())]
    };
    let device_function = token(*device_function);
    let dot = device_function.iter().position(|&b| b == b'.')?;
    let numbers = [
        strtoul(token(*domain), 16),
        strtoul(token(*bus), 16),
        strtoul(&device_function[..dot], 16),
        strtoul(&device_function[dot + 1..], 10),
    ];
    if numbers.iter().any(|n| n.overflow) {
        return None;
    }
    let [domain, bus, device, function] = numbers.map(|n| n.value);
    // C's conversions to uint32_t and uint8_t keep the low bits.
    Some(PciAddress::new(
        domain as u32,
        bus as u8,
        device as u8,
        function as u8,
    ))
}

/// The device directories under `root` that DPDK's scan reads, each with the
/// address the scan gives it ([`scan_address`]), sorted by address. Names that
/// give the same address stay in the order the directory lists them, which is
/// the order DPDK's scan reads them; DPDK's bus then holds one device for the
/// address, with what it read from the last of them.
pub fn list_device_dirs(root: &Path) -> Result<Vec<(PciAddress, PathBuf)>, SysfsError> {
    let entries = fs::read_dir(root).map_err(|e| io_error(root, e))?;
    let mut devices = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(root, e))?;
        if let Some(address) = scan_address(&entry.file_name()) {
            devices.push((address, entry.path()));
        }
    }
    // A stable sort: equal addresses keep the directory's order.
    devices.sort_by_key(|(address, _)| *address);
    Ok(devices)
}

/// The directory DPDK's scan read for `address`, out of [`list_device_dirs`]'s
/// list: the last one that gives it.
pub fn device_dir(dirs: &[(PciAddress, PathBuf)], address: PciAddress) -> Option<&Path> {
    let after = dirs.partition_point(|(a, _)| *a <= address);
    match after.checked_sub(1).map(|i| &dirs[i]) {
        Some((a, dir)) if *a == address => Some(dir),
        _ => None,
    }
}
