//! The EAL's lifecycle: started once per process, cleaned up once, never again.
//!
//! DPDK keeps its state in process globals: `rte_eal_init` may succeed once, and
//! after `rte_eal_cleanup` it refuses to start again. [`EalBuilder::init`] turns
//! those rules into types: it returns the one [`Eal`] handle, every other attempt
//! gets an [`EalError`], and dropping the handle cleans up.

mod argparse;
mod args;
mod capture;
mod device_events;
mod log;
mod remote_hotplug;

use std::ffi::CStr;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

pub use args::{CArgv, EalBuilder, IovaMode, LogLevel, VfioBackend};
pub use device_events::{DeviceEvent, DeviceEventKind, DeviceEvents, DeviceEventsError};
pub use log::{level_from_dpdk, route_dpdk_log, LogRouteError};

use crate::bus_lock::lock_bus;
use crate::errno::DpdkErrno;

/// Where this process is in the EAL's one-way lifecycle. `STARTING` goes back to
/// `NOT_STARTED` only when `rte_eal_init` was never called.
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
#[non_exhaustive]
pub enum EalError {
    /// An argument contains a NUL byte, so it cannot reach C; holds the argument (lossily as
    /// UTF-8).
    #[error("EAL argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    /// An [`Eal`] already exists in this process; drop it before starting another.
    #[error("the EAL is already running in this process")]
    AlreadyRunning,
    /// Another thread is inside `rte_eal_init` at this moment.
    #[error("another thread is starting the EAL right now")]
    InitInProgress,
    /// The EAL ran and was cleaned up; DPDK cannot be initialised twice in one process.
    #[error("the EAL was cleaned up; DPDK cannot start it again in this process")]
    CleanedUp,
    /// `rte_eal_init` rejected the arguments (`EINVAL`), or there were more than C's `argc` can
    /// count.
    #[error("invalid EAL arguments ({args}): {message}")]
    InvalidArguments {
        /// The whole argument list, as the builder displays it.
        args: String,
        /// What was wrong: DPDK's own message from its captured output, or ours.
        message: String,
    },
    /// `rte_eal_init` failed for a reason other than bad arguments.
    #[error("rte_eal_init failed: {errno}: {message}")]
    InitFailed {
        /// What `rte_errno` said.
        #[source]
        errno: DpdkErrno,
        /// DPDK's own message, from its captured output.
        message: String,
    },
    /// An earlier `rte_eal_init` of this process failed; DPDK does not support a retry.
    #[error(
        "an earlier rte_eal_init failed in this process, and DPDK keeps state from it: \
         start a new process to try again"
    )]
    PreviousInitFailed,
    /// `rte_eal_cleanup` returned an error; holds its `rte_errno`.
    #[error("rte_eal_cleanup failed: {0}")]
    CleanupFailed(#[source] DpdkErrno),
    /// The EAL started, but refusing hotplug requests from other processes could not be set up, so
    /// it was cleaned up again; holds the cause.
    #[error(
        "the EAL started, but refusing other processes' device hotplug requests could \
         not be set up ({}, errno {}), so it was cleaned up again", .0.text(), .0.code()
    )]
    RemoteHotplugGuard(#[source] DpdkErrno),
    /// Setting up the capture of stdout/stderr failed; DPDK was not called.
    #[error("capturing the EAL's output: {0}")]
    Capture(#[from] std::io::Error),
    /// A safe argument DPDK could read as an option that loads a shared object.
    #[error(
        "EAL argument {arg:?} would make DPDK load a shared object: \
         use the unsafe EalBuilder::driver_path or EalBuilder::unchecked_arg"
    )]
    LoadsCode {
        /// The offending argument, as given.
        arg: String,
    },
    /// Routing DPDK's log to the `log` crate failed; DPDK was not called.
    #[error("routing DPDK's log: {0}")]
    Log(#[from] LogRouteError),
}

/// The running EAL. Dropping it calls `rte_eal_cleanup`.
///
/// The thread that started the EAL is its main lcore, so the handle stays on that
/// thread: it is neither `Send` nor `Sync`.
#[derive(Debug)]
pub struct Eal {
    cleaned: bool,
    /// Who opens devices for `vfio_open`.
    pub(crate) vfio_backend: VfioBackend,
    capture_problem: Option<std::io::Error>,
    _main_thread_only: PhantomData<*const ()>,
}

