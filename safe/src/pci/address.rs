//! PCI addresses: `domain:bus:device.function`.

use std::fmt;
use std::str::FromStr;

/// A PCI function's address, e.g. `0000:00:03.0`.
///
/// Parsed from the long form `DDDD:BB:DD.F` (Linux and DPDK allow domains of up
/// to 32 bits, so 4 to 8 hex digits) or the short form `BB:DD.F` (domain 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    domain: u32,
    bus: u8,
    device: u8,
    function: u8,
}

/// What was wrong with a PCI address string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressErrorKind {
    Empty,
    /// Surrounding whitespace is rejected rather than silently trimmed.
    Whitespace,
    /// Not `DDDD:BB:DD.F` or `BB:DD.F`.
    WrongShape,
    /// A field holds something other than hex digits.
    NotHex {
        field: &'static str,
    },
    /// A field has more digits than its width allows.
    FieldTooLong {
        field: &'static str,
        max_digits: usize,
    },
    /// A field is empty.
    FieldEmpty {
        field: &'static str,
    },
    DeviceOutOfRange(u32),
    FunctionOutOfRange(u32),
}

/// A string that is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PCI address {input:?}: {}", describe(.kind))]
pub struct ParseAddressError {
    pub input: String,
    pub kind: AddressErrorKind,
}

fn describe(kind: &AddressErrorKind) -> String {
    match kind {
        AddressErrorKind::Empty => "empty string".to_owned(),
        AddressErrorKind::Whitespace => "leading or trailing whitespace".to_owned(),
        AddressErrorKind::WrongShape => "expected DDDD:BB:DD.F or BB:DD.F (hex digits)".to_owned(),
        AddressErrorKind::NotHex { field } => format!("the {field} is not hexadecimal"),
        AddressErrorKind::FieldTooLong { field, max_digits } => {
            format!("the {field} has more than {max_digits} hex digits")
        }
        AddressErrorKind::FieldEmpty { field } => format!("the {field} is empty"),
        AddressErrorKind::DeviceOutOfRange(d) => {
            format!("device 0x{d:x} is out of range (0..=0x1f)")
        }
        AddressErrorKind::FunctionOutOfRange(f) => {
            format!("function 0x{f:x} is out of range (0..=7)")
        }
    }
}

impl PciAddress {
    /// Builds an address, checking the device (0..=31) and function (0..=7).
    pub fn new(domain: u32, bus: u8, device: u8, function: u8) -> Result<Self, ParseAddressError> {
        let input = format!("{domain:04x}:{bus:02x}:{device:02x}.{function:x}");
        if device > 0x1f {
            return Err(ParseAddressError {
                input,
                kind: AddressErrorKind::DeviceOutOfRange(device.into()),
            });
        }
        if function > 7 {
            return Err(ParseAddressError {
                input,
                kind: AddressErrorKind::FunctionOutOfRange(function.into()),
            });
        }
        Ok(PciAddress {
            domain,
            bus,
            device,
            function,
        })
    }

    pub fn domain(&self) -> u32 {
        self.domain
    }

    pub fn bus(&self) -> u8 {
        self.bus
    }

    pub fn device(&self) -> u8 {
        self.device
    }

    pub fn function(&self) -> u8 {
        self.function
    }
}

/// Parses one hex field of at most `max_digits` ASCII hex digits.
fn hex_field(text: &str, field: &'static str, max_digits: usize) -> Result<u32, AddressErrorKind> {
    if text.is_empty() {
        return Err(AddressErrorKind::FieldEmpty { field });
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressErrorKind::NotHex { field });
    }
    if text.len() > max_digits {
        return Err(AddressErrorKind::FieldTooLong { field, max_digits });
    }
    // At most 8 hex digits: always fits in u32.
    u32::from_str_radix(text, 16).map_err(|_| AddressErrorKind::NotHex { field })
}

fn parse(input: &str) -> Result<PciAddress, AddressErrorKind> {
    if input.is_empty() {
        return Err(AddressErrorKind::Empty);
    }
    if input.trim() != input {
        return Err(AddressErrorKind::Whitespace);
    }
    let (head, function) = input.rsplit_once('.').ok_or(AddressErrorKind::WrongShape)?;
    let parts: Vec<&str> = head.split(':').collect();
    let (domain, bus, device) = match parts.as_slice() {
        [domain, bus, device] => (hex_field(domain, "domain", 8)?, *bus, *device),
        [bus, device] => (0, *bus, *device),
        _ => return Err(AddressErrorKind::WrongShape),
    };
    let bus = hex_field(bus, "bus", 2)?;
    let device = hex_field(device, "device", 2)?;
    let function = hex_field(function, "function", 1)?;
    if device > 0x1f {
        return Err(AddressErrorKind::DeviceOutOfRange(device));
    }
    if function > 7 {
        return Err(AddressErrorKind::FunctionOutOfRange(function));
    }
    // The checks above bound each value to its field's width.
    Ok(PciAddress {
        domain,
        bus: bus as u8,
        device: device as u8,
        function: function as u8,
    })
}

impl FromStr for PciAddress {
    type Err = ParseAddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input).map_err(|kind| ParseAddressError {
            input: input.to_owned(),
            kind,
        })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}
