//! The EAL's lifecycle: started once per process, cleaned up once, never again.
//!
//! DPDK keeps its state in process globals: `rte_eal_init` may succeed once, and
//! after `rte_eal_cleanup` it refuses to start again. [`EalBuilder::init`] turns
//! those rules into types: it returns the one [`Eal`] handle, every other attempt
//! gets an [`EalError`], and dropping the handle cleans up.

mod args;
mod capture;
mod remote_hotplug;

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};

pub use args::{EalBuilder, IovaMode, LogLevel};

/// Where this process is in the EAL's one-way lifecycle.
static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);
const NOT_STARTED: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const CLEANED_UP: u8 = 3;
/// `rte_eal_init` failed: DPDK keeps options from the failed attempt (a second
/// `-l` is then "ignored" and the parse fails), so a retry cannot be trusted.
const FAILED: u8 = 4;

/// Why the EAL could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EalError {
    #[error("EAL argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    #[error("the EAL is already running in this process")]
    AlreadyRunning,
    #[error("another thread is starting the EAL right now")]
    InitInProgress,
    #[error("the EAL was cleaned up; DPDK cannot start it again in this process")]
    CleanedUp,
    #[error("invalid EAL arguments ({args}): {message}")]
    InvalidArguments { args: String, message: String },
    #[error("rte_eal_init failed: {errno_text} (errno {errno}): {message}")]
    InitFailed {
        errno: i32,
        errno_text: String,
        message: String,
    },
    #[error(
        "an earlier rte_eal_init failed in this process, and DPDK keeps state from it: \
         start a new process to try again"
    )]
    PreviousInitFailed,
    #[error("rte_eal_cleanup failed: {errno_text} (errno {errno})")]
    CleanupFailed { errno: i32, errno_text: String },
    #[error(
        "the EAL started, but refusing other processes' device hotplug requests could \
         not be set up ({errno_text}, errno {errno}), so it was cleaned up again"
    )]
    RemoteHotplugGuard { errno: i32, errno_text: String },
    #[error("capturing the EAL's output: {0}")]
    Capture(#[from] std::io::Error),
}

/// The running EAL. Dropping it calls `rte_eal_cleanup`.
///
/// The thread that started the EAL is its main lcore, so the handle stays on that
/// thread: it is neither `Send` nor `Sync`.
#[derive(Debug)]
pub struct Eal {
    cleaned: bool,
    _main_thread_only: PhantomData<*const ()>,
}

impl EalBuilder {
    /// Starts the EAL with these arguments.
    ///
    /// Succeeds at most once per process. While it runs, the process's stdout and
    /// stderr are captured so that a failure carries DPDK's own message instead of
    /// its usage text on the terminal; on success the output is replayed to stdout.
    pub fn init(&self) -> Result<Eal, EalError> {
        let c_args = self.c_args()?;
        match STATE.compare_exchange(NOT_STARTED, STARTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {}
            Err(STARTING) => return Err(EalError::InitInProgress),
            Err(RUNNING) => return Err(EalError::AlreadyRunning),
            Err(FAILED) => return Err(EalError::PreviousInitFailed),
            Err(_) => return Err(EalError::CleanedUp),
        }
        // The start-up probe runs PCI driver callbacks (see `pci::driver`).
        let bus = crate::pci::bus::lock_bus();
        let result = self
            .init_locked(&c_args)
            .and_then(guard_against_remote_hotplug);
        let next = match &result {
            Ok(_) => RUNNING,
            Err(EalError::RemoteHotplugGuard { .. }) => CLEANED_UP,
            Err(_) => FAILED,
        };
        STATE.store(next, Ordering::Release);
        // Registrations dropped inside the start-up probe's callbacks.
        crate::pci::bus::release_and_sweep(bus);
        result
    }

    fn init_locked(&self, c_args: &[std::ffi::CString]) -> Result<Eal, EalError> {
        let mut argv: Vec<*mut c_char> = c_args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        let argc = i32::try_from(argv.len()).map_err(|_| EalError::InvalidArguments {
            args: self.to_string(),
            message: "too many arguments".to_owned(),
        })?;
        let (ret, output) = capture::capture_output(|| {
            // SAFETY: argv holds argc pointers to NUL-terminated strings owned by
            // c_args, which outlives the call; DPDK may reorder the pointer array,
            // which is ours, and does not write through the string pointers.
            unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) }
        })?;
        let verbose = self.log_level.is_some_and(|l| l >= LogLevel::Debug);
        if ret >= 0 {
            capture::replay(&output);
            return Ok(Eal {
                cleaned: false,
                _main_thread_only: PhantomData,
            });
        }
        if verbose {
            capture::replay(&output);
        }
        let errno = last_rte_errno();
        let message = failure_message(&output);
        Err(match errno {
            libc::EINVAL => EalError::InvalidArguments {
                args: self.to_string(),
                message,
            },
            _ => EalError::InitFailed {
                errno,
                errno_text: rte_strerror(errno),
                message,
            },
        })
    }
}