impl EalBuilder {
    /// Starts the EAL with these arguments.
    ///
    /// Succeeds at most once per process. While it runs, the process's stdout and
    /// stderr are captured so that a failure carries DPDK's own message instead of
    /// its usage text on the terminal; on success the output is replayed to stdout.
    ///
    /// An error before DPDK is called (a refused argument, a capture that could
    /// not be set up: [`EalError::Capture`]) leaves the EAL unstarted, so a later
    /// `init` may succeed; once `rte_eal_init` has run, its own result decides.
    /// Should restoring stdout/stderr fail after it ran, they point at
    /// `/dev/null` instead of the capture, a warning goes to stderr, and a
    /// running EAL reports it in [`Eal::capture_problem`].
    ///
    /// DPDK gets `argv` in buffers of its own ([`CArgv`]), which are kept for the
    /// rest of the process (glibc's getopt and DPDK 24.11 may keep pointers into
    /// them), at most once per process.
    ///
    /// Nothing a caller of this safe method does can invalidate the `unsafe`
    /// call inside: the argument memory is built here and owned by this crate,
    /// the state machine lets only one thread call `rte_eal_init`, once, and
    /// the only shared objects DPDK loads (besides its own plugin directory)
    /// are those named through the `unsafe` [`driver_path`](Self::driver_path)
    /// or [`unchecked_arg`](Self::unchecked_arg).
    pub fn init(&self) -> Result<Eal, EalError> {
        let argv = self.c_argv()?;
        match STATE.compare_exchange(NOT_STARTED, STARTING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {}
            Err(STARTING) => return Err(EalError::InitInProgress),
            Err(RUNNING) => return Err(EalError::AlreadyRunning),
            Err(FAILED) => return Err(EalError::PreviousInitFailed),
            Err(_) => return Err(EalError::CleanedUp),
        }
        if let Err(err) = log::before_init(self.log_to_rust) {
            STATE.store(NOT_STARTED, Ordering::Release);
            return Err(err.into());
        }
        // The start-up probe runs PCI driver callbacks (see `pci::driver`).
        let bus = lock_bus();
        let attempt = self.init_locked(argv);
        let (next, result) = match attempt {
            Attempt::NotCalled(err) => (NOT_STARTED, Err(err)),
            Attempt::Ran(Ok(eal)) => match guard_against_remote_hotplug(eal) {
                Ok(eal) => (RUNNING, Ok(eal)),
                Err(err) => (CLEANED_UP, Err(err)),
            },
            Attempt::Ran(Err(err)) => (FAILED, Err(err)),
        };
        STATE.store(next, Ordering::Release);
        // Frees registrations dropped inside the start-up probe's callbacks.
        drop(bus);
        result
    }

    fn init_locked(&self, mut argv: CArgv) -> Attempt {
        let argc = argv.argc();
        let argv_ptr = argv.argv();
        // `argv`'s buffers are never freed once DPDK has seen them
        // (keep_for_the_process below), so pointers DPDK or getopt keep stay
        // valid. Shared objects DPDK loads come only from driver_path and
        // unchecked_arg, whose callers vouched for them.
        log::start_transcript();
        let captured = capture::capture_output(|| {
            // SAFETY: argc pointers to NUL-terminated strings, then NULL, all in
            // `argv`'s own writable buffers, unused by anything else meanwhile:
            // DPDK may write the strings (rte_strsplit) and permute the array.
            unsafe { dpdk_sys::rte_eal_init(argc, argv_ptr) }
        });
        let logged = log::take_transcript();
        let captured = match captured {
            Ok(captured) => captured,
            // DPDK was not called: `argv` may go, and the EAL may start later.
            Err(err) => return Attempt::NotCalled(EalError::Capture(err)),
        };
        keep_for_the_process(argv);
        if let Some(problem) = &captured.problem {
            eprintln!("dpdk-rs: warning: {problem}");
        }
        let ret = captured.value;
        let output = captured.text;
        let verbose = self.log_level.is_some_and(|l| l >= LogLevel::Debug);
        if ret >= 0 {
            capture::replay(&output);
            return Attempt::Ran(Ok(Eal {
                cleaned: false,
                vfio_backend: self.vfio_backend,
                capture_problem: captured.problem,
                _main_thread_only: PhantomData,
            }));
        }
        if verbose {
            capture::replay(&output);
        }
        let errno = DpdkErrno::last();
        // DPDK's log lines went to the `log` crate; its printf output was captured.
        let message = failure_message(&format!("{logged}{output}"));
        // "Cannot get hugepage information" and the like say what to do.
        let message = crate::hugepages::explain_eal_failure(message);
        Attempt::Ran(Err(match errno.code() {
            libc::EINVAL => EalError::InvalidArguments {
                args: self.to_string(),
                message,
            },
            _ => EalError::InitFailed { errno, message },
        }))
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
            Err(EalError::RemoteHotplugGuard(DpdkErrno::new(errno)))
        }
    }
}

