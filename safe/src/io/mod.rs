//! Register access, independent of where the registers are: the accessor
//! traits ([`Registers`], [`ConfigRegisters`]) and widths, what may be accessed
//! ([`Window`], checked in one place), and the backends that only move bytes:
//! `pread64`/`pwrite64` on a file ([`RegionIo`], every target) and `mmap64`
//! mappings ([`MappedRegion`] owning one, [`RegionView`] for any, 64-bit targets
//! only).
//!
//! A leaf of the crate's module graph: it knows nothing of VFIO, DPDK's bus or
//! the EAL, which build on it.
//!
//! # 32-bit targets: no mapping, `pread64`/`pwrite64` instead
//!
//! In July 2015 DPDK kept VFIO's 64-bit region offsets (`index << 40`) in 32-bit
//! variables and passed them to `mmap`, whose offset is 32 bits wide on a 32-bit
//! host: every BAR mapped BAR0, silently (see the dpdk-dev thread "vfio: Fix
//! overflow while assigning vfio BAR region offset and size"; the VFIO
//! maintainer's answer was that mmap should not be advertised on 32-bit hosts).
//! DPDK 22.11 still hands `off_t` and `size_t` to its consumers, and a 32-bit
//! process cannot map a BAR of 4 GiB or more at all: its whole address space is
//! 4 GiB. So the mapping types are compiled only where
//! `target_pointer_width = "64"`; on every target [`RegionIo`] reaches the same
//! registers with `pread64`/`pwrite64`, whose file offset is a 64-bit `off64_t`.
//! (The crate root's documentation shows, per target, which of these exist.)

pub(crate) mod error;
pub(crate) mod file;
#[cfg(target_pointer_width = "64")]
pub(crate) mod mapped;
pub(crate) mod region;
pub(crate) mod register;
pub(crate) mod window;

pub use error::AccessError;
pub use file::{ConfigIo, RegionIo};
#[cfg(target_pointer_width = "64")]
pub use mapped::{FixedMapping, MapError, MappedRegion, RegionView};
pub use region::{BadBarIndex, BarIndex, FileRegion, RegionIndex, SparseArea};
pub use register::{ConfigRegister, ConfigRegisters, Register, Registers};
pub use window::Window;
