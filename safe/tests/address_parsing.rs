//! PCI address parsing: round trips, ordering, DPDK's quirks, every refused
//! form, and the same verdict and fields as DPDK's own `rte_pci_addr_parse`
//! on a table of tricky inputs and a few thousand generated ones.

use std::ffi::{c_ulong, CStr, CString};

use dpdk_safe::PciAddress;
use dpdk_safe::{AddressErrorKind as K, AddressField as F};

const WIDE_ULONG: bool = std::mem::size_of::<c_ulong>() == 8;

/// Domain, bus, device and function.
type Fields = (u32, u8, u8, u8);

fn fields(a: PciAddress) -> Fields {
    (a.domain(), a.bus(), a.device(), a.function())
}

#[test]
fn long_and_short_forms_round_trip() {
    for (text, shown) in [
        ("0000:00:03.0", "0000:00:03.0"),
        ("00:03.0", "0000:00:03.0"),
        ("ABCD:EF:1f.7", "abcd:ef:1f.7"),
        ("0001:ff:00.1", "0001:ff:00.1"),
        ("10000:00:00.0", "10000:00:00.0"),
        ("ffffffff:ff:1f.7", "ffffffff:ff:1f.7"),
        ("0:0:0.0", "0000:00:00.0"),
        ("0:0:3.0", "0000:00:03.0"),
        // DPDK stores any 8-bit device and function.
        ("0000:02:ab.0", "0000:02:ab.0"),
        ("0000:00:20.0", "0000:00:20.0"),
        ("0000:00:1f.8", "0000:00:1f.8"),
        ("0000:00:00.ff", "0000:00:00.ff"),
        ("ffffffff:ff:ff.ff", "ffffffff:ff:ff.ff"),
    ] {
        let a: PciAddress = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(a.to_string(), shown);
        assert_eq!(shown.parse::<PciAddress>().unwrap(), a);
    }
    let a: PciAddress = "0002:03:04.5".parse().unwrap();
    assert_eq!(fields(a), (2, 3, 4, 5));
    assert_eq!(PciAddress::new(2, 3, 4, 5), a);
    assert_eq!(PciAddress::new(0, 0, 32, 0).to_string(), "0000:00:20.0");
    assert_eq!(PciAddress::new(0, 0, 0, 8).to_string(), "0000:00:00.8");
}

#[test]
fn ordering_is_domain_bus_device_function() {
    let mut v: Vec<PciAddress> = [
        "0001:00:00.0",
        "0000:01:00.0",
        "0000:00:1f.7",
        "0000:00:02.1",
        "0000:00:02.0",
        "0000:00:ff.ff",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    v.sort();
    let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "0000:00:02.0",
            "0000:00:02.1",
            "0000:00:1f.7",
            "0000:00:ff.ff",
            "0000:01:00.0",
            "0001:00:00.0"
        ]
    );
}

#[test]
fn dpdks_quirks_are_accepted_and_stored_as_dpdk_stores_them() {
    let minus_one_domain = if WIDE_ULONG { None } else { Some(u32::MAX) };
    let cases: Vec<(&str, Option<Fields>)> = vec![
        ("0x0:0x0:0x3.0x7", Some((0, 0, 3, 7))),
        ("0X1:0Xa:0XB.0Xc", Some((1, 0xa, 0xb, 0xc))),
        ("+1:+2:+3.+4", Some((1, 2, 3, 4))),
        ("\t1:\n2:\x0b3.\x0c4", Some((1, 2, 3, 4))),
        ("\r+0x1f:\t+0xff.+0xff", Some((0, 0x1f, 0xff, 0xff))),
        ("00000000000000000001:02:03.4", Some((1, 2, 3, 4))),
        ("::.0", Some((0, 0, 0, 0))),
        (":.0", Some((0, 0, 0, 0))),
        ("0x:0x.0", None),
        ("1:2:3.", None),
        ("\t-0:\t-0.\t-0", Some((0, 0, 0, 0))),
        ("\t-1:00.0", None),
        ("\t-1:00:00.0", minus_one_domain.map(|d| (d, 0, 0, 0))),
        ("100000000:00:00.0", None),
        ("00:100.0", None),
    ];
    for (input, want) in cases {
        let got = input.parse::<PciAddress>().map(fields);
        assert_eq!(got.as_ref().ok(), want.as_ref(), "{input:?}: {got:?}");
    }
}