/// How far a start got: whether DPDK was called decides the next state.
enum Attempt {
    /// Refused before `rte_eal_init` was called.
    NotCalled(EalError),
    /// `rte_eal_init` ran; its result.
    Ran(Result<Eal, EalError>),
}

/// The `argv` buffers `rte_eal_init` has seen, never freed.
///
/// After `rte_eal_init` returns, pointers into the argument strings remain
/// outside this crate's control:
/// * glibc's `getopt_long` keeps a static pointer to where it stopped in the
///   last argument it read (`__nextchar`), and DPDK parses with it on Linux in
///   both 22.11 and 24.11 (`eal_log_level_parse` / `eal_parse_log_options`, then
///   `eal_parse_args` in `lib/eal/linux/eal.c`). DPDK restores `optind`,
///   `optarg` and `optopt` but cannot reset that pointer: the application's
///   next `getopt` call reads through it unless it sets `optind = 0` first.
///   After a short option at the end of its argument (`-v`) it points at that
///   argument's NUL; after a rejected one inside a cluster, into its middle.
/// * DPDK 24.11's `eal_parse_log_options` returns early on a bad log option
///   without restoring `optarg`, which then points into an argument.
///
/// The pointer array is permuted during the call (getopt; 22.11 and 24.11 also
/// write `argv[optind-1] = prgname`) and not kept, but it is kept here with the
/// strings all the same. Everything else DPDK 22.11 and 24.11 keep is copied (`eal_save_args`,
/// devargs, plugin paths, log patterns, file prefix, huge dir, trace options,
/// the log id; 24.11 takes the log id from `program_invocation_short_name`).
/// So the buffers live until the process exits. `rte_eal_init` is called at most
/// once per process here (a second attempt is refused unless the first never
/// reached DPDK), so this holds at most one `argv`.
static SEEN_BY_DPDK: Mutex<Vec<CArgv>> = Mutex::new(Vec::new());

fn keep_for_the_process(argv: CArgv) {
    SEEN_BY_DPDK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(argv);
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

impl Eal {
    /// A builder for the EAL's arguments.
    pub fn builder() -> EalBuilder {
        EalBuilder::new()
    }

    /// Who opens devices for [`vfio_open`](Self::vfio_open)
    /// ([`EalBuilder::vfio_backend`]).
    pub fn vfio_backend(&self) -> VfioBackend {
        self.vfio_backend
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

    /// Set when the EAL started but putting stdout/stderr back after capturing
    /// its start-up output failed: the stream that could not be restored points
    /// at `/dev/null` (the error says whether that worked too), and the output
    /// DPDK printed during start-up may be missing.
    pub fn capture_problem(&self) -> Option<&std::io::Error> {
        self.capture_problem.as_ref()
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
    let bus = lock_bus();
    // SAFETY: called once, by the only handle, after every borrow of it ended.
    let ret = unsafe { dpdk_sys::rte_eal_cleanup() };
    // rte_errno before the guard's sweep, which may call DPDK again.
    let result = if ret == 0 {
        Ok(())
    } else {
        Err(EalError::CleanupFailed(DpdkErrno::last()))
    };
    drop(bus);
    result
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
