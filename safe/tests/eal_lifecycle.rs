//! The EAL starts once per process, refuses every other start with a typed
//! error, and turns DPDK's complaints about its arguments into error values.

mod common;

use common::{base_builder, child_passes, eal_parses_with_argparse, is_child};
use dpdk_safe::{EalBuilder, EalError};

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
        assert_eq!(
            // SAFETY: rte_lcore_id only reads the calling thread's per-lcore id.
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
        if eal_parses_with_argparse() {
            // Refused before DPDK was called (it would have exited the process).
            assert!(
                err.to_string().contains("refused before rte_eal_init"),
                "{err}"
            );
            base_builder()
                .no_pci()
                .init()
                .expect("the EAL starts after a refusal");
            return;
        }
        // A failed start is final: DPDK keeps the failed attempt's options.
        let again = base_builder().no_pci().init().unwrap_err();
        assert!(matches!(again, EalError::PreviousInitFailed), "{again}");
        assert!(again.to_string().contains("start a new process"), "{again}");
    });
}

/// `--help` ends the process on every line (DPDK prints its usage and exits),
/// and so does, from 25.11, any option its parser cannot read: each is a typed
/// error before DPDK is called, and the EAL then starts.
#[test]
fn options_dpdk_would_exit_on_are_refused_before_init() {
    in_child!("options_dpdk_would_exit_on_are_refused_before_init", {
        let mut refused: Vec<(EalBuilder, &str)> = vec![
            (
                base_builder().no_pci().arg("--help"),
                "-h/--help makes DPDK print its usage",
            ),
            (
                base_builder().no_pci().arg("-h"),
                "-h/--help makes DPDK print its usage",
            ),
        ];
        if eal_parses_with_argparse() {
            refused.extend([
                (
                    base_builder().no_pci().no_pci(),
                    "argument --no-pci should not occur multiple times",
                ),
                (
                    base_builder().arg("--no-pci=1"),
                    "argument --no-pci should not take value",
                ),
                (
                    base_builder().no_pci().arg("--file-prefix"),
                    "argument --file-prefix doesn't have value",
                ),
                (
                    base_builder().no_pci().arg("--no-pc"),
                    "unknown argument --no-pc",
                ),
            ]);
        } else {
            // getopt also reads help inside a cluster and from a prefix.
            refused.extend([
                (
                    base_builder().no_pci().arg("-vh"),
                    "-vh (-h/--help makes DPDK print",
                ),
                (
                    base_builder().no_pci().arg("--hel"),
                    "--hel (-h/--help makes DPDK print",
                ),
            ]);
        }
        for (builder, want) in refused {
            match builder.init() {
                Err(EalError::InvalidArguments { message, .. }) => {
                    assert!(message.contains(want), "{builder}: {message}")
                }
                other => panic!("{builder}: {other:?}"),
            }
        }
        let eal = base_builder()
            .no_pci()
            .init()
            .expect("nothing reached DPDK");
        assert_eq!(eal.lcore_count(), 1);
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
                assert_eq!(errno.code(), libc::ENODEV, "{err}");
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
        .iova_mode(dpdk_safe::IovaMode::VirtualAddress);
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

// ------------------------------------------------------------ argv is DPDK's to write

/// `--no-huge` without `-m` (DPDK refuses `-m` with `--socket-mem` first).
fn no_huge_builder() -> EalBuilder {
    EalBuilder::new()
        .program_name("dpdk-rs-test")
        .lcores([0])
        .arg("--no-huge")
        .no_shconf()
        .no_pci()
        .log_level(dpdk_safe::LogLevel::Warning)
}

/// The builder's arguments and rendering, to compare after DPDK had its copy.
fn snapshot(builder: &EalBuilder) -> (Vec<std::ffi::OsString>, String, Vec<std::ffi::CString>) {
    (
        builder.args().to_vec(),
        builder.to_string(),
        builder.c_args().unwrap(),
    )
}

#[test]
fn socket_mem_list_is_split_then_refused_with_no_huge() {
    in_child!("socket_mem_list_is_split_then_refused_with_no_huge", {
        let builder = no_huge_builder().arg("--socket-mem").arg("512,512,1024");
        let before = snapshot(&builder);
        let err = builder.init().unwrap_err();
        println!("DPDK said: {err}");
        match &err {
            EalError::InvalidArguments { args, message } => {
                assert!(args.ends_with("--socket-mem 512,512,1024"), "{args}");
                // 25.11 checks the pair before it reads the list, in its words.
                let want = if eal_parses_with_argparse() {
                    "Options 'no-huge' and 'numa-mem' can't be used at the same time"
                } else {
                    "Option --socket-mem cannot be specified together with --no-huge"
                };
                assert!(message.contains(want), "{message}");
            }
            other => panic!("--socket-mem with --no-huge gave {other:?}"),
        }
        // DPDK split its copy in place; the builder's strings are as they were.
        assert_eq!(snapshot(&builder), before);
        assert_eq!(builder.args().last().unwrap(), "512,512,1024");
    });
}

#[test]
fn socket_mem_bad_list_is_invalid_arguments() {
    in_child!("socket_mem_bad_list_is_invalid_arguments", {
        let builder = no_huge_builder().arg("--socket-mem").arg("512,abc");
        let err = builder.init().unwrap_err();
        println!("DPDK said: {err}");
        assert!(matches!(err, EalError::InvalidArguments { .. }), "{err}");
        let want = if eal_parses_with_argparse() {
            "Options 'no-huge' and 'numa-mem' can't be used at the same time"
        } else {
            "invalid parameters for --socket-mem"
        };
        assert!(err.to_string().contains(want), "{err}");
        assert_eq!(builder.args().last().unwrap(), "512,abc");
    });
}

#[test]
fn socket_limit_list_is_split_and_the_eal_starts() {
    in_child!("socket_limit_list_is_split_and_the_eal_starts", {
        let builder = base_builder()
            .no_pci()
            .arg("--socket-limit")
            .arg("512,512,1024");
        let before = snapshot(&builder);
        let eal = builder.init().expect("--socket-limit without hugepages");
        assert_eq!(eal.lcore_count(), 1);
        // Reused after DPDK wrote into its copy: the same strings, the same text.
        assert_eq!(snapshot(&builder), before);
        assert!(builder.to_string().ends_with("--socket-limit 512,512,1024"));
        assert!(matches!(builder.init(), Err(EalError::AlreadyRunning)));
    });
}

#[test]
fn socket_limit_bad_list_is_invalid_arguments() {
    in_child!("socket_limit_bad_list_is_invalid_arguments", {
        let builder = base_builder().no_pci().arg("--socket-limit").arg("512,abc");
        let err = builder.init().unwrap_err();
        println!("DPDK said: {err}");
        assert!(matches!(err, EalError::InvalidArguments { .. }), "{err}");
        let want = if eal_parses_with_argparse() {
            "invalid numa-limit parameter: '512,abc'"
        } else {
            "invalid parameters for --socket-limit"
        };
        assert!(err.to_string().contains(want), "{err}");
        assert_eq!(builder.args().last().unwrap(), "512,abc");
    });
}

extern "C" {
    /// glibc's getopt index (`<unistd.h>`).
    static mut optind: std::ffi::c_int;
}

/// glibc's getopt keeps a pointer into the last argument DPDK parsed: after a
/// short option that ends its argument (`-v` here), into that argument's NUL.
/// The application's next getopt reads through it, so the strings must outlive
/// `init`: freed, this read is a use after free (valgrind, `tools/memcheck.sh`,
/// reports it), and whatever the allocator left there is parsed as options.
#[test]
fn argv_strings_outlive_init_for_getopt() {
    in_child!("argv_strings_outlive_init_for_getopt", {
        let _eal = base_builder().no_pci().arg("-v").init().expect("init");
        // SAFETY: reads glibc's global; this test is the only thread using getopt.
        assert_eq!(unsafe { optind }, 1, "DPDK restored optind");
        let mut strings = [c"app".to_owned(), c"-x".to_owned()];
        let mut argv: Vec<*mut std::ffi::c_char> =
            strings.iter_mut().map(|s| s.as_ptr().cast_mut()).collect();
        argv.push(std::ptr::null_mut());
        // SAFETY: argv holds 2 NUL-terminated strings, then NULL, alive for the
        // call; getopt reads them (and may permute the array, which is ours).
        let first = unsafe { libc::getopt(2, argv.as_mut_ptr(), c"x".as_ptr()) };
        assert_eq!(first, i32::from(b'x'), "getopt read stale state");
    });
}

/// Capture set-up failing (no fd left for the memfd, the /dev/null fallback or
/// the copies of fds 1/2) is an error before DPDK is called: the EAL still starts.
#[test]
fn capture_failure_leaves_the_eal_startable() {
    in_child!("capture_failure_leaves_the_eal_startable", {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(
            // SAFETY: limit is a valid out-buffer for getrlimit.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        let lowest_free = {
            let probe = std::fs::File::open("/dev/null").unwrap();
            std::os::fd::AsRawFd::as_raw_fd(&probe)
        };
        // The capture needs four new fds: with at most three slots free, one fails.
        for free in 0..4 {
            let lowered = libc::rlimit {
                rlim_cur: (lowest_free + free) as libc::rlim_t,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: lowers this process's soft fd limit; restored below.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
            let err = base_builder().no_pci().init().unwrap_err();
            // SAFETY: puts the soft limit back as it was.
            assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
            match &err {
                EalError::Capture(io) => assert_eq!(io.raw_os_error(), Some(libc::EMFILE), "{err}"),
                other => panic!("with {free} free fds: {other:?}"),
            }
            assert!(
                err.to_string().starts_with("capturing the EAL's output: "),
                "{err}"
            );
        }
        let eal = base_builder()
            .no_pci()
            .init()
            .expect("init after the capture failed");
        assert!(eal.capture_problem().is_none());
    });
}

// ------------------------------------------------------------ arguments that load code

#[test]
fn non_utf8_driver_path_reaches_c_byte_exact() {
    use std::os::unix::ffi::OsStrExt;
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(b"/opt/pmds/librte_\xff\xfe.so"));
    // SAFETY: nothing is loaded: the builder is only turned into C strings.
    let builder = unsafe { base_builder().no_pci().driver_path(path) };
    let n = builder.args().len();
    assert_eq!(builder.args()[n - 2], "-d");
    assert_eq!(builder.args()[n - 1], path.as_os_str());
    let c_args = builder.c_args().unwrap();
    assert_eq!(c_args[n - 1].as_bytes(), path.as_os_str().as_bytes());
    let argv = builder.c_argv().unwrap();
    assert_eq!(argv.arg_bytes(n - 1), Some(path.as_os_str().as_bytes()));
    // Only the message is lossy.
    assert!(builder
        .to_string()
        .ends_with("-d /opt/pmds/librte_\u{fffd}\u{fffd}.so"));
}

#[test]
fn arguments_that_load_code_are_refused() {
    for arg in [
        "-d",
        "-d/tmp/x.so",
        "-vd/tmp/x",
        "-hvd",
        "--driver-path=/tmp/x.so",
    ] {
        let err = base_builder()
            .no_pci()
            .arg(arg)
            .arg("/tmp/x.so")
            .c_args()
            .unwrap_err();
        match &err {
            EalError::LoadsCode { arg: refused } => assert_eq!(refused, arg),
            other => panic!("{arg} gave {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "EAL argument {arg:?} would make DPDK load a shared object: \
                 use the unsafe EalBuilder::driver_path or EalBuilder::unchecked_arg"
            )
        );
    }
    // A value after -l, -l's attached value, a long option's value (on a
    // builder without base_builder's -l: 25.11 refuses a second one).
    for ok in [&["-l", "0"][..], &["-l", "0,1"], &["-ld"], &["--vdev=-d"]] {
        let builder = ok.iter().fold(EalBuilder::new().no_pci(), |b, a| b.arg(a));
        assert!(builder.c_args().is_ok(), "{ok:?} was refused");
    }
    // Each argument is judged alone: a value that reads as -d is refused too.
    let value = base_builder().arg("-l").arg("-d").c_args();
    assert!(matches!(value, Err(EalError::LoadsCode { ref arg }) if arg == "-d"));
    // SAFETY: nothing is loaded: the builder is only turned into C strings.
    let unchecked = unsafe {
        base_builder()
            .unchecked_arg("-d")
            .unchecked_arg("/tmp/x.so")
    };
    assert!(unchecked.c_args().is_ok());
}

#[test]
fn init_refuses_code_loading_before_dpdk_runs() {
    in_child!("init_refuses_code_loading_before_dpdk_runs", {
        let err = base_builder()
            .no_pci()
            .arg("-vd/nonexistent/x.so")
            .init()
            .unwrap_err();
        assert!(matches!(err, EalError::LoadsCode { .. }), "{err}");
        base_builder()
            .no_pci()
            .init()
            .expect("init after a refused argument");
    });
}
