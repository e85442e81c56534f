//! Running Rust closures on the EAL's worker lcores (`rte_eal_remote_launch`).
//!
//! [`lcore_scope`] works like `std::thread::scope`: closures launched in it may borrow
//! from the caller (ports, queues, mempools), and every lcore launched is waited
//! for (`rte_eal_wait_lcore`) before `scope` returns, even when the body
//! panics. A [`LcoreHandle`] joins one lcore and returns its closure's result,
//! or the panic it caught.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::eal::Eal;
use crate::errno::DpdkErrno;

/// Why a closure could not be launched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LaunchError {
    /// The lcore is not enabled, is the main lcore, or is at least `RTE_MAX_LCORE`;
    /// holds the lcore id.
    #[error("lcore {0} is not a worker lcore of this EAL")]
    NotAWorker(u32),
    /// The lcore has not finished its previous closure (`rte_eal_remote_launch`
    /// returned `-EBUSY`); holds the lcore id.
    #[error("lcore {0} is running another closure")]
    Busy(u32),
    /// `rte_eal_remote_launch` failed otherwise.
    #[error("rte_eal_remote_launch on lcore {lcore} failed: {errno}")]
    Failed {
        /// The lcore id.
        lcore: u32,
        /// What DPDK returned (negated: a positive errno).
        #[source]
        errno: DpdkErrno,
    },
}

/// What a closure left: its value, or the payload of its panic.
pub type LcoreResult<T> = Result<T, Box<dyn Any + Send + 'static>>;

type Slot<T> = Arc<Mutex<Option<LcoreResult<T>>>>;

/// The launching side of a [`lcore_scope`]; lives on the main lcore only.
pub struct LcoreScope<'scope, 'env: 'scope> {
    launched: RefCell<Vec<u32>>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
    /// Not Send or Sync: launching is for the main lcore alone.
    _main_only: PhantomData<*const ()>,
}

/// One launched closure.
///
/// Not `Send`: it joins from the main lcore, where the scope runs.
pub struct LcoreHandle<'scope, T> {
    lcore: u32,
    slot: Slot<T>,
    _scope: PhantomData<&'scope ()>,
    _main_only: PhantomData<*const ()>,
}

impl<T> std::fmt::Debug for LcoreHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LcoreHandle(lcore {})", self.lcore)
    }
}

impl<T> LcoreHandle<'_, T> {
    /// The lcore it runs on.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the closure; its value, or the panic it raised.
    pub fn join(self) -> LcoreResult<T> {
        // SAFETY: called on the main lcore (the handle cannot leave the scope's
        // thread: LcoreScope is not Sync, so nothing launched can hold it, and
        // the handle itself is not Send).
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
        let taken = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        taken.unwrap_or_else(|| Err(Box::new("the lcore finished without a result")))
    }
}

struct Job {
    run: Box<dyn FnOnce() + Send>,
}

unsafe extern "C" fn trampoline(arg: *mut c_void) -> i32 {
    // SAFETY: arg is the Box<Job> launch() leaked for this one call.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    (job.run)();
    0
}

