//! Typed register blocks: a device's registers described once, accessors
//! generated over any [`Registers`] backend.
//!
//! [`register_block!`](crate::register_block) takes each register's offset,
//! width, access (`ro`, `wo`, `rw`) and named bitfields, and generates:
//!
//! * a block type borrowing a [`Registers`] backend (a mapping on 64-bit
//!   targets, `pread64`/`pwrite64` everywhere, DPDK's BAR handle), with one
//!   method per register returning a [`Reg`];
//! * a module with one type per register ([`RegisterDef`]) and one per field
//!   ([`Field`]), so a field can only be used with its own register.
//!
//! [`Reg::read`] exists only for readable registers and [`Reg::write`] only for
//! writable ones: a write to a read-only register does not compile. Offsets
//! past the block's size, offsets not aligned to the register's width and
//! fields past the register's width are compile-time errors, and so is a
//! constant too wide for its field ([`Field::with_const`]); a value known only
//! at run time is checked by [`Field::with`] ([`FieldError`]). The block's size
//! is checked against the real BAR when the block is made ([`BlockError`]).
//!
//! ```
//! use dpdk_safe::{register_block, Field, Registers, RegionIo, FileRegion};
//!
//! register_block! {
//!     /// A tiny device.
//!     pub struct Tiny, fields tiny, size 0x10;
//!     /// Identification.
//!     0x00 id: u32, ro { minor: 16..=23, major: 24..=31 };
//!     /// Control.
//!     0x04 control: u32, rw { enable: 0..=0, mode: 4..=6 };
//!     /// Doorbell.
//!     0x08 doorbell: u32, wo;
//! }
//!
//! # fn demo(bar: &RegionIo<'_>, bar_len: u64) -> Result<(), Box<dyn std::error::Error>> {
//! let regs = Tiny::new(bar, bar_len)?;
//! let id = regs.id().read()?;
//! println!("version {}.{}", tiny::id::major::get(id), tiny::id::minor::get(id));
//! regs.control().modify(|v| tiny::control::mode::with_const::<5>(tiny::control::enable::with_const::<1>(v)))?;
//! regs.doorbell().write(1)?;
//! # Ok(()) }
//! ```
//!
//! A mode of 8 does not fit three bits, and does not compile:
//!
//! ```compile_fail,E0080
//! # use dpdk_safe::{register_block, Field};
//! # register_block! { pub struct Tiny, fields tiny, size 0x10; 0x04 control: u32, rw { mode: 4..=6 }; }
//! let v = tiny::control::mode::with_const::<8>(0u32);
//! ```
//!
//! Nor does a register past the block's end:
//!
//! ```compile_fail,E0080
//! # use dpdk_safe::register_block;
//! register_block! { pub struct Tiny, fields tiny, size 0x10; 0x10 late: u32, rw; }
//! ```
//!
//! Nor a write to a read-only register:
//!
//! ```compile_fail,E0599
//! # use dpdk_safe::{register_block, RegionIo};
//! # register_block! { pub struct Tiny, fields tiny, size 0x10; 0x00 id: u32, ro; }
//! # fn f(regs: &Tiny<'_, RegionIo<'_>>) { let _ = regs.id().write(1); }
//! ```

use std::marker::PhantomData;

use crate::io::error::AccessError;
use crate::io::register::{Register, Registers};

/// A register width as a number, for bitfield arithmetic.
pub trait RegisterValue: Register {
    /// Bits in the register.
    const BITS: u32;
    /// Widened to 64 bits.
    fn to_u64(self) -> u64;
    /// Truncated from 64 bits (only called with values that fit).
    fn from_u64(v: u64) -> Self;
}

macro_rules! value {
    ($($t:ty),*) => {$(
        impl RegisterValue for $t {
            const BITS: u32 = <$t>::BITS;
            fn to_u64(self) -> u64 {
                self as u64
            }
            fn from_u64(v: u64) -> Self {
                v as $t
            }
        }
    )*};
}
value!(u8, u16, u32, u64);

/// Access mode of a read-only register.
#[derive(Debug)]
pub enum ReadOnly {}
/// Access mode of a write-only register.
#[derive(Debug)]
pub enum WriteOnly {}
/// Access mode of a read-write register.
#[derive(Debug)]
pub enum ReadWrite {}

/// Access modes that may be read.
pub trait Readable {}
/// Access modes that may be written.
pub trait Writable {}
impl Readable for ReadOnly {}
impl Readable for ReadWrite {}
impl Writable for WriteOnly {}
impl Writable for ReadWrite {}