/// Refuses other processes' hotplug requests (see `remote_hotplug`); if that
/// cannot be set up, the EAL is cleaned up again rather than left running
/// without the rule. Called with the bus lock held.
fn guard_against_remote_hotplug(eal: Eal) -> Result<Eal, EalError> {
    match remote_hotplug::refuse_remote_hotplug() {
        Ok(_) => Ok(eal),
        Err(errno) => {
            let mut eal = eal;
            eal.cleaned = true;
            // SAFETY: the EAL started just now and nothing borrowed the handle;
            // the bus lock is held by the caller, as for every cleanup.
            unsafe { dpdk_sys::rte_eal_cleanup() };
            Err(EalError::RemoteHotplugGuard {
                errno,
                errno_text: rte_strerror(errno),
            })
        }
    }
}

/// The lines DPDK logged before its usage text, without the usage text.
fn failure_message(output: &str) -> String {
    let before_usage = output.split("\nUsage:").next().unwrap_or_default();
    let lines: Vec<&str> = before_usage
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "DPDK printed no message".to_owned()
    } else {
        tail.join("; ")
    }
}

/// Whether `rte_eal_init` has run (or is running) in this process.
pub(crate) fn eal_started() -> bool {
    STATE.load(Ordering::Acquire) != NOT_STARTED
}

/// This thread's `rte_errno`.
pub(crate) fn last_rte_errno() -> i32 {
    // SAFETY: reads the calling thread's per-lcore errno through the shim.
    unsafe { dpdk_sys::dpdk_shim_errno_get() }
}

/// DPDK's text for an errno value (DPDK's own codes included).
pub(crate) fn rte_strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or per-lcore NUL-terminated
    // buffer, copied out at once.
    unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

impl Eal {
    /// A builder for the EAL's arguments.
    pub fn builder() -> EalBuilder {
        EalBuilder::new()
    }

    /// The running DPDK's version string, e.g. `DPDK 22.11.11`.
    pub fn version(&self) -> String {
        // SAFETY: rte_version returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(dpdk_sys::rte_version()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Number of lcores the EAL runs on.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: a getter, valid while the EAL runs.
        unsafe { dpdk_sys::rte_lcore_count() }
    }

    /// The main lcore's id.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: a getter, valid while the EAL runs.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The calling thread's lcore id; `None` on a thread DPDK did not create.
    pub fn current_lcore(&self) -> Option<u32> {
        // SAFETY: reads the calling thread's per-lcore id through the wrapper.
        let id = unsafe { dpdk_sys::rte_lcore_id() };
        (id != u32::MAX).then_some(id)
    }

    /// Cleans up now and reports failure; dropping the handle does the same silently.
    pub fn cleanup(mut self) -> Result<(), EalError> {
        self.cleaned = true;
        cleanup_eal()
    }
}

fn cleanup_eal() -> Result<(), EalError> {
    STATE.store(CLEANED_UP, Ordering::Release);
    // Cleanup removes probed devices through PCI driver callbacks.
    let bus = crate::pci::bus::lock_bus();
    // SAFETY: called once, by the only handle, after every borrow of it ended.
    let ret = unsafe { dpdk_sys::rte_eal_cleanup() };
    crate::pci::bus::release_and_sweep(bus);
    if ret == 0 {
        Ok(())
    } else {
        let errno = last_rte_errno();
        Err(EalError::CleanupFailed {
            errno,
            errno_text: rte_strerror(errno),
        })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        if !self.cleaned {
            let _ = cleanup_eal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::failure_message;

    #[test]
    fn message_stops_at_usage_text() {
        let out = "EAL: Detected CPU lcores: 2\nEAL: invalid parameter for -m\n\nUsage: x [options]\n  -c COREMASK\n";
        assert_eq!(
            failure_message(out),
            "EAL: Detected CPU lcores: 2; EAL: invalid parameter for -m"
        );
        assert_eq!(failure_message(""), "DPDK printed no message");
    }
}
