//! The EAL options that would end the process instead of failing `rte_eal_init`.
//!
//! From DPDK 25.11 the EAL reads its options with `rte_argparse`, set to call
//! `exit()` on any error it finds (`exit_on_error` in
//! `lib/eal/common/eal_common_options.c`): an unknown option, a value missing
//! or given where none is taken, an option repeated that may appear once. So
//! that such an argument list is a typed error there as on earlier lines, the
//! builder reads the arguments first, by the same rules, and refuses them
//! before DPDK is called (which also leaves the EAL startable).
//!
//! On every line, `-h`/`--help` prints DPDK's usage and exits with status 0
//! (getopt on 22.11 and 24.11 also reads it in a cluster such as `-vh` or as a
//! prefix such as `--he`); it is refused the same way.

/// What an option takes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A flag: a value (`--no-huge=1`) is an error.
    Nothing,
    /// A value, inline (`-l0`, `-l=0`, `--lcores=0`) or the next argument.
    Value,
    /// An inline value or none (`--syslog`, `--syslog=local0`).
    OptionalValue,
}

/// One entry of 25.11's option table.
struct EalOption {
    long: &'static str,
    short: Option<&'static str>,
    takes: Takes,
    /// May be given more than once (`-a`, `--vdev`, ...).
    repeats: bool,
}

const fn option(
    long: &'static str,
    short: Option<&'static str>,
    takes: Takes,
    repeats: bool,
) -> EalOption {
    EalOption {
        long,
        short,
        takes,
        repeats,
    }
}

use Takes::{Nothing, OptionalValue, Value};

/// DPDK 25.11's EAL options on Linux (`lib/eal/common/eal_option_list.h`:
/// its list arguments repeat and take a value, its string arguments and
/// aliases take one value, its optional ones an inline value, its booleans
/// none). `-h`/`--help` is handled apart.
const OPTIONS: &[EalOption] = &[
    option("--allow", Some("-a"), Value, true),
    option("--base-virtaddr", None, Value, false),
    option("--block", Some("-b"), Value, true),
    option("--coremask", Some("-c"), Value, false),
    option("--driver-path", Some("-d"), Value, true),
    option("--force-max-simd-bitwidth", None, Value, false),
    option("--huge-unlink", None, OptionalValue, false),
    option("--in-memory", None, Nothing, false),
    option("--iova-mode", None, Value, false),
    option("--lcores", Some("-l"), Value, false),
    option("--legacy-mem", None, Nothing, false),
    option("--log-color", None, OptionalValue, false),
    option("--log-level", None, Value, true),
    option("--log-timestamp", None, OptionalValue, false),
    option("--main-lcore", None, Value, false),
    option("--mbuf-pool-ops-name", None, Value, false),
    option("--memory-channels", Some("-n"), Value, false),
    option("--memory-ranks", Some("-r"), Value, false),
    option("--memory-size", Some("-m"), Value, false),
    option("--no-hpet", None, Nothing, false),
    option("--no-huge", None, Nothing, false),
    option("--no-pci", None, Nothing, false),
    option("--no-shconf", None, Nothing, false),
    option("--no-telemetry", None, Nothing, false),
    option("--proc-type", None, Value, false),
    option("--remap-lcore-ids", Some("-R"), OptionalValue, false),
    option("--service-corelist", Some("-S"), Value, false),
    option("--service-coremask", Some("-s"), Value, false),
    option("--single-file-segments", None, Nothing, false),
    option("--telemetry", None, Nothing, false),
    option("--vdev", None, Value, true),
    option("--vmware-tsc-map", None, Nothing, false),
    option("--version", Some("-v"), Nothing, false),
    option("--syslog", None, OptionalValue, false),
    option("--trace", None, Value, true),
    option("--trace-bufsz", None, Value, false),
    option("--trace-dir", None, Value, false),
    option("--trace-mode", None, Value, false),
    option("--create-uio-dev", None, Nothing, false),
    option("--file-prefix", None, Value, false),
    option("--huge-dir", None, Value, false),
    option("--huge-worker-stack", None, OptionalValue, false),
    option("--match-allocations", None, Nothing, false),
    option("--numa-mem", None, Value, false),
    option("--numa-limit", None, Value, false),
    option("--socket-mem", None, Value, false),
    option("--socket-limit", None, Value, false),
    option("--vfio-intr", None, Value, false),
    option("--vfio-vf-token", None, Value, false),
];

const HELP: &str = "-h/--help makes DPDK print its usage and exit the process";