/// One register of a block, as [`register_block!`](crate::register_block)
/// describes it.
pub trait RegisterDef {
    /// Its width.
    type Value: RegisterValue;
    /// [`ReadOnly`], [`WriteOnly`] or [`ReadWrite`].
    type Access;
    /// Offset in the block.
    const OFFSET: u64;
    /// Its name, for messages.
    const NAME: &'static str;
}

/// A value does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value {value:#x} does not fit the {width}-bit field {register}.{field}")]
pub struct FieldError {
    /// The register.
    pub register: &'static str,
    /// The field.
    pub field: &'static str,
    /// The value given.
    pub value: u64,
    /// The field's width in bits.
    pub width: u32,
}

/// A bitfield of register `Of`: bits `SHIFT..SHIFT + WIDTH`.
pub trait Field {
    /// The register it belongs to.
    type Of: RegisterDef;
    /// Its lowest bit.
    const SHIFT: u32;
    /// Its width in bits (1 to 64).
    const WIDTH: u32;
    /// Its name, for messages.
    const NAME: &'static str;

    /// The field's mask, unshifted.
    const MAX: u64 = if Self::WIDTH >= 64 {
        u64::MAX
    } else {
        (1u64 << Self::WIDTH) - 1
    };

    /// The field's value in register value `v`.
    fn get(v: <Self::Of as RegisterDef>::Value) -> u64 {
        (v.to_u64() >> Self::SHIFT) & Self::MAX
    }

    /// Whether a one-bit field (or any bit of a wider one) is set in `v`.
    fn is_set(v: <Self::Of as RegisterDef>::Value) -> bool {
        Self::get(v) != 0
    }

    /// `v` with the field set to `x`; [`FieldError`] when `x` does not fit.
    fn with(
        v: <Self::Of as RegisterDef>::Value,
        x: u64,
    ) -> Result<<Self::Of as RegisterDef>::Value, FieldError> {
        if x & !Self::MAX != 0 {
            return Err(FieldError {
                register: <Self::Of as RegisterDef>::NAME,
                field: Self::NAME,
                value: x,
                width: Self::WIDTH,
            });
        }
        Ok(Self::put(v, x))
    }

    /// `v` with the field set to the constant `X`, checked at compile time.
    fn with_const<const X: u64>(
        v: <Self::Of as RegisterDef>::Value,
    ) -> <Self::Of as RegisterDef>::Value {
        const {
            assert!(X & !Self::MAX == 0, "the constant does not fit the field");
        }
        Self::put(v, X)
    }

    /// The field alone with value `X` (other bits zero), checked at compile time.
    fn value_const<const X: u64>() -> <Self::Of as RegisterDef>::Value {
        const {
            assert!(X & !Self::MAX == 0, "the constant does not fit the field");
        }
        Self::put(Default::default(), X)
    }

    /// `v` with the field set to `x` (which fits).
    #[doc(hidden)]
    fn put(v: <Self::Of as RegisterDef>::Value, x: u64) -> <Self::Of as RegisterDef>::Value {
        let mask = Self::MAX << Self::SHIFT;
        <<Self::Of as RegisterDef>::Value as RegisterValue>::from_u64(
            (v.to_u64() & !mask) | (x << Self::SHIFT),
        )
    }
}

/// One register of a block over backend `R`: read, write or modify it,
/// as its access mode allows.
pub struct Reg<'r, R: ?Sized, D> {
    regs: &'r R,
    base: u64,
    _def: PhantomData<D>,
}

impl<R: ?Sized, D: RegisterDef> std::fmt::Debug for Reg<'_, R, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reg({} at {:#x})", D::NAME, self.base + D::OFFSET)
    }
}

impl<'r, R: Registers + ?Sized, D: RegisterDef> Reg<'r, R, D> {
    #[doc(hidden)]
    pub fn new(regs: &'r R, base: u64) -> Self {
        Reg {
            regs,
            base,
            _def: PhantomData,
        }
    }

    /// The register's offset in the backend.
    pub fn offset(&self) -> u64 {
        self.base + D::OFFSET
    }
}

impl<R: Registers + ?Sized, D: RegisterDef> Reg<'_, R, D>
where
    D::Access: Readable,
{
    /// Reads the register.
    pub fn read(&self) -> Result<D::Value, AccessError> {
        self.regs.read(self.offset())
    }

    /// Reads one field of it.
    pub fn read_field<F: Field<Of = D>>(&self) -> Result<u64, AccessError> {
        Ok(F::get(self.read()?))
    }
}

impl<R: Registers + ?Sized, D: RegisterDef> Reg<'_, R, D>
where
    D::Access: Writable,
{
    /// Writes the register.
    pub fn write(&self, value: D::Value) -> Result<(), AccessError> {
        self.regs.write(self.offset(), value)
    }
}

