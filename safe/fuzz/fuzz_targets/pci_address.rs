//! PCI address parsing: no input panics, and every accepted address prints back
//! to a string that parses to the same address.
#![no_main]

use dpdk_safe::pci::PciAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(address) = text.parse::<PciAddress>() {
            let shown = address.to_string();
            assert_eq!(
                shown.parse::<PciAddress>().unwrap(),
                address,
                "{text:?} -> {shown}"
            );
        }
    }
});