/// What `rte_argparse` (25.11 and later) would exit the process on in `args`
/// (`argv[0]` left out), in words close to its own; `None` if it would parse
/// them. Read as it reads them: `--` ends the options, an argument without a
/// leading `-` is the application's, a name matches only exactly (no prefixes,
/// no clusters), `-xVALUE` is a short option with an inline value.
pub(crate) fn argparse_refusal<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
    let args: Vec<&[u8]> = args.into_iter().collect();
    let mut seen = vec![false; OPTIONS.len()];
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        i += 1;
        if arg == b"--" {
            break;
        }
        if arg.first() != Some(&b'-') {
            continue;
        }
        if arg == b"-h" || arg == b"--help" {
            return Some(HELP.to_owned());
        }
        let shown = String::from_utf8_lossy(arg);
        let (name, value) = match arg.iter().position(|&b| b == b'=') {
            Some(eq) => (&arg[..eq], Some(&arg[eq + 1..])),
            None if arg.get(1) != Some(&b'-') && arg.len() > 2 => (&arg[..2], Some(&arg[2..])),
            None => (arg, None),
        };
        let Some(index) = OPTIONS.iter().position(|o| {
            o.long.as_bytes() == name || o.short.is_some_and(|s| s.as_bytes() == name)
        }) else {
            return Some(format!("unknown argument {shown}"));
        };
        let option = &OPTIONS[index];
        let name = String::from_utf8_lossy(name);
        if seen[index] && !option.repeats {
            return Some(format!("argument {name} should not occur multiple times"));
        }
        match (option.takes, value) {
            (Nothing, Some(_)) => return Some(format!("argument {name} should not take value")),
            (Value, None) if i >= args.len() => {
                return Some(format!("argument {name} doesn't have value"))
            }
            // The next argument is the value, whatever it looks like.
            (Value, None) => i += 1,
            _ => {}
        }
        seen[index] = true;
    }
    None
}

/// Whether getopt (22.11, 24.11) could read `arg` as the option `-short` /
/// `--long`: a short cluster with `short` before any letter that takes a value
/// (`with_value`: the rest of the cluster would be that letter's value), or a
/// long option whose name is a non-empty prefix of `long` (getopt_long accepts
/// unambiguous prefixes; ambiguous ones count too, conservatively).
pub(crate) fn getopt_reads(arg: &[u8], short: u8, long: &[u8], with_value: &[u8]) -> bool {
    match arg {
        [b'-', b'-', name @ ..] => {
            let name = name.split(|&b| b == b'=').next().unwrap_or_default();
            !name.is_empty() && long.starts_with(name)
        }
        [b'-', cluster @ ..] => {
            for &letter in cluster {
                if letter == short {
                    return true;
                }
                if with_value.contains(&letter) {
                    return false;
                }
            }
            false
        }
        _ => false,
    }
}

/// The message for an argument getopt reads as help.
pub(crate) fn help_refusal(arg: &[u8]) -> String {
    format!("{} ({HELP})", String::from_utf8_lossy(arg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(args: &[&str]) -> Option<String> {
        argparse_refusal(args.iter().map(|a| a.as_bytes()))
    }

    #[test]
    fn what_argparse_parses() {
        for args in [
            &[][..],
            &["--no-pci", "--no-huge", "-m", "64", "--iova-mode", "va"],
            &["-l", "0,1", "--main-lcore=1", "-n4"],
            &["-l=0"],
            &[
                "-a",
                "0000:00:03.0",
                "-a0000:00:04.0",
                "--allow=0000:00:05.0",
            ],
            &["--vdev", "net_null0", "--vdev=net_null1"],
            // A value is the next argument whatever it looks like.
            &["--vdev", "--no-such-option", "--file-prefix", "-x"],
            &["--syslog"],
            // A device's arguments in the next argument, not inline (below).
            &["-a", "0000:00:03.0,x=1"],
            &["--syslog=local0", "--log-color"],
            &["--socket-mem", "512,512", "--numa-limit", "1024"],
            // The application's arguments: not options, or after `--`.
            &["application-word", "--no-pci"],
            &["--", "--no-such-option", "-h"],
            &["-v"],
        ] {
            assert_eq!(refusal(args), None, "{args:?}");
        }
    }

    #[test]
    fn what_argparse_exits_on() {
        for (args, want) in [
            (
                &["--no-such-option"][..],
                "unknown argument --no-such-option",
            ),
            (&["-x"], "unknown argument -x"),
            (&["-"], "unknown argument -"),
            // No prefixes, no clusters.
            (&["--no-hug"], "unknown argument --no-hug"),
            // `-vl0` is `-v` with the value `l0`, not `-v -l0`.
            (&["-vl0"], "argument -v should not take value"),
            (&["--no-huge=1"], "argument --no-huge should not take value"),
            (&["-vx"], "argument -v should not take value"),
            (&["--no-pci", "-l"], "argument -l doesn't have value"),
            (
                &["--file-prefix"],
                "argument --file-prefix doesn't have value",
            ),
            (
                &["-l", "0", "--lcores", "1"],
                "argument --lcores should not occur multiple times",
            ),
            (
                &["--no-pci", "--no-pci"],
                "argument --no-pci should not occur multiple times",
            ),
            // An inline value with '=' in it: the name runs to the '='.
            (
                &["-a0000:00:03.0,x=1"],
                "unknown argument -a0000:00:03.0,x=1",
            ),
            (&["-h"], HELP),
            (&["--no-pci", "--help"], HELP),
        ] {
            assert_eq!(refusal(args).as_deref(), Some(want), "{args:?}");
        }
    }

    #[test]
    fn what_getopt_reads_as_help() {
        let with_value = b"abcslSmnr";
        for arg in ["-h", "-vh", "--help", "--he", "--h", "--help=x"] {
            assert!(
                getopt_reads(arg.as_bytes(), b'h', b"help", with_value),
                "{arg}"
            );
        }
        for arg in [
            "-lh",
            "-a0000:00:0h.0",
            "--huge-dir",
            "--hx",
            "h",
            "-",
            "--",
        ] {
            assert!(
                !getopt_reads(arg.as_bytes(), b'h', b"help", with_value),
                "{arg}"
            );
        }
    }
}