#[test]
fn malformed_addresses_are_rejected_with_their_kind() {
    let start = |field, found| K::ForbiddenStart { field, found };
    let end = |field, found| K::BadEnd { field, found };
    let range = |field, value| K::OutOfRange {
        field,
        value: Some(value),
    };
    let cases: Vec<(&str, K)> = vec![
        ("", K::Empty),
        ("0000:00:0\u{0}.0", K::Nul),
        (" 0000:00:03.0", start(F::Domain, ' ')),
        (" 00:03.0", start(F::Bus, ' ')),
        ("-0:00:03.0", start(F::Domain, '-')),
        ("0000:-0:03.0", start(F::Bus, '-')),
        ("0000:00: 3.0", start(F::Device, ' ')),
        ("0000:00:00.-1", start(F::Function, '-')),
        ("0000:00:03.0 ", end(F::Function, Some(' '))),
        ("0000:00:03.0\n", end(F::Function, Some('\n'))),
        (":", K::Missing { field: F::Device }),
        ("0000:", K::Missing { field: F::Device }),
        ("0000:00:", K::Missing { field: F::Device }),
        ("0000:00:00.", K::Missing { field: F::Function }),
        ("0000:00:1f", end(F::Device, None)),
        ("0000", end(F::Bus, None)),
        ("00.0", end(F::Bus, Some('.'))),
        ("0000:00:00:00.0", end(F::Device, Some(':'))),
        ("0000:00:00.0.0", end(F::Function, Some('.'))),
        ("g000:00:00.0", end(F::Domain, Some('g'))),
        ("0000:0g:00.0", end(F::Bus, Some('g'))),
        ("0000:00:0z.0", end(F::Device, Some('z'))),
        ("0000:00:00.x", end(F::Function, Some('x'))),
        ("+-0:00:00.0", end(F::Domain, Some('+'))),
        ("٠٠٠٠:00:00.0", end(F::Domain, Some('٠'))),
        ("0000:00:０3.0", end(F::Device, Some('０'))),
        ("0000:100:00.0", range(F::Bus, 0x100)),
        ("00:00.100", range(F::Function, 0x100)),
        (
            "0000:00:\t-1.0",
            range(F::Device, u64::MAX >> (64 - c_ulong::BITS)),
        ),
        (
            "fffffffffffffffff:00:00.0",
            K::OutOfRange {
                field: F::Domain,
                value: None,
            },
        ),
    ];
    assert!(cases.len() >= 30);
    for (input, kind) in cases {
        let err = input.parse::<PciAddress>().expect_err(input);
        assert_eq!(err.kind, kind, "input {input:?}");
        assert_eq!(err.input, input);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("invalid PCI address {input:?}: ")),
            "{text}"
        );
    }
    // Wider than the domain but within a 64-bit unsigned long.
    let err = "123456789:00:00.0".parse::<PciAddress>().unwrap_err();
    let value = WIDE_ULONG.then_some(0x1_2345_6789);
    assert_eq!(
        err.kind,
        K::OutOfRange {
            field: F::Domain,
            value
        }
    );
}

#[test]
fn error_messages_say_what_is_wrong() {
    let msg = |s: &str| s.parse::<PciAddress>().unwrap_err().to_string();
    assert_eq!(
        msg("0000:00:100.0"),
        r#"invalid PCI address "0000:00:100.0": the device 0x100 is more than 0xff"#
    );
    assert_eq!(
        msg("0000:0g:00.0"),
        r#"invalid PCI address "0000:0g:00.0": the bus is not a hex number followed by ':': found 'g'"#
    );
    assert_eq!(
        msg("0000:00:00.0\n"),
        r#"invalid PCI address "0000:00:00.0\n": the function is not a hex number ending the text: found '\n'"#
    );
    assert_eq!(
        msg("0000:00:03"),
        r#"invalid PCI address "0000:00:03": the device is not a hex number followed by '.': found the end of the text"#
    );
    assert_eq!(
        msg(" 00:03.0"),
        r#"invalid PCI address " 00:03.0": the bus starts with ' ', which DPDK refuses"#
    );
    assert_eq!(
        msg("0000:00:03."),
        r#"invalid PCI address "0000:00:03.": the text ends before the function"#
    );
    assert_eq!(
        msg("0:0:0.0\0"),
        r#"invalid PCI address "0:0:0.0\0": contains a NUL character"#
    );
    assert_eq!(
        msg("1ffffffffffffffff:0:0.0"),
        r#"invalid PCI address "1ffffffffffffffff:0:0.0": the domain overflows C's unsigned long, let alone 0xffffffff"#
    );
}

