//! PCI address parsing: round trips, ordering, and every malformed form.

use dpdk_safe::pci::address::AddressErrorKind as K;
use dpdk_safe::pci::PciAddress;

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
    ] {
        let a: PciAddress = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(a.to_string(), shown);
        assert_eq!(shown.parse::<PciAddress>().unwrap(), a);
    }
    let a: PciAddress = "0002:03:04.5".parse().unwrap();
    assert_eq!(
        (a.domain(), a.bus(), a.device(), a.function()),
        (2, 3, 4, 5)
    );
    assert_eq!(PciAddress::new(2, 3, 4, 5).unwrap(), a);
    assert!(PciAddress::new(0, 0, 32, 0).is_err());
    assert!(PciAddress::new(0, 0, 0, 8).is_err());
}

#[test]
fn ordering_is_domain_bus_device_function() {
    let mut v: Vec<PciAddress> = [
        "0001:00:00.0",
        "0000:01:00.0",
        "0000:00:1f.7",
        "0000:00:02.1",
        "0000:00:02.0",
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
            "0000:01:00.0",
            "0001:00:00.0"
        ]
    );
}

#[test]
fn malformed_addresses_are_rejected_with_their_kind() {
    let domain = "domain";
    let bus = "bus";
    let device = "device";
    let function = "function";
    let cases: Vec<(&str, K)> = vec![
        ("", K::Empty),
        (" 0000:00:03.0", K::Whitespace),
        ("0000:00:03.0 ", K::Whitespace),
        ("0000:00:03.0\n", K::Whitespace),
        (":", K::WrongShape),
        ("0000:00:1f", K::WrongShape),
        ("0000", K::WrongShape),
        ("0000:00:00:00.0", K::WrongShape),
        ("00.0", K::WrongShape),
        ("0000:00:1f.8", K::FunctionOutOfRange(8)),
        ("0000:00:1f.f", K::FunctionOutOfRange(15)),
        ("0000:00:20.0", K::DeviceOutOfRange(0x20)),
        ("0000:00:ff.0", K::DeviceOutOfRange(0xff)),
        ("g000:00:00.0", K::NotHex { field: domain }),
        ("0000:0g:00.0", K::NotHex { field: bus }),
        ("0000:00:0z.0", K::NotHex { field: device }),
        ("0000:00:00.x", K::NotHex { field: function }),
        ("+000:00:00.0", K::NotHex { field: domain }),
        ("-000:00:00.0", K::NotHex { field: domain }),
        ("0000:00:00.-1", K::NotHex { field: function }),
        ("0000:+0:00.0", K::NotHex { field: bus }),
        ("0x00:00:00.0", K::NotHex { field: domain }),
        ("٠٠٠٠:00:00.0", K::NotHex { field: domain }),
        ("0000:00:0\u{0}.0", K::NotHex { field: device }),
        (
            "123456789:00:00.0",
            K::FieldTooLong {
                field: domain,
                max_digits: 8,
            },
        ),
        (
            "0000:000:00.0",
            K::FieldTooLong {
                field: bus,
                max_digits: 2,
            },
        ),
        (
            "0000:00:000.0",
            K::FieldTooLong {
                field: device,
                max_digits: 2,
            },
        ),
        (
            "0000:00:00.00",
            K::FieldTooLong {
                field: function,
                max_digits: 1,
            },
        ),
        (":00:00.0", K::FieldEmpty { field: domain }),
        ("0000::00.0", K::FieldEmpty { field: bus }),
        ("0000:00:.0", K::FieldEmpty { field: device }),
        ("0000:00:00.", K::FieldEmpty { field: function }),
        ("0000:00:00.0.0", K::NotHex { field: device }),
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
}

#[test]
fn error_messages_say_what_is_wrong() {
    let msg = |s: &str| s.parse::<PciAddress>().unwrap_err().to_string();
    assert_eq!(
        msg("0000:00:20.0"),
        r#"invalid PCI address "0000:00:20.0": device 0x20 is out of range (0..=0x1f)"#
    );
    assert_eq!(
        msg("0000:00:00.9"),
        r#"invalid PCI address "0000:00:00.9": function 0x9 is out of range (0..=7)"#
    );
    assert_eq!(
        msg("0000:0g:00.0"),
        r#"invalid PCI address "0000:0g:00.0": the bus is not hexadecimal"#
    );
}
