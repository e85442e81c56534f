//! The capability chain of `VFIO_DEVICE_GET_REGION_INFO`, parsed with bounds
//! checks against the buffer the kernel filled.
//!
//! The chain is a linked list inside the buffer: each capability starts with a
//! header `{ u16 id; u16 version; u32 next; }`, where `next` is the offset of the
//! following capability from the start of the buffer, 0 at the end. Every offset
//! is checked before it is read, and a chain longer than the buffer could hold
//! (a cycle) is an error.

use std::mem::{offset_of, size_of};

use crate::io::region::SparseArea;

use dpdk_sys::{
    vfio_info_cap_header, vfio_region_info, vfio_region_info_cap_sparse_mmap,
    vfio_region_info_cap_type, vfio_region_sparse_mmap_area,
};

/// `struct vfio_region_info` is 32 bytes; capabilities follow it.
pub const REGION_INFO_HEADER_LEN: usize = 32;
const CAP_HEADER_LEN: usize = 8;
const CAP_SPARSE_MMAP: u16 = 1;
const CAP_TYPE: u16 = 2;
const CAP_MSIX_MAPPABLE: u16 = 3;

// The walk below reads fields at fixed byte offsets; these are the kernel's
// layouts as bindgen saw them in linux/vfio.h, so a mismatch does not compile.
const _: () = {
    assert!(size_of::<vfio_region_info>() == REGION_INFO_HEADER_LEN);
    assert!(offset_of!(vfio_region_info, cap_offset) == 12);
    assert!(offset_of!(vfio_region_info, size) == 16);
    assert!(offset_of!(vfio_region_info, offset) == 24);
    assert!(size_of::<vfio_info_cap_header>() == CAP_HEADER_LEN);
    assert!(offset_of!(vfio_info_cap_header, next) == 4);
    assert!(offset_of!(vfio_region_info_cap_sparse_mmap, nr_areas) == 8);
    assert!(size_of::<vfio_region_info_cap_sparse_mmap>() == 16);
    assert!(size_of::<vfio_region_sparse_mmap_area>() == 16);
    assert!(offset_of!(vfio_region_info_cap_type, type_) == 8);
    assert!(offset_of!(vfio_region_info_cap_type, subtype) == 12);
    assert!(dpdk_sys::VFIO_REGION_INFO_CAP_SPARSE_MMAP == CAP_SPARSE_MMAP as u32);
    assert!(dpdk_sys::VFIO_REGION_INFO_CAP_TYPE == CAP_TYPE as u32);
    assert!(dpdk_sys::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE == CAP_MSIX_MAPPABLE as u32);
};

/// What the capability chain says about a region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionCaps {
    /// Only these areas may be mapped (`VFIO_REGION_INFO_CAP_SPARSE_MMAP`).
    pub sparse_mmap: Option<Vec<SparseArea>>,
    /// The MSI-X table in this BAR may be mapped too (`..._CAP_MSIX_MAPPABLE`).
    pub msix_mappable: bool,
    /// Device-specific region type and subtype (`..._CAP_TYPE`).
    pub region_type: Option<(u32, u32)>,
    /// Every capability seen, as `(id, version)`, known or not.
    pub raw: Vec<(u16, u16)>,
}

/// A capability chain that does not fit its buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapChainError {
    /// A capability offset points into the fixed `vfio_region_info` header.
    #[error("capability at offset {offset} lies inside the fixed region-info header")]
    InsideHeader {
        /// The capability's offset in the buffer, in bytes.
        offset: u32,
    },
    /// A capability offset is not a multiple of 8.
    #[error("capability at offset {offset} is not 8-byte aligned")]
    Unaligned {
        /// The capability's offset in the buffer, in bytes.
        offset: u32,
    },
    /// A capability runs past the end of the buffer.
    #[error("capability at offset {offset} needs {needed} bytes, the buffer has {len}")]
    Truncated {
        /// The capability's offset in the buffer, in bytes.
        offset: u32,
        /// The buffer length the capability needs (its end offset), in bytes.
        needed: u64,
        /// The buffer's length, in bytes.
        len: usize,
    },
    /// The chain has more entries than the buffer could hold, so it loops.
    #[error("capability chain loops (more than {max} entries)")]
    Cycle {
        /// The most capability headers the buffer could hold.
        max: usize,
    },
    /// A sparse-mmap capability claims more areas than the rest of the buffer holds.
    #[error("sparse-mmap capability at offset {offset} claims {areas} areas, more than fit")]
    TooManyAreas {
        /// The capability's offset in the buffer, in bytes.
        offset: u32,
        /// The number of areas it claims.
        areas: u32,
    },
    /// A sparse-mmap area whose offset plus size overflows `u64`.
    #[error("sparse-mmap area {area} overflows: offset 0x{offset:x} + size 0x{size:x}")]
    AreaOverflow {
        /// The area's index in the capability, from 0.
        area: usize,
        /// The area's offset in the region, in bytes.
        offset: u64,
        /// The area's size, in bytes.
        size: u64,
    },
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Checks that `len` bytes at `offset` lie inside `buf`; returns the start index.
fn span(buf: &[u8], offset: u32, len: u64) -> Result<usize, CapChainError> {
    let end = u64::from(offset) + len;
    if end > buf.len() as u64 {
        return Err(CapChainError::Truncated {
            offset,
            needed: end,
            len: buf.len(),
        });
    }
    Ok(offset as usize)
}