impl<R: Registers + ?Sized, D: RegisterDef<Access = ReadWrite>> Reg<'_, R, D> {
    /// Reads, changes with `f`, writes back (not atomic with respect to the
    /// device).
    pub fn modify(&self, f: impl FnOnce(D::Value) -> D::Value) -> Result<(), AccessError> {
        let v = self.read()?;
        self.write(f(v))
    }
}

/// A block's registers do not fit the region it was put on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("register block {block} needs {needed:#x} bytes at {base:#x}, the region has {len:#x}")]
pub struct BlockError {
    /// The block.
    pub block: &'static str,
    /// Its size.
    pub needed: u64,
    /// Where it was put.
    pub base: u64,
    /// The region's length.
    pub len: u64,
}

/// Checks that a block of `needed` bytes at `base` fits a region of `len`.
#[doc(hidden)]
pub fn check_block(
    block: &'static str,
    needed: u64,
    base: u64,
    len: u64,
) -> Result<(), BlockError> {
    if base.checked_add(needed).is_none_or(|end| end > len) {
        return Err(BlockError {
            block,
            needed,
            base,
            len,
        });
    }
    Ok(())
}

/// Describes a device's register block once and generates typed accessors
/// (see [`Reg`], [`Field`], and the crate's `regblock` notes above).
///
/// ```text
/// register_block! {
///     pub struct Block, fields module, size SIZE;
///     OFFSET name: u8|u16|u32|u64, ro|wo|rw [{ field: LO..=HI, ... }];
///     ...
/// }
/// ```
#[macro_export]
macro_rules! register_block {
    (
        $(#[$meta:meta])*
        $vis:vis struct $block:ident, fields $module:ident, size $size:expr;
        $(
            $(#[$rmeta:meta])*
            $offset:literal $reg:ident : $ty:ty, $access:ident
            $({ $( $(#[$fmeta:meta])* $field:ident : $lo:literal ..= $hi:literal ),* $(,)? })? ;
        )*
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        $vis struct $block<'r, R: ?Sized> {
            regs: &'r R,
            base: u64,
        }

        impl<'r, R: $crate::Registers + ?Sized> $block<'r, R> {
            /// Bytes the block spans.
            pub const SIZE: u64 = $size;

            /// The block at offset 0 of `regs`, a region of `len` bytes
            /// (checked to hold the whole block).
            pub fn new(regs: &'r R, len: u64) -> ::std::result::Result<Self, $crate::BlockError> {
                Self::at(regs, 0, len)
            }

            /// The block at offset `base` of `regs`, a region of `len` bytes.
            pub fn at(regs: &'r R, base: u64, len: u64) -> ::std::result::Result<Self, $crate::BlockError> {
                $crate::__check_block(stringify!($block), Self::SIZE, base, len)?;
                Ok($block { regs, base })
            }

            $(
                $(#[$rmeta])*
                pub fn $reg(&self) -> $crate::Reg<'r, R, $module::$reg::Register> {
                    $crate::Reg::new(self.regs, self.base)
                }
            )*
        }

        $(
            const _: () = assert!(
                $offset + ::std::mem::size_of::<$ty>() as u64 <= $size,
                concat!("register ", stringify!($reg), " reaches past the block's size")
            );
        )*

        /// Register and field types of the block.
        #[allow(non_camel_case_types, dead_code)]
        $vis mod $module {
            $(
                $(#[$rmeta])*
                #[doc = concat!("Register `", stringify!($reg), "` at ", stringify!($offset), ".")]
                pub mod $reg {
                    /// The register.
                    #[derive(Debug)]
                    pub enum Register {}
                    impl $crate::RegisterDef for Register {
                        type Value = $ty;
                        type Access = $crate::__access!($access);
                        const OFFSET: u64 = $offset;
                        const NAME: &'static str = stringify!($reg);
                    }
                    const _: () = assert!(
                        $offset % ::std::mem::size_of::<$ty>() as u64 == 0,
                        concat!("register ", stringify!($reg), " is not aligned to its width")
                    );
                    $($(
                        $(#[$fmeta])*
                        #[doc = concat!("Field `", stringify!($field), "`: bits ", stringify!($lo), " to ", stringify!($hi), ".")]
                        #[derive(Debug)]
                        pub enum $field {}
                        impl $crate::Field for $field {
                            type Of = Register;
                            const SHIFT: u32 = $lo;
                            const WIDTH: u32 = $hi - $lo + 1;
                            const NAME: &'static str = stringify!($field);
                        }
                        const _: () = assert!(
                            $lo <= $hi && $hi < <$ty>::BITS,
                            concat!("field ", stringify!($field), " does not fit its register")
                        );
                        impl $field {
                            /// The field's value in `v`.
                            pub fn get(v: $ty) -> u64 {
                                <$field as $crate::Field>::get(v)
                            }
                            /// `v` with the field set to `x`, checked at run time.
                            pub fn with(v: $ty, x: u64) -> ::std::result::Result<$ty, $crate::FieldError> {
                                <$field as $crate::Field>::with(v, x)
                            }
                            /// `v` with the field set to `X`, checked at compile time.
                            pub fn with_const<const X: u64>(v: $ty) -> $ty {
                                <$field as $crate::Field>::with_const::<X>(v)
                            }
                            /// The field alone set to `X` (other bits 0), checked at compile time.
                            pub fn value_const<const X: u64>() -> $ty {
                                <$field as $crate::Field>::value_const::<X>()
                            }
                            /// Whether any bit of the field is set in `v`.
                            pub fn is_set(v: $ty) -> bool {
                                <$field as $crate::Field>::is_set(v)
                            }
                        }
                    )*)?
                }
            )*
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __access {
    (ro) => {
        $crate::ReadOnly
    };
    (wo) => {
        $crate::WriteOnly
    };
    (rw) => {
        $crate::ReadWrite
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::file::RegionIo;
    use crate::io::region::{FileRegion, RegionIndex};

    crate::register_block! {
        /// A test block.
        pub struct Test, fields test, size 0x20;
        /// Identification.
        0x00 id: u32, ro { minor: 0..=7, major: 8..=15 };
        0x04 control: u32, rw { enable: 0..=0, mode: 4..=6, top: 31..=31 };
        0x08 doorbell: u16, wo;
        0x10 address: u64, rw { low: 0..=31, high: 32..=63 };
    }

    #[test]
    fn fields_get_and_set() {
        use test::control::{enable, mode, top};
        let v = mode::with_const::<5>(enable::with_const::<1>(0));
        assert_eq!(v, 0x51);
        assert_eq!(mode::get(v), 5);
        assert!(enable::is_set(v));
        assert_eq!(top::with_const::<1>(v), 0x8000_0051);
        assert_eq!(
            mode::with(v, 8),
            Err(FieldError {
                register: "control",
                field: "mode",
                value: 8,
                width: 3
            })
        );
        assert_eq!(mode::with(v, 2).unwrap(), 0x21);
        assert_eq!(
            test::address::high::with(0, 0xffff_ffff).unwrap(),
            0xffff_ffff_0000_0000
        );
        assert_eq!(<test::address::high as Field>::MAX, 0xffff_ffff);
    }

    #[test]
    fn accessors_go_through_the_backend() {
        let file = tempfile_with(&[0u8; 0x20]);
        let region = FileRegion {
            index: RegionIndex::BAR0,
            offset: 0,
            size: 0x20,
            readable: true,
            writable: true,
            sparse: None,
        };
        let io = RegionIo::over_file(std::os::fd::AsFd::as_fd(&file), &region);
        assert!(matches!(
            Test::new(&io, 0x1f),
            Err(BlockError {
                needed: 0x20,
                len: 0x1f,
                ..
            })
        ));
        assert!(Test::at(&io, 0x10, 0x20).is_err());
        let regs = Test::new(&io, 0x20).unwrap();
        regs.control().write(0x51).unwrap();
        regs.control()
            .modify(test::control::mode::with_const::<2>)
            .unwrap();
        assert_eq!(regs.control().read().unwrap(), 0x21);
        assert_eq!(
            regs.control().read_field::<test::control::mode>().unwrap(),
            2
        );
        regs.doorbell().write(0xabcd).unwrap();
        regs.address().write(0x1122_3344_5566_7788).unwrap();
        assert_eq!(regs.id().read().unwrap(), 0);
        assert_eq!(regs.doorbell().offset(), 8);
        let mut raw = [0u8; 0x20];
        // SAFETY: reads into the live local buffer.
        let n = unsafe {
            libc::pread(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                raw.as_mut_ptr().cast(),
                raw.len(),
                0,
            )
        };
        assert_eq!(n, 0x20);
        assert_eq!(&raw[4..8], &0x21u32.to_le_bytes());
        assert_eq!(&raw[8..10], &0xabcdu16.to_le_bytes());
        assert_eq!(&raw[0x10..0x18], &0x1122_3344_5566_7788u64.to_le_bytes());
    }

    fn tempfile_with(bytes: &[u8]) -> std::fs::File {
        use std::io::Write;
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "regblock-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.write_all(bytes).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
