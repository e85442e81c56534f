//! DPDK's log arrives as records of the `log` crate: levels mapped, DPDK's log
//! type as the target, one record per message, before, during and after
//! `rte_eal_init`; without a logger DPDK's text reaches standard error.

mod common;

use std::ffi::CString;
use std::sync::Mutex;

use common::{child_passes, is_child, run_child};
use dpdk_safe::{route_dpdk_log, EalBuilder, EalError, LogLevel, LogRouteError};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Keeps every record: (level, target, message).
struct Capture(Mutex<Vec<(Level, String, String)>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &Record<'_>) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

fn install_capture() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(LevelFilter::Trace);
}

fn records() -> Vec<(Level, String, String)> {
    CAPTURE.0.lock().unwrap().clone()
}

/// Registers (or finds) log type `name` at DPDK's DEBUG level.
fn log_type(name: &str) -> u32 {
    let name = CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name; DPDK copies it.
    let id = unsafe { dpdk_sys::rte_log_register(name.as_ptr()) };
    assert!(id >= 0, "rte_log_register: {id}");
    // SAFETY: a type id DPDK just returned, a valid level.
    let set = unsafe { dpdk_sys::rte_log_set_level(id as u32, dpdk_sys::RTE_LOG_DEBUG) };
    assert_eq!(set, 0);
    id as u32
}

/// Logs `text` (printed with `%s`) at DPDK `level` for log type `id`.
fn dpdk_log(level: u32, id: u32, text: &str) {
    let text = CString::new(text).unwrap();
    // SAFETY: a "%s" format with one NUL-terminated string argument.
    let ret = unsafe { dpdk_sys::rte_log(level, id, c"%s".as_ptr(), text.as_ptr()) };
    assert!(ret >= 0, "rte_log: {ret}");
}

fn has(records: &[(Level, String, String)], level: Level, target: &str, part: &str) -> bool {
    records
        .iter()
        .any(|(l, t, m)| *l == level && t == target && m.contains(part))
}

#[test]
fn records_before_during_and_after_init() {
    let name = "records_before_during_and_after_init";
    if !is_child(name) {
        child_passes(name, &[]);
        return;
    }
    install_capture();
    route_dpdk_log().expect("routing before the EAL starts");
    route_dpdk_log().expect("routing twice is a no-op");
    let before = log_type("user.dpdkrs.before");
    dpdk_log(
        dpdk_sys::RTE_LOG_WARNING,
        before,
        "logged before rte_eal_init\n",
    );
    assert!(
        has(
            &records(),
            Level::Warn,
            "user.dpdkrs.before",
            "logged before rte_eal_init"
        ),
        "{:#?}",
        records()
    );

    let eal = EalBuilder::new()
        .program_name("dpdk-rs-test")
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .no_pci()
        .vdev("net_null0")
        .log_level(LogLevel::Info)
        .log_level_for("pmd.net.null", LogLevel::Info)
        .init()
        .expect("init");
    let during = records();
    for (level, target, message) in &during {
        eprintln!("record: {level:<5} {target:<16} {message:?}");
    }
    // The EAL's start-up lines, with the EAL's log type as target.
    assert!(
        has(&during, Level::Info, "lib.eal", "Detected CPU lcores"),
        "{during:#?}"
    );
    // A driver's line, with the driver's log type as target.
    assert!(
        has(
            &during,
            Level::Info,
            "pmd.net.null",
            "Initializing pmd_null for net_null0"
        ),
        "{during:#?}"
    );
    // Each message is one record without its final newline.
    assert!(
        during.iter().all(|(_, _, m)| !m.ends_with('\n')),
        "{during:#?}"
    );
    assert!(
        matches!(route_dpdk_log(), Err(LogRouteError::EalStarted) | Ok(())),
        "routing once started is refused unless already routed"
    );

    // After init: every DPDK level, each a two-line message kept as one record.
    let after = log_type("user.dpdkrs.after");
    // The EAL runs at INFO (--log-level 7); DEBUG needs the global level too.
    // SAFETY: sets a level DPDK reads when it filters messages.
    unsafe { dpdk_sys::rte_log_set_global_level(dpdk_sys::RTE_LOG_DEBUG) };
    let expected = [
        (dpdk_sys::RTE_LOG_EMERG, Level::Error),
        (dpdk_sys::RTE_LOG_ALERT, Level::Error),
        (dpdk_sys::RTE_LOG_CRIT, Level::Error),
        (dpdk_sys::RTE_LOG_ERR, Level::Error),
        (dpdk_sys::RTE_LOG_WARNING, Level::Warn),
        (dpdk_sys::RTE_LOG_NOTICE, Level::Info),
        (dpdk_sys::RTE_LOG_INFO, Level::Info),
        (dpdk_sys::RTE_LOG_DEBUG, Level::Debug),
    ];
    let start = records().len();
    for (dpdk_level, _) in expected {
        dpdk_log(
            dpdk_level,
            after,
            &format!("level {dpdk_level}\nsecond line\n"),
        );
    }
    // A line built from two calls is one record too.
    dpdk_log(dpdk_sys::RTE_LOG_NOTICE, after, "first half, ");
    dpdk_log(dpdk_sys::RTE_LOG_NOTICE, after, "second half\n");
    let got: Vec<_> = records()[start..].to_vec();
    let mut want: Vec<_> = expected
        .iter()
        .map(|(dpdk_level, level)| {
            (
                *level,
                "user.dpdkrs.after".to_owned(),
                format!("level {dpdk_level}\nsecond line"),
            )
        })
        .collect();
    want.push((
        Level::Info,
        "user.dpdkrs.after".to_owned(),
        "first half, second half".to_owned(),
    ));
    assert_eq!(got, want);
    eal.cleanup().expect("cleanup");
}

