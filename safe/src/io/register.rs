//! The register widths and the accessor traits every backend implements.

use crate::io::error::AccessError;

mod sealed {
    pub trait Sealed {}
}

/// The register widths PCI devices have: u8, u16, u32, u64, little-endian.
pub trait Register: sealed::Sealed + Copy + Default + std::fmt::LowerHex {
    /// Bytes in the register.
    const WIDTH: usize;
    /// Decodes `WIDTH` little-endian bytes.
    fn from_le_slice(bytes: &[u8]) -> Self;
    /// Encodes into `WIDTH` little-endian bytes.
    fn write_le(self, out: &mut [u8]);
    /// Converts a value loaded from little-endian device memory.
    fn from_le(raw: Self) -> Self;
    /// Converts a value to store into little-endian device memory.
    fn to_le(self) -> Self;
}

/// The widths config space is accessed with: 1, 2 or 4 bytes (PCI has no
/// 8-byte config access).
pub trait ConfigRegister: Register {}

macro_rules! register {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Register for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn from_le_slice(bytes: &[u8]) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(raw)
            }
            fn write_le(self, out: &mut [u8]) {
                out[..std::mem::size_of::<$t>()].copy_from_slice(&self.to_le_bytes());
            }
            fn from_le(raw: Self) -> Self {
                <$t>::from_le(raw)
            }
            fn to_le(self) -> Self {
                <$t>::to_le(self)
            }
        }
    )*};
}
register!(u8, u16, u32, u64);
impl ConfigRegister for u8 {}
impl ConfigRegister for u16 {}
impl ConfigRegister for u32 {}

/// Register access to a BAR, shared by the `pread64` path
/// ([`RegionIo`](crate::RegionIo)), DPDK's handle on a probed device
/// ([`DpdkBar`](crate::DpdkBar)) and, on 64-bit targets, the mapped path
/// ([`RegionView`](crate::RegionView)), so that driver code does not care which
/// one reached the device.
pub trait Registers {
    /// Reads one register; the offset must be aligned to its width.
    fn read<T: Register>(&self, offset: u64) -> Result<T, AccessError>;
    /// Writes one register; the offset must be aligned to its width.
    fn write<T: Register>(&self, offset: u64, value: T) -> Result<(), AccessError>;

    /// Reads a byte.
    fn read8(&self, offset: u64) -> Result<u8, AccessError> {
        self.read(offset)
    }
    /// Reads a 16-bit register.
    fn read16(&self, offset: u64) -> Result<u16, AccessError> {
        self.read(offset)
    }
    /// Reads a 32-bit register.
    #[inline]
    fn read32(&self, offset: u64) -> Result<u32, AccessError> {
        self.read(offset)
    }
    /// Reads a 64-bit register.
    fn read64(&self, offset: u64) -> Result<u64, AccessError> {
        self.read(offset)
    }
    /// Writes a byte.
    fn write8(&self, offset: u64, value: u8) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    /// Writes a 16-bit register.
    fn write16(&self, offset: u64, value: u16) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    /// Writes a 32-bit register.
    #[inline]
    fn write32(&self, offset: u64, value: u32) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    /// Writes a 64-bit register.
    fn write64(&self, offset: u64, value: u64) -> Result<(), AccessError> {
        self.write(offset, value)
    }
}

/// Config-space access: 1, 2 and 4 bytes only. Implemented by a VFIO device's
/// config region ([`ConfigIo`](crate::ConfigIo)) and by a probed device's
/// config space through DPDK (`DpdkConfig`).
///
/// PCI has no 8-byte config access, and neither has this trait:
///
/// ```compile_fail,E0599
/// use dpdk_safe::{ConfigIo, ConfigRegisters};
/// fn command(config: &ConfigIo<'_>) -> u64 {
///     config.read64(0).unwrap() // error[E0599]: no method named `read64`
/// }
/// ```
///
/// ```compile_fail,E0277
/// use dpdk_safe::{ConfigIo, ConfigRegisters};
/// fn command(config: &ConfigIo<'_>) -> u64 {
///     config.read::<u64>(0).unwrap() // error[E0277]: u64 is not a ConfigRegister
/// }
/// ```
pub trait ConfigRegisters {
    /// Reads one register; the offset must be aligned to its width.
    fn read<T: ConfigRegister>(&self, offset: u64) -> Result<T, AccessError>;
    /// Writes one register; the offset must be aligned to its width.
    fn write<T: ConfigRegister>(&self, offset: u64, value: T) -> Result<(), AccessError>;

    /// Reads a byte.
    fn read8(&self, offset: u64) -> Result<u8, AccessError> {
        self.read(offset)
    }
    /// Reads a 16-bit register.
    fn read16(&self, offset: u64) -> Result<u16, AccessError> {
        self.read(offset)
    }
    /// Reads a 32-bit register.
    fn read32(&self, offset: u64) -> Result<u32, AccessError> {
        self.read(offset)
    }
    /// Writes a byte.
    fn write8(&self, offset: u64, value: u8) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    /// Writes a 16-bit register.
    fn write16(&self, offset: u64, value: u16) -> Result<(), AccessError> {
        self.write(offset, value)
    }
    /// Writes a 32-bit register.
    fn write32(&self, offset: u64, value: u32) -> Result<(), AccessError> {
        self.write(offset, value)
    }
}
