//! DPDK's log as records of Rust's [`log`](::log) facade.
//!
//! DPDK writes every message with `vfprintf` to one stream, then `fflush`es it
//! (`rte_vlog`, the same in 22.11 and 24.11), after storing the message's level
//! and log type where `rte_log_cur_msg_loglevel()` and
//! `rte_log_cur_msg_logtype()` return them for the calling thread.
//! [`route_dpdk_log`] (or [`EalBuilder::init`](super::EalBuilder::init), unless
//! told otherwise with [`EalBuilder::log_to_rust`](super::EalBuilder::log_to_rust))
//! gives DPDK a `fopencookie` stream whose write function turns what one message
//! flushes into one [`log::Record`](::log::Record):
//!
//! * level: `EMERG`, `ALERT`, `CRIT`, `ERR` → `Error`; `WARNING` → `Warn`;
//!   `NOTICE`, `INFO` → `Info`; `DEBUG` → `Debug`; anything else → `Trace`;
//! * target: the log type's name as DPDK registered it (`lib.eal`,
//!   `pmd.net.null`, `user1`...), read from `rte_log_dump`; a type without a name
//!   is `dpdk.logtype.N`;
//! * message: DPDK's text without its final newline. A message with several
//!   lines stays one record; text without a final newline waits for the rest of
//!   its line (DPDK builds some lines from several calls).
//!
//! DPDK's own level filter (`--log-level`) applies first; the logger's filter
//! after it. When no logger is installed (`log::max_level()` is `Off`), the text
//! goes to standard error unchanged, as DPDK's default stream would write it.
//! While `rte_eal_init` runs, the text is also kept for the error that a failed
//! start returns, so the stdout/stderr capture's messages stay complete.
//!
//! DPDK 24.11 closes the stream in `rte_eal_cleanup` and writes to standard
//! error after that; 22.11 keeps it for the rest of the process.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

use ::log::{Level, LevelFilter};

/// Why DPDK's log could not be routed to `log`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogRouteError {
    /// The EAL has started (or is starting): DPDK's threads may be writing to
    /// the current stream, which cannot be swapped under them.
    #[error("the EAL has already started: route DPDK's log before EalBuilder::init")]
    EalStarted,
    /// `fopencookie` failed.
    #[error("creating the log stream (fopencookie): {0}")]
    Stream(#[source] std::io::Error),
}

/// glibc's `cookie_io_functions_t`: four function pointers, read, write, seek,
/// close (`<stdio.h>`, `_GNU_SOURCE`); the `libc` crate does not declare it.
#[repr(C)]
struct CookieIoFunctions {
    read: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> isize>,
    write: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> isize>,
    seek: Option<unsafe extern "C" fn(*mut c_void, *mut i64, c_int) -> c_int>,
    close: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
}

extern "C" {
    fn fopencookie(
        cookie: *mut c_void,
        mode: *const c_char,
        functions: CookieIoFunctions,
    ) -> *mut libc::FILE;
}

/// Whether DPDK's stream is ours. Held while the stream is swapped, and by
/// `EalBuilder::init` while it checks the state and before DPDK's threads exist.
static ROUTED: Mutex<bool> = Mutex::new(false);

/// Names of DPDK's log types by id, filled from `rte_log_dump`.
static TYPE_NAMES: Mutex<Vec<Option<String>>> = Mutex::new(Vec::new());

/// Text kept while `rte_eal_init` runs, for its error message.
static TRANSCRIPT: Mutex<Option<String>> = Mutex::new(None);

thread_local! {
    /// A message's text until its final newline: (level, type, text).
    static PENDING: RefCell<Option<(u32, u32, String)>> = const { RefCell::new(None) };
}

/// Past this many bytes, text without a newline is emitted anyway.
const PENDING_LIMIT: usize = 64 * 1024;

