//! DPDK's error codes: an errno DPDK returned or left in `rte_errno`, with the
//! text `rte_strerror` gives it. Used as the `#[source]` of every error that
//! carries one, so the code and its text are written in one place.

use std::ffi::CStr;

/// An error code from DPDK, with DPDK's text for it.
///
/// Displays as `"<text> (errno <code>)"`, e.g. `"No such device (errno 19)"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text} (errno {code})")]
pub struct DpdkErrno {
    code: i32,
    text: String,
}

impl DpdkErrno {
    /// Error code `code` (positive, as DPDK's `rte_errno`; a negative return
    /// value of a DPDK call is negated first) with `rte_strerror`'s text.
    pub fn new(code: i32) -> Self {
        let code = code.checked_abs().unwrap_or(i32::MAX);
        DpdkErrno {
            code,
            text: strerror(code),
        }
    }

    /// The code in `rte_errno` now, as set by the last failed DPDK call on this
    /// thread.
    pub fn last() -> Self {
        DpdkErrno::new(last_rte_errno())
    }

    /// The positive error code.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// DPDK's text for it.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// This thread's `rte_errno`.
pub(crate) fn last_rte_errno() -> i32 {
    // SAFETY: reads the calling thread's per-lcore errno through the shim.
    unsafe { dpdk_sys::dpdk_shim_errno_get() }
}

fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or per-lcore
    // NUL-terminated string for any code; it is copied out at once.
    unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}