/// Walks the chain that starts at `first` (the `cap_offset` field; 0 = none).
pub fn parse_region_caps(buf: &[u8], first: u32) -> Result<RegionCaps, CapChainError> {
    let mut caps = RegionCaps::default();
    let max = buf.len() / CAP_HEADER_LEN;
    let mut offset = first;
    while offset != 0 {
        if caps.raw.len() >= max {
            return Err(CapChainError::Cycle { max });
        }
        if (offset as usize) < REGION_INFO_HEADER_LEN {
            return Err(CapChainError::InsideHeader { offset });
        }
        if offset % 8 != 0 {
            return Err(CapChainError::Unaligned { offset });
        }
        let at = span(buf, offset, CAP_HEADER_LEN as u64)?;
        let (id, version, next) = (u16_at(buf, at), u16_at(buf, at + 2), u32_at(buf, at + 4));
        caps.raw.push((id, version));
        match id {
            CAP_SPARSE_MMAP => caps.sparse_mmap = Some(parse_sparse(buf, offset)?),
            CAP_TYPE => {
                let at = span(buf, offset, CAP_HEADER_LEN as u64 + 8)?;
                caps.region_type = Some((u32_at(buf, at + 8), u32_at(buf, at + 12)));
            }
            CAP_MSIX_MAPPABLE => caps.msix_mappable = true,
            _ => {}
        }
        offset = next;
    }
    Ok(caps)
}