// ------------------------------------------------------------ against DPDK

/// DPDK's verdict on `input`: the fields it stored, or `None` if it refused.
fn dpdk_parse(input: &str) -> Option<Fields> {
    let c = CString::new(input).expect("no NUL in generated inputs");
    let mut addr = dpdk_sys::rte_pci_addr::default();
    // SAFETY: a NUL-terminated string and a live out-parameter; the function
    // only reads the one and writes the other, and needs no EAL.
    let ret = unsafe { dpdk_sys::rte_pci_addr_parse(c.as_ptr(), &mut addr) };
    (ret == 0).then_some((addr.domain, addr.bus, addr.devid, addr.function))
}

/// DPDK's device name for `a` (`rte_pci_device_name`).
fn dpdk_name(a: PciAddress) -> String {
    let addr = dpdk_sys::rte_pci_addr {
        domain: a.domain(),
        bus: a.bus(),
        devid: a.device(),
        function: a.function(),
    };
    // The size DPDK's PCI bus gives device names (PCI_PRI_STR_SIZE + 1).
    let mut buf = [0 as std::ffi::c_char; 18];
    // SAFETY: the buffer is larger than PCI_PRI_STR_SIZE, as the function
    // requires, and it writes at most buf.len() bytes, NUL included.
    unsafe { dpdk_sys::rte_pci_device_name(&addr, buf.as_mut_ptr(), buf.len()) };
    // SAFETY: snprintf NUL-terminated the buffer.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

fn assert_agrees(input: &str) -> bool {
    let ours = input.parse::<PciAddress>();
    let dpdk = dpdk_parse(input);
    assert_eq!(
        ours.as_ref().ok().copied().map(fields),
        dpdk,
        "{input:?}: crate {ours:?}, DPDK {dpdk:?}"
    );
    if let Ok(a) = ours {
        assert_eq!(a.to_string().parse::<PciAddress>().unwrap(), a, "{input:?}");
    }
    dpdk.is_some()
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// One field as strtoul might see it: mostly plain hex digits, sometimes
/// with white space, a sign, a prefix, many digits or a stray character.
fn generated_field(rng: &mut Rng, domain: bool) -> String {
    let mut s = String::new();
    if rng.below(12) == 0 {
        s += rng.pick(&[" ", "\t", "\t\t", "\n", "\r"]);
    }
    if rng.below(12) == 0 {
        s += rng.pick(&["+", "-"]);
    }
    if rng.below(8) == 0 {
        s += rng.pick(&["0x", "0X", "x", "0"]);
    }
    let len = if domain {
        [0, 1, 2, 4, 4, 4, 5, 8, 8, 9, 16, 17][rng.below(12)]
    } else {
        [0, 1, 1, 2, 2, 2, 2, 2, 3, 9, 17][rng.below(11)]
    };
    let set = if rng.below(4) == 0 {
        "0001"
    } else {
        "0123456789abcdefABCDEF"
    };
    for _ in 0..len {
        let i = rng.below(set.len());
        s += &set[i..=i];
    }
    if rng.below(16) == 0 {
        s += rng.pick(&["g", " ", "x", "-"]);
    }
    s
}

/// The separator `right`, or now and then one of `wrong`.
fn separator(rng: &mut Rng, right: &'static str, wrong: &[&'static str]) -> &'static str {
    if rng.below(10) == 0 {
        rng.pick(wrong)
    } else {
        right
    }
}

