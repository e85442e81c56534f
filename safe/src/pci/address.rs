//! PCI addresses: `domain:bus:device.function`, as DPDK parses and names them.
//!
//! [`PciAddress`] holds what DPDK's `struct rte_pci_addr` holds, and its
//! [`FromStr`] accepts exactly the strings DPDK's `rte_pci_addr_parse` accepts,
//! storing the same fields; its [`Display`](fmt::Display) is DPDK's device name
//! (`rte_pci_device_name`). Whatever DPDK's bus lists can therefore be named,
//! parsed and compared here, with no rule DPDK does not apply.

use std::ffi::c_ulong;
use std::fmt;
use std::str::FromStr;

/// A PCI function's address, e.g. `0000:00:03.0`: a 32-bit domain and 8-bit
/// bus, device and function numbers, as DPDK's `struct rte_pci_addr` stores
/// them. DPDK puts no further bound on them (a device above 0x1f or a function
/// above 7 is an address DPDK can hold and name), and neither does this type.
///
/// Parsing follows DPDK's `rte_pci_addr_parse` exactly, quirks included: the
/// long form `DOMAIN:BUS:DEVICE.FUNCTION` and the short form
/// `BUS:DEVICE.FUNCTION` (domain 0), each field read by C's `strtoul` in base
/// 16. So a field may have any number of digits, a `0x` prefix, a `+` sign or
/// leading tabs, and may even be empty when its separator follows; a field
/// must not start with a space or `-`, and its value must fit the field.
/// Non-canonical input parses to the same address as the canonical text:
/// `"0:0:3.0"` and `"00:03.0"` are both `0000:00:03.0`.
///
/// Printing gives DPDK's device name (`%.4x:%.2x:%.2x.%x`), which parses back
/// to the same address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    domain: u32,
    bus: u8,
    device: u8,
    function: u8,
}

/// One field of a PCI address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// Exhaustive on purpose: a PCI address has exactly these four fields
// (domain, bus, device, function), so matching on all of them is safe.
pub enum AddressField {
    /// The domain (segment), the first field of the long form `DDDD:BB:DD.F`; up to 32 bits.
    Domain,
    /// The bus number (8 bits).
    Bus,
    /// The device (slot) number; DPDK's parser takes up to 0xff.
    Device,
    /// The function number; DPDK's parser takes up to 0xff.
    Function,
}

impl AddressField {
    /// The largest value the field holds.
    pub fn max(self) -> u32 {
        match self {
            AddressField::Domain => u32::MAX,
            _ => u8::MAX.into(),
        }
    }

    /// What must follow the field's number: `None` for the end of the text.
    pub fn separator(self) -> Option<char> {
        match self {
            AddressField::Domain | AddressField::Bus => Some(':'),
            AddressField::Device => Some('.'),
            AddressField::Function => None,
        }
    }
}

impl fmt::Display for AddressField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressField::Domain => "domain",
            AddressField::Bus => "bus",
            AddressField::Device => "device",
            AddressField::Function => "function",
        })
    }
}

/// Why DPDK's parser refuses a PCI address string.
///
/// A string with two or more `:` is reported as the long form, any other as
/// the short form.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressErrorKind {
    /// The empty string.
    Empty,
    /// A NUL character: DPDK takes a C string, which would end there.
    Nul,
    /// The field starts with a space or a minus sign, which DPDK refuses
    /// before reading the number.
    ForbiddenStart {
        /// The field that starts wrongly.
        field: AddressField,
        /// The character it starts with (a space or `-`).
        found: char,
    },
    /// The text ends where the field should begin.
    Missing {
        /// The field that is missing.
        field: AddressField,
    },
    /// The field is not a hex number followed by its separator (`:` after the
    /// domain and the bus, `.` after the device, the end of the text after the
    /// function); `found` is what came instead, `None` for the end of the text.
    BadEnd {
        /// The field that does not end properly.
        field: AddressField,
        /// What came instead of the separator; `None` for the end of the text.
        found: Option<char>,
    },
    /// The field's value is more than it holds ([`AddressField::max`]);
    /// `value` is `None` when it does not even fit C's `unsigned long`.
    OutOfRange {
        /// The field whose value is too large.
        field: AddressField,
        /// The value as parsed, or `None` when it overflows C's `unsigned long`.
        value: Option<u64>,
    },
}

