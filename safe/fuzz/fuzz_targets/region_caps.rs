//! The VFIO region-info decoder and its capability-chain walk: no buffer and no
//! first offset makes it read out of bounds or panic.
#![no_main]

use dpdk_safe::parse::parse_region_caps;
use dpdk_safe::parse::parse_region_info;
use dpdk_safe::RegionIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_region_info(data, RegionIndex::BAR0);
    if data.len() >= 4 {
        let first = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        if let Ok(caps) = parse_region_caps(&data[4..], first) {
            for area in caps.sparse_mmap.iter().flatten() {
                assert!(area.offset.checked_add(area.size).is_some());
            }
        }
    }
});