/// Routes DPDK's log to the `log` facade, before the EAL starts.
///
/// [`EalBuilder::init`](super::EalBuilder::init) does this by default; calling
/// it earlier also catches what DPDK logs before `rte_eal_init` (for example
/// from functions an application calls through `dpdk_sys`). Calling it again
/// does nothing.
///
/// Safe because DPDK's stream pointer is swapped only while no DPDK thread can
/// be writing to it: before `rte_eal_init` DPDK has created none, and once the
/// EAL is starting or running this returns [`LogRouteError::EalStarted`]; the
/// check and the swap hold the lock `EalBuilder::init` takes before calling
/// `rte_eal_init`.
pub fn route_dpdk_log() -> Result<(), LogRouteError> {
    let mut routed = ROUTED.lock().unwrap_or_else(|e| e.into_inner());
    if *routed {
        return Ok(());
    }
    if super::eal_started() {
        return Err(LogRouteError::EalStarted);
    }
    install(&mut routed)
}

/// For `EalBuilder::init`, after its state moved to starting, before
/// `rte_eal_init`: routes the log if `route` and not done yet. The lock is
/// taken either way, so a concurrent [`route_dpdk_log`] either finished before
/// or sees the EAL started.
pub(crate) fn before_init(route: bool) -> Result<(), LogRouteError> {
    let mut routed = ROUTED.lock().unwrap_or_else(|e| e.into_inner());
    if route && !*routed {
        install(&mut routed)?;
    }
    Ok(())
}

fn install(routed: &mut bool) -> Result<(), LogRouteError> {
    let functions = CookieIoFunctions {
        read: None,
        write: Some(cookie_write),
        seek: None,
        close: Some(cookie_close),
    };
    // SAFETY: the mode is a NUL-terminated string; the functions never use the
    // (null) cookie; glibc copies the function table.
    let stream = unsafe { fopencookie(std::ptr::null_mut(), c"w".as_ptr(), functions) };
    if stream.is_null() {
        return Err(LogRouteError::Stream(std::io::Error::last_os_error()));
    }
    // SAFETY: `stream` is a valid FILE that stays open until DPDK closes it
    // (24.11's cleanup) or the process ends; the callers hold ROUTED and have
    // checked that no DPDK thread exists yet, so nothing reads DPDK's stream
    // pointer while it changes.
    unsafe { dpdk_sys::rte_openlog_stream(stream.cast()) };
    *routed = true;
    Ok(())
}

/// Starts keeping the text of DPDK's messages (while `rte_eal_init` runs).
pub(crate) fn start_transcript() {
    *TRANSCRIPT.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::new());
}

/// Stops keeping text; returns what was kept.
pub(crate) fn take_transcript() -> String {
    TRANSCRIPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default()
}

/// DPDK's level (`RTE_LOG_EMERG` = 1 ... `RTE_LOG_DEBUG` = 8) as `log`'s.
pub fn level_from_dpdk(level: u32) -> Level {
    match level {
        0..=4 => Level::Error,
        5 => Level::Warn,
        6 | 7 => Level::Info,
        8 => Level::Debug,
        _ => Level::Trace,
    }
}

/// Parses `rte_log_dump`'s lines `id N: NAME, level is LEVEL` (22.11, 24.11).
pub(crate) fn parse_type_dump(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("id ")?;
            let (id, rest) = rest.split_once(": ")?;
            let (name, _) = rest.rsplit_once(", level is ")?;
            Some((id.parse().ok()?, name.to_owned()))
        })
        .collect()
}

/// The name DPDK registered for log type `id`, re-reading the list when the
/// type is new to us (drivers and applications register types at any time).
fn type_name(id: u32) -> String {
    let mut names = TYPE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let known = |names: &Vec<Option<String>>| names.get(id as usize).cloned().flatten();
    if let Some(name) = known(&names) {
        return name;
    }
    if let Some(dump) = dump_types() {
        names.clear();
        for (i, name) in parse_type_dump(&dump) {
            if names.len() <= i {
                names.resize(i + 1, None);
            }
            names[i] = Some(name);
        }
    }
    known(&names).unwrap_or_else(|| format!("dpdk.logtype.{id}"))
}

/// `rte_log_dump` into memory.
fn dump_types() -> Option<String> {
    let mut buffer: *mut c_char = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: both out-pointers are valid locals; glibc owns the buffer until
    // fclose, after which it is ours to free.
    let stream = unsafe { libc::open_memstream(&mut buffer, &mut size) };
    if stream.is_null() {
        return None;
    }
    // SAFETY: `stream` is an open FILE; rte_log_dump only prints to it, reading
    // DPDK's type table as its own callers do.
    unsafe { dpdk_sys::rte_log_dump(stream.cast()) };
    // SAFETY: closes the stream once; afterwards `buffer` holds `size` bytes
    // plus a NUL, allocated with malloc.
    let closed = unsafe { libc::fclose(stream) };
    if buffer.is_null() {
        return None;
    }
    // SAFETY: `buffer` points to `size` initialised bytes (see above).
    let bytes = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), size) };
    let text = (closed == 0).then(|| String::from_utf8_lossy(bytes).into_owned());
    // SAFETY: malloc'd by open_memstream, not used after this.
    unsafe { libc::free(buffer.cast()) };
    text
}