/// A string that is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PCI address {input:?}: {}", describe(.kind))]
pub struct ParseAddressError {
    /// The string that was parsed, as given.
    pub input: String,
    /// What is wrong with it.
    pub kind: AddressErrorKind,
}

fn describe(kind: &AddressErrorKind) -> String {
    let what_follows = |field: AddressField| match field.separator() {
        Some(c) => format!("followed by {c:?}"),
        None => "ending the text".to_owned(),
    };
    match kind {
        AddressErrorKind::Empty => "empty string".to_owned(),
        AddressErrorKind::Nul => "contains a NUL character".to_owned(),
        AddressErrorKind::ForbiddenStart { field, found } => {
            format!("the {field} starts with {found:?}, which DPDK refuses")
        }
        AddressErrorKind::Missing { field } => format!("the text ends before the {field}"),
        AddressErrorKind::BadEnd { field, found } => {
            let found = match found {
                Some(c) => format!("found {c:?}"),
                None => "found the end of the text".to_owned(),
            };
            format!(
                "the {field} is not a hex number {}: {found}",
                what_follows(*field)
            )
        }
        AddressErrorKind::OutOfRange { field, value } => match value {
            Some(v) => format!("the {field} 0x{v:x} is more than 0x{:x}", field.max()),
            None => format!(
                "the {field} overflows C's unsigned long, let alone 0x{:x}",
                field.max()
            ),
        },
    }
}

impl PciAddress {
    /// The address with these fields; every combination is one DPDK can hold.
    pub const fn new(domain: u32, bus: u8, device: u8, function: u8) -> Self {
        PciAddress {
            domain,
            bus,
            device,
            function,
        }
    }

    /// The domain (segment) number.
    pub fn domain(&self) -> u32 {
        self.domain
    }

    /// The bus number.
    pub fn bus(&self) -> u8 {
        self.bus
    }

    /// The device (slot) number.
    pub fn device(&self) -> u8 {
        self.device
    }

    /// The function number.
    pub fn function(&self) -> u8 {
        self.function
    }
}

/// What C's `strtoul` made of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CNumber {
    /// The value, as an `unsigned long` holds it (`c_ulong::MAX` on overflow).
    pub value: u64,
    /// The offset of the first byte not taken (0 when there was no number).
    pub end: usize,
    /// The number did not fit an `unsigned long`: `strtoul` set `ERANGE`.
    pub overflow: bool,
}

/// The largest `unsigned long` of this target (c_ulong is u32 or u64).
pub(crate) const C_ULONG_MAX: u64 = u64::MAX >> (64 - c_ulong::BITS);

/// glibc's `strtoul(text, &end, base)` in the C locale, for base 10 or 16,
/// with this target's `unsigned long`: leading white space skipped, one
/// optional sign (a `-` negates modulo 2^bits), in base 16 an optional `0x`
/// or `0X` prefix; any number of digits. `text` stands for a C string, so it
/// ends where the slice ends.
pub(crate) fn strtoul(text: &[u8], base: u32) -> CNumber {
    const NONE: CNumber = CNumber {
        value: 0,
        end: 0,
        overflow: false,
    };
    let max = C_ULONG_MAX;
    let digit = |at: usize| text.get(at).and_then(|&b| char::from(b).to_digit(base));
    let mut i = text
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .count();
    let negative = match text.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if base == 16 && text.get(i) == Some(&b'0') && matches!(text.get(i + 1), Some(b'x' | b'X')) {
        if digit(i + 2).is_none() {
            // "0x" without a hex digit after it: the number is the 0 alone.
            return CNumber {
                value: 0,
                end: i + 1,
                overflow: false,
            };
        }
        i += 2;
    }
    let first = i;
    let mut value = 0u64;
    let mut overflow = false;
    while let Some(d) = digit(i) {
        match value
            .checked_mul(base.into())
            .and_then(|v| v.checked_add(d.into()))
            .filter(|&v| v <= max)
        {
            Some(v) if !overflow => value = v,
            _ => overflow = true,
        }
        i += 1;
    }
    if i == first {
        return NONE;
    }
    if overflow {
        return CNumber {
            value: max,
            end: i,
            overflow: true,
        };
    }
    if negative {
        value = value.wrapping_neg() & max;
    }
    CNumber {
        value,
        end: i,
        overflow: false,
    }
}

/// The character at byte offset `at` of `input`, `None` at the end.
fn char_at(input: &str, at: usize) -> Option<char> {
    input.get(at..).and_then(|rest| rest.chars().next())
}