/// `{ header; u32 nr_areas; u32 reserved; { u64 offset; u64 size; } areas[]; }`
fn parse_sparse(buf: &[u8], offset: u32) -> Result<Vec<SparseArea>, CapChainError> {
    let at = span(buf, offset, CAP_HEADER_LEN as u64 + 8)?;
    let count = u32_at(buf, at + 8);
    let available = (buf.len() - at - 16) / 16;
    if count as usize > available {
        return Err(CapChainError::TooManyAreas {
            offset,
            areas: count,
        });
    }
    (0..count as usize)
        .map(|i| {
            let base = at + 16 + i * 16;
            let area = SparseArea {
                offset: u64_at(buf, base),
                size: u64_at(buf, base + 8),
            };
            match area.offset.checked_add(area.size) {
                Some(_) => Ok(area),
                None => Err(CapChainError::AreaOverflow {
                    area: i,
                    offset: area.offset,
                    size: area.size,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer with a 32-byte header and room for capabilities.
    fn buffer(len: usize) -> Vec<u8> {
        vec![0; len]
    }

    fn put_header(buf: &mut [u8], at: usize, id: u16, version: u16, next: u32) {
        buf[at..at + 2].copy_from_slice(&id.to_ne_bytes());
        buf[at + 2..at + 4].copy_from_slice(&version.to_ne_bytes());
        buf[at + 4..at + 8].copy_from_slice(&next.to_ne_bytes());
    }

    fn put_sparse(buf: &mut [u8], at: usize, next: u32, areas: &[(u64, u64)]) {
        put_header(buf, at, CAP_SPARSE_MMAP, 1, next);
        buf[at + 8..at + 12].copy_from_slice(&(areas.len() as u32).to_ne_bytes());
        for (i, (o, s)) in areas.iter().enumerate() {
            let b = at + 16 + i * 16;
            buf[b..b + 8].copy_from_slice(&o.to_ne_bytes());
            buf[b + 8..b + 16].copy_from_slice(&s.to_ne_bytes());
        }
    }

    #[test]
    fn no_chain() {
        assert_eq!(
            parse_region_caps(&buffer(32), 0).unwrap(),
            RegionCaps::default()
        );
    }

    #[test]
    fn sparse_then_msix_then_type() {
        let mut buf = buffer(32 + 48 + 8 + 16);
        put_sparse(&mut buf, 32, 80, &[(0, 0x3000), (0x4000, 0xc000)]);
        put_header(&mut buf, 80, CAP_MSIX_MAPPABLE, 1, 88);
        put_header(&mut buf, 88, CAP_TYPE, 1, 0);
        buf[96..100].copy_from_slice(&7u32.to_ne_bytes());
        buf[100..104].copy_from_slice(&9u32.to_ne_bytes());
        let caps = parse_region_caps(&buf, 32).unwrap();
        assert_eq!(
            caps.sparse_mmap.unwrap(),
            [
                SparseArea {
                    offset: 0,
                    size: 0x3000
                },
                SparseArea {
                    offset: 0x4000,
                    size: 0xc000
                }
            ]
        );
        assert!(caps.msix_mappable);
        assert_eq!(caps.region_type, Some((7, 9)));
        assert_eq!(caps.raw, [(1, 1), (3, 1), (2, 1)]);
    }

    #[test]
    fn unknown_capabilities_are_kept_raw() {
        let mut buf = buffer(48);
        put_header(&mut buf, 32, 0x77, 3, 40);
        put_header(&mut buf, 40, 0x78, 1, 0);
        assert_eq!(
            parse_region_caps(&buf, 32).unwrap().raw,
            [(0x77, 3), (0x78, 1)]
        );
    }

    #[test]
    fn malformed_chains_are_errors() {
        let buf = buffer(64);
        assert_eq!(
            parse_region_caps(&buf, 8),
            Err(CapChainError::InsideHeader { offset: 8 })
        );
        assert_eq!(
            parse_region_caps(&buf, 36),
            Err(CapChainError::Unaligned { offset: 36 })
        );
        assert!(matches!(
            parse_region_caps(&buf, 64),
            Err(CapChainError::Truncated { .. })
        ));
        assert!(matches!(
            parse_region_caps(&buf, 0xffff_fff8),
            Err(CapChainError::Truncated { .. })
        ));

        // A header that ends past the buffer.
        let mut short = buffer(36);
        short[32] = 1;
        assert!(matches!(
            parse_region_caps(&short, 32),
            Err(CapChainError::Truncated { .. })
        ));

        // A capability pointing at itself, and a two-entry loop.
        let mut cycle = buffer(48);
        put_header(&mut cycle, 32, 0x77, 1, 32);
        assert!(matches!(
            parse_region_caps(&cycle, 32),
            Err(CapChainError::Cycle { .. })
        ));
        put_header(&mut cycle, 32, 0x77, 1, 40);
        put_header(&mut cycle, 40, 0x77, 1, 32);
        assert!(matches!(
            parse_region_caps(&cycle, 32),
            Err(CapChainError::Cycle { .. })
        ));

        // next pointing into the middle of the chain, unaligned.
        let mut bad_next = buffer(48);
        put_header(&mut bad_next, 32, 0x77, 1, 44);
        assert_eq!(
            parse_region_caps(&bad_next, 32),
            Err(CapChainError::Unaligned { offset: 44 })
        );

        // Sparse mmap with more areas than the buffer holds, or none of its fields.
        let mut sparse = buffer(32 + 16 + 16);
        put_sparse(&mut sparse, 32, 0, &[(0, 0x1000)]);
        sparse[40..44].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(
            parse_region_caps(&sparse, 32),
            Err(CapChainError::TooManyAreas {
                offset: 32,
                areas: 2
            })
        );
        sparse[40..44].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            parse_region_caps(&sparse, 32),
            Err(CapChainError::TooManyAreas { .. })
        ));
        let mut no_count = buffer(40);
        put_header(&mut no_count, 32, CAP_SPARSE_MMAP, 1, 0);
        assert!(matches!(
            parse_region_caps(&no_count, 32),
            Err(CapChainError::Truncated { .. })
        ));

        // An area whose end overflows u64.
        let mut overflow = buffer(32 + 32);
        put_sparse(&mut overflow, 32, 0, &[(u64::MAX - 1, 2)]);
        assert!(matches!(
            parse_region_caps(&overflow, 32),
            Err(CapChainError::AreaOverflow { area: 0, .. })
        ));

        // A type capability cut short.
        let mut short_type = buffer(44);
        put_header(&mut short_type, 32, CAP_TYPE, 1, 0);
        assert!(matches!(
            parse_region_caps(&short_type, 32),
            Err(CapChainError::Truncated { .. })
        ));
    }

    #[test]
    fn every_start_offset_of_random_buffers_is_safe() {
        // A small deterministic generator; no panics for any start or content.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut buf = buffer(32 + (state as usize % 96));
            for b in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = (state % 7) as u8 * 8;
            }
            let _ = parse_region_caps(&buf, (state % 128) as u32);
        }
    }
}