/// The stream's write function: what DPDK flushed, `size` bytes at `buffer`.
///
/// # Safety
/// Called by glibc with `size` readable bytes at `buffer`.
unsafe extern "C" fn cookie_write(
    _cookie: *mut c_void,
    buffer: *const c_char,
    size: usize,
) -> isize {
    if size == 0 {
        return 0;
    }
    // SAFETY: glibc passes `size` readable bytes (this function's contract).
    let bytes = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), size) };
    // SAFETY: plain reads of this thread's per-lcore variables.
    let (level, logtype) = unsafe {
        (
            dpdk_sys::rte_log_cur_msg_loglevel(),
            dpdk_sys::rte_log_cur_msg_logtype(),
        )
    };
    // A panicking logger must not unwind into C; the text then counts as written.
    let _ = std::panic::catch_unwind(|| {
        accept(
            level as u32,
            logtype as u32,
            &String::from_utf8_lossy(bytes),
        )
    });
    size as isize
}

/// The stream's close function (DPDK 24.11's cleanup closes it).
///
/// # Safety
/// Called by glibc once, from `fclose`.
unsafe extern "C" fn cookie_close(_cookie: *mut c_void) -> c_int {
    // Whatever waited for its newline is emitted now.
    if let Some((level, logtype, text)) = PENDING.with(|p| p.borrow_mut().take()) {
        emit(level, logtype, &text);
    }
    *ROUTED.lock().unwrap_or_else(|e| e.into_inner()) = false;
    0
}

/// Collects text until a newline ends it, then emits it as one record.
fn accept(level: u32, logtype: u32, text: &str) {
    let ready = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let entry = pending.get_or_insert_with(|| (level, logtype, String::new()));
        entry.2.push_str(text);
        if entry.2.ends_with('\n') || entry.2.len() >= PENDING_LIMIT {
            pending.take()
        } else {
            None
        }
    });
    // Emitted outside the borrow: a logger may itself make DPDK log.
    if let Some((level, logtype, text)) = ready {
        emit(level, logtype, &text);
    }
}

fn emit(level: u32, logtype: u32, text: &str) {
    if ::log::max_level() == LevelFilter::Off {
        // No logger: DPDK's own default, the text on standard error.
        write_stderr(text.as_bytes());
        return;
    }
    if let Some(kept) = TRANSCRIPT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_mut()
    {
        kept.push_str(text);
    }
    let level = level_from_dpdk(level);
    if level > ::log::max_level() {
        return;
    }
    let target = type_name(logtype);
    let message = text.strip_suffix('\n').unwrap_or(text);
    ::log::logger().log(
        &::log::Record::builder()
            .level(level)
            .target(&target)
            .module_path_static(Some("dpdk"))
            .args(format_args!("{message}"))
            .build(),
    );
}

fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writes from a valid slice to fd 2.
        let n = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_onto_log_levels() {
        let mapped: Vec<Level> = (1..=9).map(level_from_dpdk).collect();
        assert_eq!(
            mapped,
            [
                Level::Error,
                Level::Error,
                Level::Error,
                Level::Error,
                Level::Warn,
                Level::Info,
                Level::Info,
                Level::Debug,
                Level::Trace
            ]
        );
    }

    #[test]
    fn type_dump_lines_parse() {
        let dump = "global log level is debug\n\
                    id 0: lib.eal, level is info\n\
                    id 5: pmd.net.null, level is notice\n\
                    id 7: odd, name, level is debug\n\
                    garbage\n\
                    id x: bad, level is info\n";
        assert_eq!(
            parse_type_dump(dump),
            [
                (0, "lib.eal".to_owned()),
                (5, "pmd.net.null".to_owned()),
                (7, "odd, name".to_owned())
            ]
        );
    }
}
