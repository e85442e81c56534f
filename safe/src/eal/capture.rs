//! Capturing what the EAL prints while it starts.
//!
//! `rte_eal_init` reports a bad argument by logging a line and printing its whole
//! usage text with `printf`, and its console log writes to stdout. To turn that
//! into an error value, stdout and stderr are pointed at an anonymous memory file
//! for the duration of the call and restored afterwards. Other threads that print
//! during those milliseconds are captured too; their output is replayed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Runs `f` with fds 1 and 2 redirected; returns its result and the captured text.
pub(crate) fn capture_output<T>(f: impl FnOnce() -> T) -> io::Result<(T, String)> {
    // Flush Rust's buffered stdout so earlier output is not mixed into the capture.
    io::stdout().flush()?;
    let sink = memfd("dpdk-rs-eal-output")?;
    let saved_out = dup(libc::STDOUT_FILENO)?;
    let saved_err = dup(libc::STDERR_FILENO)?;
    redirect(sink.as_raw_fd(), libc::STDOUT_FILENO)?;
    redirect(sink.as_raw_fd(), libc::STDERR_FILENO)?;
    let value = f();
    // SAFETY: fflush(NULL) flushes every C stdio stream; no pointer is passed.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    redirect(saved_out.as_raw_fd(), libc::STDOUT_FILENO)?;
    redirect(saved_err.as_raw_fd(), libc::STDERR_FILENO)?;
    let mut file = File::from(sink);
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((value, String::from_utf8_lossy(&bytes).into_owned()))
}

/// Writes captured text back to stdout, where the EAL meant it to go.
pub(crate) fn replay(text: &str) {
    let mut out = io::stdout();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn memfd(name: &str) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(name).expect("static name without NUL");
    // SAFETY: name is a valid C string; the returned fd is checked before use.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dup(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a standard descriptor; the result is checked.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: copy is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

fn redirect(from: i32, to: i32) -> io::Result<()> {
    // SAFETY: dup2 on two open descriptors; `to` is a standard stream we restore.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
