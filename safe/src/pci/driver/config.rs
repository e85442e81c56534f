//! Config space of a probed device through DPDK's own calls.

use crate::io::error::AccessError;
use crate::io::region::RegionIndex;
use crate::io::register::{ConfigRegister, ConfigRegisters};
use crate::io::window::{self, Op, RawAccess, Window};
use crate::pci::driver::probed::ProbedDevice;

/// PCI Express extended config space.
const CONFIG_SIZE: u64 = 4096;

/// Config space of a probed device, through `rte_pci_read_config` and
/// `rte_pci_write_config` (whose `off_t` is 64 bits wide on every target):
/// 1, 2 and 4-byte registers ([`ConfigRegisters`]).
pub struct DpdkConfig<'a> {
    device: &'a ProbedDevice<'a>,
    window: Window,
}

impl<'a> DpdkConfig<'a> {
    pub(super) fn new(device: &'a ProbedDevice<'a>) -> Self {
        DpdkConfig {
            device,
            window: Window::new(RegionIndex::Config, CONFIG_SIZE, true, true),
        }
    }

    /// DPDK's `off_t` for `offset`, once DPDK is known to hold a file to
    /// reach config space through (drivers with `NEED_MAPPING`).
    fn at(&self, op: Op, offset: u64) -> Result<dpdk_sys::off_t, AccessError> {
        let region = RegionIndex::Config;
        if !self.device.opened_by_dpdk() {
            return Err(AccessError::Io {
                region,
                op: op.name(),
                offset,
                source: std::io::Error::other(
                    "DPDK opened no device file for it: register the driver with \
                     DriverFlags::NEED_MAPPING to reach config space through DPDK",
                ),
            });
        }
        dpdk_sys::off_t::try_from(offset)
            .map_err(|_| AccessError::OffsetOverflow { region, offset })
    }
}

/// DPDK's config calls return the bytes transferred; anything short is an error.
fn whole(op: Op, offset: u64, done: i32, wanted: usize) -> Result<(), AccessError> {
    if usize::try_from(done) == Ok(wanted) {
        return Ok(());
    }
    let done = usize::try_from(done).unwrap_or(0);
    Err(AccessError::Short {
        region: RegionIndex::Config,
        op: op.name(),
        offset,
        done,
        wanted,
    })
}

impl RawAccess for DpdkConfig<'_> {
    fn window(&self) -> &Window {
        &self.window
    }

    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<(), AccessError> {
        let at = self.at(Op::Read, offset)?;
        // SAFETY: the device is live for the callback (the borrow of the
        // ProbedDevice); buf is a writable slice of buf.len() bytes.
        let n = unsafe {
            dpdk_sys::rte_pci_read_config(
                self.device.raw().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                at,
            )
        };
        whole(Op::Read, offset, n, buf.len())
    }

    fn write_raw(&self, offset: u64, buf: &[u8]) -> Result<(), AccessError> {
        let at = self.at(Op::Write, offset)?;
        // SAFETY: as in read_raw; buf is a readable slice of buf.len() bytes.
        let n = unsafe {
            dpdk_sys::rte_pci_write_config(
                self.device.raw().cast(),
                buf.as_ptr().cast(),
                buf.len(),
                at,
            )
        };
        whole(Op::Write, offset, n, buf.len())
    }
}

impl ConfigRegisters for DpdkConfig<'_> {
    fn read<T: ConfigRegister>(&self, offset: u64) -> Result<T, AccessError> {
        window::read_register(self, offset)
    }

    fn write<T: ConfigRegister>(&self, offset: u64, value: T) -> Result<(), AccessError> {
        window::write_register(self, offset, value)
    }
}