impl<'scope, 'env> LcoreScope<'scope, 'env> {
    /// Runs `f` on worker lcore `lcore`.
    pub fn launch<F, T>(
        &'scope self,
        lcore: u32,
        f: F,
    ) -> Result<LcoreHandle<'scope, T>, LaunchError>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        // SAFETY: plain queries while the EAL runs.
        let (enabled, main) = unsafe {
            (
                dpdk_sys::rte_lcore_is_enabled(lcore),
                dpdk_sys::rte_get_main_lcore(),
            )
        };
        if enabled == 0 || lcore == main || lcore >= dpdk_sys::RTE_MAX_LCORE {
            return Err(LaunchError::NotAWorker(lcore));
        }
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let run: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(f));
            *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        });
        // SAFETY: only the lifetime is erased: the scope waits for this lcore
        // before 'scope ends (LcoreScope's drop guard in scope()), so whatever
        // the closure borrows outlives its run.
        let run: Box<dyn FnOnce() + Send + 'static> = unsafe { std::mem::transmute(run) };
        let job = Box::into_raw(Box::new(Job { run }));
        // SAFETY: on the main lcore (LcoreScope is neither Send nor Sync);
        // trampoline takes the job back exactly once when the launch succeeds.
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), job.cast(), lcore) };
        if ret != 0 {
            // SAFETY: the launch failed, so the job was not handed over.
            drop(unsafe { Box::from_raw(job) });
            return Err(if ret == -libc::EBUSY {
                LaunchError::Busy(lcore)
            } else {
                LaunchError::Failed {
                    lcore,
                    errno: DpdkErrno::new(ret),
                }
            });
        }
        self.launched.borrow_mut().push(lcore);
        Ok(LcoreHandle {
            lcore,
            slot,
            _scope: PhantomData,
            _main_only: PhantomData,
        })
    }

    /// The worker lcores of this EAL, in order.
    pub fn workers(&self) -> Vec<u32> {
        workers()
    }
}

fn workers() -> Vec<u32> {
    // SAFETY: plain queries while the EAL runs.
    let main = unsafe { dpdk_sys::rte_get_main_lcore() };
    (0..dpdk_sys::RTE_MAX_LCORE)
        // SAFETY: as above.
        .filter(|&l| l != main && unsafe { dpdk_sys::rte_lcore_is_enabled(l) } != 0)
        .collect()
}

struct WaitAll<'a>(&'a RefCell<Vec<u32>>);

impl Drop for WaitAll<'_> {
    fn drop(&mut self) {
        for lcore in self.0.borrow_mut().drain(..) {
            // SAFETY: on the main lcore; waiting for a lcore already joined returns at once.
            unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) };
        }
    }
}

/// Runs `body`, which may launch closures on worker lcores; returns once every
/// one of them has finished.
pub fn lcore_scope<'env, F, R>(_eal: &'env Eal, body: F) -> R
where
    F: for<'scope> FnOnce(&'scope LcoreScope<'scope, 'env>) -> R,
{
    let scope = LcoreScope {
        launched: RefCell::new(Vec::new()),
        _scope: PhantomData,
        _env: PhantomData,
        _main_only: PhantomData,
    };
    let _wait = WaitAll(&scope.launched);
    body(&scope)
}

impl Eal {
    /// The worker lcores (every enabled lcore but the main one).
    pub fn worker_lcores(&self) -> Vec<u32> {
        workers()
    }
}

/// The id of the calling thread's lcore (`rte_lcore_id()`), `None` off the EAL's threads.
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads the calling thread's per-lcore variable.
    let id = unsafe { dpdk_sys::dpdk_shim_lcore_id() };
    (id < dpdk_sys::RTE_MAX_LCORE).then_some(id)
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

/// A flag workers poll to stop cleanly; set by [`StopFlag::stop`], and by
/// Ctrl-C (SIGINT) or SIGTERM once [`StopFlag::on_signals`] installed the handler.
#[derive(Debug, Clone, Default)]
pub struct StopFlag {
    own: Arc<AtomicBool>,
    signals: bool,
}

impl StopFlag {
    /// A flag only [`stop`](StopFlag::stop) sets.
    pub fn new() -> Self {
        StopFlag::default()
    }

    /// A flag that SIGINT and SIGTERM set too (installs their handler).
    pub fn on_signals() -> std::io::Result<Self> {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            let old = unsafe {
                libc::signal(
                    sig,
                    on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
                )
            };
            if old == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(StopFlag {
            own: Arc::new(AtomicBool::new(false)),
            signals: true,
        })
    }

    /// Asks every holder to stop.
    pub fn stop(&self) {
        self.own.store(true, Ordering::Relaxed);
    }

    /// True once stop was asked (or a signal arrived).
    #[inline(always)]
    pub fn is_stopped(&self) -> bool {
        self.own.load(Ordering::Relaxed) || (self.signals && SIGNALLED.load(Ordering::Relaxed))
    }
}
