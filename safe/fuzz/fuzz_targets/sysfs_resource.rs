//! The sysfs `resource` parser: no input panics, and every BAR it returns is
//! consistent (non-empty, end inside u64, index in range).
#![no_main]

use dpdk_safe::parse::parse_resource;
use dpdk_safe::RegionIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((bars, rom)) = parse_resource(text) {
            for (i, bar) in bars.iter().enumerate() {
                if let Some(bar) = bar {
                    assert_eq!(bar.region, RegionIndex::bar(i as u32).unwrap());
                    assert!(bar.len > 0 && bar.start.checked_add(bar.len - 1).is_some());
                }
            }
            if let Some(rom) = rom {
                assert_eq!(rom.region, RegionIndex::Rom);
            }
        }
    }
});
