//! Shared by the integration tests: DPDK's EAL starts once per process, so each
//! scenario that starts one runs in a child process of its own (the test binary
//! re-executed with a filter for that one test).

#![allow(dead_code)]

use std::process::{Command, Output};

const CHILD_VAR: &str = "DPDK_RS_TEST_CHILD";

/// True inside the re-executed child running `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_VAR).is_ok_and(|v| v == name)
}

/// The command that re-runs this test binary for test `name` alone, started
/// through `wrapper` (a program and its arguments, to which the binary's path
/// is appended: `chroot DIR`, `setpriv ...`) when one is given.
/// `SYSFS_PCI_DEVICES` defaults to an empty directory: the child must never see
/// the host's PCI bus, so callers pass a fake tree, use `--no-pci`, or run in the
/// test VM.
pub fn child_command(name: &str, wrapper: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let empty = std::env::temp_dir().join("dpdk-rs-empty-pci-tree");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args([
        name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
        "--color",
        "never",
    ])
    .env(CHILD_VAR, name)
    .env("SYSFS_PCI_DEVICES", &empty)
    .env("RUST_BACKTRACE", "0");
    cmd
}

/// Re-runs this test binary for test `name` alone, with extra environment.
/// A child still running after `DPDK_RS_CHILD_TIMEOUT` seconds (default 600)
/// is killed and the test fails with what it printed so far, so that a hang
/// costs minutes, not the whole run's time limit.
pub fn run_child(name: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = child_command(name, &[]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    output_within_deadline(name, cmd)
}

/// `cmd.output()`, with the deadline of [`run_child`].
pub fn output_within_deadline(name: &str, mut cmd: Command) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let limit = std::env::var("DPDK_RS_CHILD_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-executing the test binary");
    // Readers on their own threads, so a child that fills a pipe still runs.
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(limit) {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&stdout.join().unwrap()),
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
            panic!("child {name} still ran after {limit} s (DPDK_RS_CHILD_TIMEOUT): killed; its output:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A finished child's stdout and stderr, as one text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that child `name` exited successfully after running its one test;
/// returns `text`, its output.
pub fn check_passed(name: &str, status: std::process::ExitStatus, text: String) -> String {
    assert!(status.success(), "child {name} failed ({status}):\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} ran no test:\n{text}"
    );
    text
}

/// [`check_passed`] for a child that has finished.
pub fn passed(name: &str, out: &Output) -> String {
    check_passed(name, out.status, output_text(out))
}

/// Runs the child and asserts it passed; returns its stdout and stderr.
pub fn child_passes(name: &str, envs: &[(&str, &str)]) -> String {
    passed(name, &run_child(name, envs))
}

/// DPDK 25.11 and later read the EAL's options with a parser that ends the
/// process on a bad one, so the crate refuses those before `rte_eal_init`,
/// which leaves the EAL startable (earlier lines: DPDK's own failure, final).
pub fn eal_parses_with_argparse() -> bool {
    (dpdk_sys::RTE_VER_YEAR, dpdk_sys::RTE_VER_MONTH) >= (25, 11)
}

/// EAL arguments every test uses: no hugepages, no shared files, one lcore.
/// `DPDK_RS_VFIO_BACKEND=crate` or `=dpdk` picks who opens VFIO devices
/// (tools/vm-tests.sh runs the VFIO sections with both); unset, the default.
pub fn base_builder() -> dpdk_safe::EalBuilder {
    let builder = dpdk_safe::EalBuilder::new()
        .program_name("dpdk-rs-test")
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .log_level(dpdk_safe::LogLevel::Warning);
    match std::env::var("DPDK_RS_VFIO_BACKEND").as_deref() {
        Ok("crate") => builder.vfio_backend(dpdk_safe::VfioBackend::Crate),
        Ok("dpdk") => builder.vfio_backend(dpdk_safe::VfioBackend::Dpdk),
        Ok(other) => panic!("DPDK_RS_VFIO_BACKEND={other}: say crate or dpdk"),
        Err(_) => builder,
    }
}

/// Runs `body` in a child over the test VM's real (emulated) PCI bus; in the
/// parent, prints the child's output and checks it passed.
pub fn in_vm_child(name: &str, body: impl FnOnce()) {
    if is_child(name) {
        body();
        return;
    }
    vm_child_passes(name, std::path::Path::new("/sys/bus/pci/devices"));
}

/// The parent's side of a VM test: runs child `name` with `SYSFS_PCI_DEVICES`
/// at `sysfs`, prints its output and checks it passed.
pub fn vm_child_passes(name: &str, sysfs: &std::path::Path) {
    let text = child_passes(name, &[("SYSFS_PCI_DEVICES", sysfs.to_str().unwrap())]);
    println!("{text}");
}

/// A region of `size` bytes at `offset` in a plain file standing in for a
/// device file: for register access over plain files (`RegionIo::over_file`).
pub fn plain_region(
    index: dpdk_safe::RegionIndex,
    offset: u64,
    size: u64,
    readable: bool,
    writable: bool,
) -> dpdk_safe::FileRegion {
    dpdk_safe::FileRegion {
        readable,
        writable,
        ..dpdk_safe::FileRegion::new(index, offset, size)
    }
}

/// A new empty file, already unlinked (gone when the handle closes), that
/// stands in for a device file.
pub fn unlinked_file() -> std::fs::File {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "dpdk-rs-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

/// Like [`child_passes`], but the child is killed, and the test fails, when it
/// has not finished within `limit` (a deadlock shows up as a time-out).
pub fn child_passes_within(
    name: &str,
    envs: &[(&str, &str)],
    limit: std::time::Duration,
) -> String {
    use std::io::Read;
    use std::process::Stdio;
    let mut cmd = child_command(name, &[]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-executing the test binary");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        out_reader.join().unwrap(),
        err_reader.join().unwrap()
    );
    let status = status.unwrap_or_else(|| {
        panic!("child {name} did not finish within {limit:?} (deadlock?):\n{text}")
    });
    check_passed(name, status, text)
}

/// A Rust driver that keeps a bound handle to each device it probes (its
/// per-device state) and says on standard output when DPDK removes one.
#[cfg(dpdk_pci_driver)]
pub struct Keeper;

#[cfg(dpdk_pci_driver)]
impl dpdk_safe::PciDriver for Keeper {
    type Device = dpdk_safe::BoundDevice;
    fn probe(
        &self,
        dev: &dpdk_safe::ProbedDevice<'_>,
    ) -> Result<dpdk_safe::BoundDevice, dpdk_safe::ProbeFailure> {
        Ok(dev.bind())
    }
    fn remove(&self, dev: &dpdk_safe::ProbedDevice<'_>, _state: dpdk_safe::BoundDevice) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "keeper: the driver's remove for {}", dev.address());
        let _ = out.flush();
    }
}
