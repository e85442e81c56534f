//! PCI address parsing, against DPDK's own parser: no input panics, the crate
//! accepts exactly what `rte_pci_addr_parse` accepts and stores the same
//! fields, and every accepted address prints back to a string that parses to
//! the same address.
#![no_main]

use std::ffi::CString;

use dpdk_safe::PciAddress;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = text.parse::<PciAddress>();
    let Ok(c_text) = CString::new(text) else {
        // DPDK cannot be given a NUL inside the text; the crate refuses it.
        assert!(ours.is_err(), "{text:?} has a NUL but parsed");
        return;
    };
    let mut addr = dpdk_sys::rte_pci_addr::default();
    // SAFETY: a NUL-terminated string and a live out-parameter; the function
    // only reads the one and writes the other, and needs no EAL.
    let ret = unsafe { dpdk_sys::rte_pci_addr_parse(c_text.as_ptr(), &mut addr) };
    let dpdk = (ret == 0).then_some((addr.domain, addr.bus, addr.devid, addr.function));
    let fields = ours
        .as_ref()
        .ok()
        .map(|a| (a.domain(), a.bus(), a.device(), a.function()));
    assert_eq!(fields, dpdk, "{text:?}: crate {ours:?}");
    if let Ok(address) = ours {
        let shown = address.to_string();
        assert_eq!(
            shown.parse::<PciAddress>().unwrap(),
            address,
            "{text:?} -> {shown}"
        );
    }
});