#[test]
fn parse_agrees_with_rte_pci_addr_parse() {
    let table = [
        "",
        ":",
        "::",
        ":::",
        ".",
        ":.",
        ":.0",
        "::.0",
        ":::.0",
        "0:0.0",
        "0:0:0.0",
        "0000:00:03.0",
        "00:03.0",
        "0000:00:03.0 ",
        " 0000:00:03.0",
        "\t0000:00:03.0",
        "\n00:03.0",
        "0000:00:03.0\n",
        "-0:00:03.0",
        "\t-0:00:03.0",
        "\t-1:00:03.0",
        "\t-ffffffff:00:03.0",
        "\t-100000000:00:03.0",
        "+0:+0:+0.+0",
        "++0:0:0.0",
        "+-0:0:0.0",
        "0x:0:0.0",
        "0x0:0x0:0x0.0x0",
        "0X1F:0XFF:0XFF.0XFF",
        "0xg:0:0.0",
        "00x1:0:0.0",
        "ffffffff:ff:ff.ff",
        "100000000:0:0.0",
        "ffffffffffffffff:0:0.0",
        "10000000000000000:0:0.0",
        "0:100:0.0",
        "0:0:100.0",
        "0:0:0.100",
        "0:0:0.-0",
        "0:0:0.\t-0",
        "0:0:0.\t-1",
        "0:0:0.\t+1",
        "0:0:0. 1",
        "0:0:0.1 ",
        "0:0:0.1.",
        "0:0:0:0.0",
        "0:0.0:0",
        "0.0:0:0",
        "0000:00:1f",
        "0000",
        "g:0:0.0",
        "0:g:0.0",
        "0:0:g.0",
        "0:0:0.g",
        "00000000000000000000000000000001:0:0.0",
        "0:0:0.00000000000000000000000000000ff",
        "\u{b}0:\u{c}0:\r0.\t0",
        "٠:0:0.0",
        "0:0:0.٠",
        "é:0:0.0",
        "0\t:0:0.0",
        "0 :0:0.0",
    ];
    for input in table {
        assert_agrees(input);
    }

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let chars = b"0123456789abcdefABCDEFxX:.+- \t";
    for _ in 0..3000 {
        // Free-form strings of the characters that matter.
        let len = rng.below(18);
        let s: String = (0..len)
            .map(|_| char::from(chars[rng.below(chars.len())]))
            .collect();
        accepted += usize::from(assert_agrees(&s));
    }
    for _ in 0..6000 {
        // Strings shaped like addresses, one field at a time.
        let mut s = String::new();
        if rng.below(2) == 0 {
            s += &generated_field(&mut rng, true);
            s += separator(&mut rng, ":", &[".", "", "::"]);
        }
        s += &generated_field(&mut rng, false);
        s += separator(&mut rng, ":", &[".", "", "::"]);
        s += &generated_field(&mut rng, false);
        s += separator(&mut rng, ".", &[":", "", ".."]);
        s += &generated_field(&mut rng, false);
        accepted += usize::from(assert_agrees(&s));
    }
    println!("{accepted} of 9000 generated inputs accepted by both");
    assert!(
        (800..8200).contains(&accepted),
        "{accepted} of 9000 generated inputs accepted: too few of one verdict"
    );
}

#[test]
fn display_is_rte_pci_device_name() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut addresses = vec![
        PciAddress::new(0, 0, 0, 0),
        PciAddress::new(u32::MAX, u8::MAX, u8::MAX, u8::MAX),
        PciAddress::new(0x1_0000, 0, 0x20, 0x10),
    ];
    for _ in 0..2000 {
        let r = rng.next();
        let domain = match r % 3 {
            0 => 0,
            1 => (r >> 8) as u32 & 0xffff,
            _ => (r >> 8) as u32,
        };
        let [bus, device, function, ..] = rng.next().to_le_bytes();
        addresses.push(PciAddress::new(domain, bus, device, function));
    }
    for a in addresses {
        let name = dpdk_name(a);
        assert_eq!(a.to_string(), name);
        assert_eq!(name.parse::<PciAddress>().unwrap(), a);
        assert_eq!(dpdk_parse(&name), Some(fields(a)));
    }
}
