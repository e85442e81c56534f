//! Capturing what the EAL prints while it starts.
//!
//! `rte_eal_init` reports a bad argument by logging a line and printing its whole
//! usage text with `printf`, and its console log writes to stdout. To turn that
//! into an error value, stdout and stderr are pointed at an anonymous memory file
//! for the duration of the call and restored afterwards. Other threads that print
//! during those milliseconds are captured too; their output is replayed.
//!
//! Failures are split by whether the call ran. Setting up (the memory file, a
//! `/dev/null` fallback, copies of fds 1 and 2, the redirection) fails with an
//! error and the call does not run, with fds 1 and 2 as they were. After the call,
//! nothing is an error: the call's value is always returned, and a failed
//! restore (retried on `EINTR`) points the fd at `/dev/null` rather than leave it
//! on the memory file, and is reported beside the value.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The fds captured: stdout and stderr.
const TARGETS: [RawFd; 2] = [libc::STDOUT_FILENO, libc::STDERR_FILENO];

/// How often an `EINTR` is retried before it counts as a failure.
const EINTR_RETRIES: u32 = 64;

/// Which redirection a [`Redirect`] call makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A standard fd onto the memory file, before the call.
    Capture,
    /// A standard fd back onto its saved copy, after the call (or after a
    /// failed `Capture` of the other one).
    Restore,
    /// A standard fd onto `/dev/null`, when `Restore` failed.
    Fallback,
}

/// Makes `to` refer to what `from` refers to (`dup2`); tests inject failures.
pub(crate) type Redirect<'a> = &'a dyn Fn(Step, RawFd, RawFd) -> io::Result<()>;

/// What the captured call returned and printed.
#[derive(Debug)]
pub(crate) struct Captured<T> {
    pub(crate) value: T,
    pub(crate) text: String,
    /// Restoring fds 1/2 or reading the capture failed after the call ran.
    pub(crate) problem: Option<io::Error>,
}

/// Runs `f` with fds 1 and 2 redirected; `Err` only if `f` did not run.
pub(crate) fn capture_output<T>(f: impl FnOnce() -> T) -> io::Result<Captured<T>> {
    capture_with(&|_, from, to| dup2(from, to), f)
}

fn capture_with<T>(redirect: Redirect<'_>, f: impl FnOnce() -> T) -> io::Result<Captured<T>> {
    // Flush Rust's buffered stdout so earlier output is not mixed into the capture.
    io::stdout().flush()?;
    let sink = memfd(c"dpdk-rs-eal-output")?;
    let null = File::options().write(true).open("/dev/null")?;
    let saved = [dup(TARGETS[0])?, dup(TARGETS[1])?];
    for (i, &target) in TARGETS.iter().enumerate() {
        if let Err(err) = retry_interrupted(|| redirect(Step::Capture, sink.as_raw_fd(), target)) {
            // Put back the ones already redirected; `f` does not run.
            return Err(match restore(redirect, &TARGETS[..i], &saved[..i], &null) {
                Ok(()) => err,
                Err(also) => io::Error::new(err.kind(), format!("{err}; {also}")),
            });
        }
    }
    let value = f();
    // SAFETY: fflush(NULL) flushes every C stdio stream; no pointer is passed.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let _ = io::stdout().flush();
    let mut problem = restore(redirect, &TARGETS, &saved, &null).err();
    let text = match read_all(sink) {
        Ok(text) => text,
        Err(err) => {
            problem.get_or_insert(io::Error::new(
                err.kind(),
                format!("reading the EAL's captured output: {err}"),
            ));
            String::new()
        }
    };
    Ok(Captured {
        value,
        text,
        problem,
    })
}

/// Points each of `targets` back at its `saved` copy, or at `null` if that
/// fails; the first failure is returned once every target was tried.
fn restore(
    redirect: Redirect<'_>,
    targets: &[RawFd],
    saved: &[OwnedFd],
    null: &File,
) -> io::Result<()> {
    let mut problem = None;
    for (&target, saved) in targets.iter().zip(saved) {
        let Err(err) = retry_interrupted(|| redirect(Step::Restore, saved.as_raw_fd(), target))
        else {
            continue;
        };
        // Never leave it on the memory file: output would pile up in memory, unseen.
        let outcome = match retry_interrupted(|| redirect(Step::Fallback, null.as_raw_fd(), target))
        {
            Ok(()) => "it now points at /dev/null".to_owned(),
            Err(also) => format!("pointing it at /dev/null failed too ({also})"),
        };
        problem.get_or_insert(io::Error::new(
            err.kind(),
            format!("restoring fd {target} after capturing the EAL's output: {err}; {outcome}"),
        ));
    }
    problem.map_or(Ok(()), Err)
}

fn retry_interrupted(mut op: impl FnMut() -> io::Result<()>) -> io::Result<()> {
    let mut retries = 0;
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted && retries < EINTR_RETRIES => {
                retries += 1;
            }
            other => return other,
        }
    }
}