/// One field starting at `at`, read as DPDK's parser reads it; returns its
/// value and the offset after its separator. `check_empty` is DPDK's test for
/// an empty field, which it makes for the bus, device and function only.
fn field(
    input: &str,
    at: usize,
    field: AddressField,
    check_empty: bool,
) -> Result<(u64, usize), AddressErrorKind> {
    let rest = &input.as_bytes()[at..];
    match rest.first() {
        None if check_empty => return Err(AddressErrorKind::Missing { field }),
        Some(&b @ (b' ' | b'-')) => {
            return Err(AddressErrorKind::ForbiddenStart {
                field,
                found: char::from(b),
            })
        }
        _ => {}
    }
    let number = strtoul(rest, 16);
    if number.overflow {
        return Err(AddressErrorKind::OutOfRange { field, value: None });
    }
    let end = at + number.end;
    let found = char_at(input, end);
    if found != field.separator() {
        return Err(AddressErrorKind::BadEnd { field, found });
    }
    if number.value > u64::from(field.max()) {
        return Err(AddressErrorKind::OutOfRange {
            field,
            value: Some(number.value),
        });
    }
    Ok((number.value, end + 1))
}

/// Bus, device and function from `at` on.
fn bus_device_function(input: &str, at: usize) -> Result<(u8, u8, u8), AddressErrorKind> {
    let (bus, at) = field(input, at, AddressField::Bus, true)?;
    let (device, at) = field(input, at, AddressField::Device, true)?;
    let (function, _) = field(input, at, AddressField::Function, true)?;
    // field() bounded each value by the field's maximum, 0xff.
    Ok((bus as u8, device as u8, function as u8))
}

fn parse(input: &str) -> Result<PciAddress, AddressErrorKind> {
    if input.is_empty() {
        return Err(AddressErrorKind::Empty);
    }
    if input.contains('\0') {
        return Err(AddressErrorKind::Nul);
    }
    // DPDK tries the short form first, then the long one. No string is both:
    // every field's number stops at a ':', so the short form has one ':' and
    // the long form two.
    let short = bus_device_function(input, 0).map(|(b, d, f)| PciAddress::new(0, b, d, f));
    let long = || {
        let (domain, at) = field(input, 0, AddressField::Domain, false)?;
        let (b, d, f) = bus_device_function(input, at)?;
        // field() bounded the domain by u32::MAX.
        Ok(PciAddress::new(domain as u32, b, d, f))
    };
    match short {
        Ok(address) => Ok(address),
        Err(short_error) => long().map_err(|long_error| {
            if input.matches(':').count() >= 2 {
                long_error
            } else {
                short_error
            }
        }),
    }
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
    /// DPDK's device name: `%.4x:%.2x:%.2x.%x` (at least 4, 2, 2 and 1 hex digits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{strtoul, CNumber};

    fn n(value: u64, end: usize, overflow: bool) -> CNumber {
        CNumber {
            value,
            end,
            overflow,
        }
    }

    #[test]
    fn strtoul_follows_glibc() {
        let max = super::C_ULONG_MAX;
        assert_eq!(strtoul(b"", 16), n(0, 0, false));
        assert_eq!(strtoul(b"1f:", 16), n(0x1f, 2, false));
        assert_eq!(strtoul(b" \t+0x1F.", 16), n(0x1f, 7, false));
        assert_eq!(strtoul(b"0x", 16), n(0, 1, false));
        assert_eq!(strtoul(b"-0xg", 16), n(0, 2, false));
        assert_eq!(strtoul(b"0x10", 10), n(0, 1, false));
        assert_eq!(strtoul(b" -", 16), n(0, 0, false));
        assert_eq!(strtoul(b"-1", 16), n(max, 2, false));
        assert_eq!(strtoul(b"-2", 10), n(max - 1, 2, false));
        assert_eq!(strtoul(b"ff", 10), n(0, 0, false));
        let digits = if max == u64::MAX { 16 } else { 8 };
        let all = "f".repeat(digits);
        assert_eq!(strtoul(all.as_bytes(), 16), n(max, digits, false));
        let over = format!("1{all}x");
        assert_eq!(strtoul(over.as_bytes(), 16), n(max, digits + 1, true));
        let over = format!("-1{all}");
        assert_eq!(strtoul(over.as_bytes(), 16), n(max, digits + 2, true));
    }
}