#[test]
fn a_failed_start_still_carries_dpdk_s_message() {
    let name = "a_failed_start_still_carries_dpdk_s_message";
    if !is_child(name) {
        child_passes(name, &[]);
        return;
    }
    install_capture();
    let err = EalBuilder::new()
        .program_name("dpdk-rs-test")
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .no_pci()
        .vdev("no_such_driver0")
        .init()
        .unwrap_err();
    match &err {
        EalError::InitFailed { message, .. } => {
            assert!(message.contains("no_such_driver0"), "{message}")
        }
        other => panic!("unknown vdev gave {other:?}"),
    }
    // The same lines reached the logger, as errors of the EAL's log types.
    let got = records();
    assert!(
        got.iter().any(|(l, t, m)| *l == Level::Error
            && t.starts_with("lib.")
            && m.contains("no_such_driver0")),
        "{got:#?}"
    );
}

#[test]
fn without_a_logger_dpdk_writes_to_standard_error() {
    let name = "without_a_logger_dpdk_writes_to_standard_error";
    if !is_child(name) {
        let out = run_child(name, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("after init, no logger\nsecond line\n"),
            "{stderr}"
        );
        return;
    }
    let eal = common::base_builder()
        .no_pci()
        .init()
        .expect("init without a logger");
    let id = log_type("user.dpdkrs.nologger");
    dpdk_log(
        dpdk_sys::RTE_LOG_WARNING,
        id,
        "after init, no logger\nsecond line\n",
    );
    eal.cleanup().expect("cleanup");
}

#[test]
fn opting_out_keeps_dpdk_s_own_stream() {
    let name = "opting_out_keeps_dpdk_s_own_stream";
    if !is_child(name) {
        child_passes(name, &[]);
        return;
    }
    install_capture();
    let eal = common::base_builder()
        .no_pci()
        .log_to_rust(false)
        .init()
        .expect("init");
    let id = log_type("user.dpdkrs.optout");
    dpdk_log(dpdk_sys::RTE_LOG_WARNING, id, "not for the logger\n");
    let got = records();
    assert!(
        got.iter().all(|(_, t, _)| t != "user.dpdkrs.optout"),
        "{got:#?}"
    );
    eal.cleanup().expect("cleanup");
}