fn read_all(sink: OwnedFd) -> io::Result<String> {
    let mut file = File::from(sink);
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Writes captured text back to stdout, where the EAL meant it to go.
pub(crate) fn replay(text: &str) {
    let mut out = io::stdout();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: name is a valid C string; the returned fd is checked before use.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a standard descriptor; the result is checked.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: copy is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on two descriptors: `from` is one this module holds open,
    // `to` a standard stream, which it only re-points (no Rust object owns fds
    // 1 and 2 exclusively; std's stdout/stderr write to whatever they are).
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::process::Command;

    const CHILD_VAR: &str = "DPDK_RS_CAPTURE_CHILD";

    /// Runs test `name` (this module's) alone in a child process: the
    /// scenarios re-point the process's own fds 1 and 2.
    fn in_child(name: &str, body: impl FnOnce()) {
        if std::env::var(CHILD_VAR).is_ok_and(|v| v == name) {
            body();
            return;
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("eal::capture::tests::{name}"),
                "--exact",
                "--nocapture",
            ])
            .args(["--test-threads=1"])
            .env(CHILD_VAR, name)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("1 passed"),
            "child {name} failed:\n{text}"
        );
    }

    /// Device and inode of what `fd` refers to.
    fn identity(fd: RawFd) -> (u64, u64) {
        // SAFETY: an all-zero `stat` is a valid value of that plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is a valid out-buffer; fstat only writes it.
        assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0, "fstat({fd})");
        #[allow(clippy::unnecessary_cast)] // the widths differ between targets
        let id = (st.st_dev as u64, st.st_ino as u64);
        id
    }

    /// Copies of the test's own stdout/stderr, put back before asserting, so that
    /// whatever the scenario did to fds 1/2, a failure is visible.
    struct Visible([OwnedFd; 2]);

    impl Visible {
        fn keep() -> Visible {
            Visible([dup(1).unwrap(), dup(2).unwrap()])
        }
        fn put_back(&self) {
            for (fd, copy) in TARGETS.iter().zip(&self.0) {
                dup2(copy.as_raw_fd(), *fd).unwrap();
            }
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "memfd_create, dup2, fstat and a child process: C calls"
    )]
    fn failed_restore_points_fds_at_dev_null_not_the_memfd() {
        in_child(
            "failed_restore_points_fds_at_dev_null_not_the_memfd",
            || {
                let visible = Visible::keep();
                let memfd_seen = Cell::new(None);
                let steps = RefCell::new(Vec::new());
                let redirect = |step: Step, from: RawFd, to: RawFd| {
                    steps.borrow_mut().push((step, to));
                    let restores = steps
                        .borrow()
                        .iter()
                        .filter(|s| s.0 == Step::Restore)
                        .count();
                    match step {
                        Step::Capture => {
                            memfd_seen.set(Some(identity(from)));
                            dup2(from, to)
                        }
                        // First interrupted (retried), then failing for good.
                        Step::Restore if restores == 1 => {
                            Err(io::Error::from_raw_os_error(libc::EINTR))
                        }
                        Step::Restore => Err(io::Error::from_raw_os_error(libc::EIO)),
                        Step::Fallback => dup2(from, to),
                    }
                };
                let captured = capture_with(&redirect, || {
                    io::stdout().write_all(b"printed while captured\n").unwrap();
                    42
                })
                .expect("the capture was set up");
                let after = [identity(1), identity(2)];
                let null = identity(File::open("/dev/null").unwrap().as_raw_fd());
                visible.put_back();

                let memfd = memfd_seen.get().expect("fds 1/2 went onto the memfd");
                assert_eq!(captured.value, 42, "the call's value survives");
                assert_eq!(captured.text, "printed while captured\n");
                for (fd, id) in TARGETS.iter().zip(after) {
                    assert_ne!(id, memfd, "fd {fd} was left on the memfd");
                    assert_eq!(id, null, "fd {fd} is not on /dev/null");
                }
                let problem = captured.problem.expect("the failed restore is reported");
                assert_eq!(problem.raw_os_error(), None);
                assert_eq!(
                    problem.kind(),
                    io::Error::from_raw_os_error(libc::EIO).kind()
                );
                let text = problem.to_string();
                assert!(text.contains("restoring fd 1"), "{text}");
                assert!(text.contains("it now points at /dev/null"), "{text}");
                let steps = steps.into_inner();
                use Step::*;
                assert_eq!(
                    steps,
                    [
                        (Capture, 1),
                        (Capture, 2),
                        (Restore, 1),
                        (Restore, 1),
                        (Fallback, 1),
                        (Restore, 2),
                        (Fallback, 2)
                    ],
                    "EINTR is retried, then each fd falls back"
                );
            },
        );
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "memfd_create, dup2, fstat and a child process: C calls"
    )]
    fn failed_capture_restores_and_does_not_call() {
        in_child("failed_capture_restores_and_does_not_call", || {
            let visible = Visible::keep();
            let before = [identity(1), identity(2)];
            let redirect = |step: Step, from: RawFd, to: RawFd| match (step, to) {
                (Step::Capture, 2) => Err(io::Error::from_raw_os_error(libc::EBUSY)),
                _ => dup2(from, to),
            };
            let called = Cell::new(false);
            let result = capture_with(&redirect, || called.set(true));
            let after = [identity(1), identity(2)];
            visible.put_back();

            let err = result.expect_err("a failed redirection is an error");
            assert_eq!(err.raw_os_error(), Some(libc::EBUSY));
            assert!(!called.get(), "the call ran without its capture");
            assert_eq!(after, before, "fd 1 was put back");
        });
    }
}
