//! The EAL starts once per process, refuses every other start with a typed
//! error, and turns DPDK's complaints about its arguments into error values.

mod common;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::eal::{EalBuilder, EalError};

/// Runs `body` in a child process; in the parent, checks the child passed.
macro_rules! in_child {
    ($name:literal, $body:block) => {
        if is_child($name) {
            $body
        } else {
            child_passes($name, &[]);
        }
    };
}

#[test]
fn once_then_cleanup_then_never() {
    in_child!("once_then_cleanup_then_never", {
        let eal = base_builder()
            .no_pci()
            .vdev("net_null0")
            .init()
            .expect("first init");
        assert!(eal.version().starts_with("DPDK "), "{}", eal.version());
        assert_eq!(eal.lcore_count(), 1);
        assert_eq!(eal.main_lcore(), 0);
        assert_eq!(eal.current_lcore(), Some(0));
        // The null vdev is an ethdev port of DPDK's net_null driver.
        assert_eq!(eal.eth_port_count(), 1);
        let ports = eal.eth_ports().unwrap();
        assert_eq!(
            (
                ports[0].port_id,
                ports[0].driver.as_str(),
                ports[0].device.as_str()
            ),
            (0, "net_null", "net_null0")
        );
        // SAFETY: rte_lcore_id only reads the calling thread's per-lcore id.
        assert_eq!(
            std::thread::spawn(|| unsafe { dpdk_sys::rte_lcore_id() })
                .join()
                .unwrap(),
            u32::MAX
        );

        let again = base_builder().no_pci().init().unwrap_err();
        assert!(matches!(again, EalError::AlreadyRunning), "{again}");
        assert_eq!(
            again.to_string(),
            "the EAL is already running in this process"
        );

        eal.cleanup().expect("cleanup");
        let after = base_builder().no_pci().init().unwrap_err();
        assert!(matches!(after, EalError::CleanedUp), "{after}");
        assert!(
            after.to_string().contains("cannot start it again"),
            "{after}"
        );
    });
}

#[test]
fn drop_cleans_up() {
    in_child!("drop_cleans_up", {
        drop(base_builder().no_pci().init().expect("init"));
        assert!(matches!(
            base_builder().no_pci().init(),
            Err(EalError::CleanedUp)
        ));
    });
}

#[test]
fn eight_racing_threads_one_winner() {
    in_child!("eight_racing_threads_one_winner", {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    match base_builder().no_pci().init() {
                        // The handle is not Send: clean up on the thread that started it.
                        Ok(eal) => {
                            eal.cleanup().unwrap();
                            "ok"
                        }
                        Err(EalError::InitInProgress) => "in-progress",
                        Err(EalError::AlreadyRunning) => "running",
                        Err(EalError::CleanedUp) => "cleaned",
                        Err(other) => panic!("unexpected error: {other}"),
                    }
                })
            })
            .collect();
        let results: Vec<&str> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| **r == "ok").count(),
            1,
            "{results:?}"
        );
        assert_eq!(results.len(), 8);
    });
}

#[test]
fn nul_byte_is_refused_before_dpdk_sees_it() {
    in_child!("nul_byte_is_refused_before_dpdk_sees_it", {
        let nul = base_builder().vdev("net_null0\0x").init().unwrap_err();
        assert!(
            matches!(nul, EalError::NulInArgument(ref a) if a == "net_null0\0x"),
            "{nul}"
        );
        assert!(nul.to_string().contains("NUL byte"));
        // DPDK never ran, so the EAL still starts.
        base_builder()
            .no_pci()
            .init()
            .expect("init after a refused argument");
    });
}

#[test]
fn unknown_option_is_invalid_arguments_without_usage_text() {
    in_child!("unknown_option_is_invalid_arguments_without_usage_text", {
        let err = base_builder()
            .no_pci()
            .arg("--no-such-option")
            .init()
            .unwrap_err();
        match &err {
            EalError::InvalidArguments { args, message } => {
                assert!(args.contains("--no-such-option"));
                assert!(message.contains("no-such-option"), "{message}");
                assert!(!message.contains("Usage:"), "usage text leaked: {message}");
            }
            other => panic!("unknown option gave {other:?}"),
        }
        // A failed start is final: DPDK keeps the failed attempt's options.
        let again = base_builder().no_pci().init().unwrap_err();
        assert!(matches!(again, EalError::PreviousInitFailed), "{again}");
        assert!(again.to_string().contains("start a new process"), "{again}");
    });
}

#[test]
fn bad_lcore_list_is_invalid_arguments() {
    in_child!("bad_lcore_list_is_invalid_arguments", {
        let err = EalBuilder::new()
            .arg("-l")
            .arg("zero")
            .no_huge(64 << 20)
            .no_pci()
            .init()
            .unwrap_err();
        assert!(matches!(err, EalError::InvalidArguments { .. }), "{err}");
        assert!(err.to_string().contains("-l"), "{err}");
    });
}

#[test]
fn bad_option_value_is_invalid_arguments() {
    in_child!("bad_option_value_is_invalid_arguments", {
        let err = base_builder()
            .no_pci()
            .arg("--iova-mode")
            .arg("sideways")
            .init()
            .unwrap_err();
        assert!(matches!(err, EalError::InvalidArguments { .. }), "{err}");
        assert!(err.to_string().contains("iova-mode"), "{err}");
    });
}

#[test]
fn vdev_without_driver_fails_in_bus_scan() {
    in_child!("vdev_without_driver_fails_in_bus_scan", {
        let err = base_builder()
            .no_pci()
            .vdev("no_such_driver0")
            .init()
            .unwrap_err();
        match &err {
            EalError::InitFailed { errno, message, .. } => {
                assert_eq!(*errno, libc::ENODEV, "{err}");
                assert!(message.contains("no_such_driver0"), "{message}");
            }
            other => panic!("unknown vdev gave {other:?}"),
        }
    });
}

#[test]
fn builder_renders_typed_settings() {
    let addr = "0000:00:03.0".parse().unwrap();
    let b = EalBuilder::new()
        .program_name("app")
        .lcores([0, 2])
        .main_lcore(2)
        .no_huge(100 << 20)
        .allow(addr)
        .block("01:00.1".parse().unwrap())
        .file_prefix("p")
        .iova_mode(dpdk_safe::eal::IovaMode::VirtualAddress);
    assert_eq!(
        b.args(),
        [
            "app",
            "-l",
            "0,2",
            "--main-lcore",
            "2",
            "--no-huge",
            "-m",
            "100",
            "-a",
            "0000:00:03.0",
            "-b",
            "0000:01:00.1",
            "--file-prefix",
            "p",
            "--iova-mode",
            "va"
        ]
    );
    assert_eq!(
        EalBuilder::new().no_huge(1).args()[3],
        "1",
        "rounds up to one megabyte"
    );
}
