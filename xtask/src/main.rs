//! The project's tool checks, called by the shell scripts in tools/, which keep
//! the provisioning (QEMU, Debian trees, toolchains): what cargo built (its
//! JSON messages) and what the tests printed (libtest's output), with types.
//!
//! Run `cargo xtask help` for the commands.

mod artifacts;
mod cargo_run;
mod faults;
mod libtest;
mod miri;
mod vmlog;

use std::io::BufReader;
use std::process::{Command, ExitCode, Stdio};

const USAGE: &str = "\
usage: cargo xtask COMMAND ...   (the scripts: tools/xtask COMMAND ...)

  executables [--name TARGET]... [--tests-only] [--exclude TARGET]... [--with-names]
              (--json FILE | -- CARGO_COMMAND...)
      Paths of the executables cargo built, from its JSON messages: those of
      FILE, or of CARGO_COMMAND run with --message-format=json appended
      (e.g. `-- cargo test -p dpdk-safe --test vm_devices --no-run`). With
      --name, each named target's path (the last built), in that order, and
      a target not built is an error. --exclude takes a trailing `*`.
  count-tests (--ignored | --runnable) BINARY [ARG...]
      How many tests a libtest binary lists: the #[ignore]d ones, or those it
      runs without --ignored.
  test-summary LOG
      `ok. N passed` (or FAILED) of LOG's first libtest result line; nothing
      when it has none.
  test-results LOG [--passed N]
      Adds up LOG's libtest result lines (LOG - : standard input) and prints
      the totals; fails on a FAILED or unreadable one and, with --passed,
      unless exactly N tests passed in all.
  vm-log LOG [--section LABEL[=HOST_BINARY]]... [--example SPEC]...
      Checks tools/vm-tests.sh's guest log: each section `== LABEL (N tests)`
      lists N > 0 tests (as many as HOST_BINARY --ignored lists on the host),
      its one result line says N passed and 0 failed, no test FAILED. SPEC is
      `ok|COMMAND|LINE|~TEXT...` (or fails|...): the example ran, with that
      outcome, printed each LINE exactly, a line containing each TEXT, and no
      WRONG.
  vm-faults-log LOG [--section LABEL]... [--expect 'LABEL: REGEX']...
                [--expect-same 'LABEL: REGEX']...
      Checks tools/vm-faults.sh's guest log: each section, from `== LABEL` to
      `== LABEL: status 0 ...`, passed exactly 1 test and has a line matching
      each REGEX (--expect-same: one whose capture groups are all equal).
  bins MANIFEST
      The names of the binary targets of the package at MANIFEST (a
      Cargo.toml), from `cargo metadata`, one a line, sorted.
  miri-result LOG --exit STATUS --min N --skipped N
      Checks one target's `cargo miri test` log (tools/miri.sh): prints
      `PASSED SUMMARY`, or the failure and exits 1.
";

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed ({status})\n{details}")]
    CommandFailed {
        command: String,
        status: std::process::ExitStatus,
        details: String,
    },
    #[error(transparent)]
    Select(#[from] artifacts::SelectError),
    #[error(transparent)]
    FaultsSpec(#[from] faults::BadSpec),
    #[error(transparent)]
    ExampleSpec(#[from] vmlog::BadExampleSpec),
    /// A check failed; its lines are printed already.
    #[error("{0}")]
    Check(String),
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn read_file(path: &str) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    // Console logs may hold stray bytes; they never matter to the checks.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Takes the value of an option.
fn value(args: &mut impl Iterator<Item = String>, option: &str) -> Result<String, Error> {
    args.next()
        .ok_or_else(|| usage(format!("{option} wants a value")))
}

fn number<T: std::str::FromStr>(s: &str, option: &str) -> Result<T, Error> {
    s.parse()
        .map_err(|_| usage(format!("{option} wants a number, not {s:?}")))
}

fn command_line(argv: &[String]) -> String {
    argv.join(" ")
}

fn executables(args: Vec<String>) -> Result<(), Error> {
    let mut sel = artifacts::Selection::default();
    let mut json = None;
    let mut with_names = false;
    let mut command = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--name" => sel.names.push(value(&mut it, &a)?),
            "--exclude" => sel.exclude.push(value(&mut it, &a)?),
            "--tests-only" => sel.tests_only = true,
            "--with-names" => with_names = true,
            "--json" => json = Some(value(&mut it, &a)?),
            "--" => command.extend(it.by_ref()),
            _ => return Err(usage(format!("executables: unknown argument {a:?}"))),
        }
    }
    let build = match (json, command.is_empty()) {
        (Some(path), true) => {
            let f = std::fs::File::open(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            artifacts::read(BufReader::new(f)).map_err(|source| Error::Io { path, source })?
        }
        (None, false) => {
            command.push("--message-format=json".into());
            let shown = command_line(&command);
            let mut cmd = Command::new(&command[0]);
            cargo_run::restore_env(&mut cmd);
            let out = cmd
                .args(&command[1..])
                .stdin(Stdio::null())
                .output()
                .map_err(|source| Error::Spawn {
                    command: shown.clone(),
                    source,
                })?;
            let build = artifacts::read(&out.stdout[..]).map_err(|source| Error::Io {
                path: "cargo's output".into(),
                source,
            })?;
            if !out.status.success() || build.success == Some(false) {
                let mut details = build.errors.join("");
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = stderr.lines().collect();
                details.push_str(&tail[tail.len().saturating_sub(40)..].join("\n"));
                return Err(Error::CommandFailed {
                    command: shown,
                    status: out.status,
                    details,
                });
            }
            build
        }
        _ => {
            return Err(usage(
                "executables: give either --json FILE or -- CARGO_COMMAND...",
            ))
        }
    };
    for e in sel.select(&build)? {
        if with_names {
            println!("{} {}", e.name, e.path);
        } else {
            println!("{}", e.path);
        }
    }
    Ok(())
}

/// Runs `binary args... --list --format terse [--ignored]` and counts.
fn listed(binary: &str, args: &[String], ignored: bool) -> Result<usize, Error> {
    let mut cmd = Command::new(binary);
    cmd.args(args).args(["--list", "--format", "terse"]);
    if ignored {
        cmd.arg("--ignored");
    }
    let shown = format!("{binary} --list{}", if ignored { " --ignored" } else { "" });
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            command: shown.clone(),
            source,
        })?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        return Err(Error::CommandFailed {
            command: shown,
            status: out.status,
            details: lines[lines.len().saturating_sub(10)..].join("\n"),
        });
    }
    Ok(libtest::count_listed(&String::from_utf8_lossy(&out.stdout)))
}

fn count_tests(args: Vec<String>) -> Result<(), Error> {
    let mut it = args.into_iter();
    let mode = it
        .next()
        .ok_or_else(|| usage("count-tests: --ignored or --runnable"))?;
    let binary = it
        .next()
        .ok_or_else(|| usage("count-tests wants a binary"))?;
    let rest: Vec<String> = it.collect();
    let n = match mode.as_str() {
        "--ignored" => listed(&binary, &rest, true)?,
        // --list lists the ignored tests too.
        "--runnable" => listed(&binary, &rest, false)? - listed(&binary, &rest, true)?,
        _ => return Err(usage(format!("count-tests: unknown mode {mode:?}"))),
    };
    println!("{n}");
    Ok(())
}

fn test_summary(args: Vec<String>) -> Result<(), Error> {
    let [path] = &args[..] else {
        return Err(usage("test-summary wants one log"));
    };
    let log = read_file(path)?;
    if let Some(first) = libtest::summaries(&log).into_iter().next() {
        match first {
            Ok(s) => println!(
                "{}. {} passed",
                if s.ok { "ok" } else { "FAILED" },
                s.passed
            ),
            Err(libtest::NotASummary(line)) => println!("unreadable: {line}"),
        }
    }
    Ok(())
}

fn test_results(args: Vec<String>) -> Result<(), Error> {
    let mut it = args.into_iter();
    let path = it.next().ok_or_else(|| usage("test-results wants a log"))?;
    let mut want = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--passed" => want = Some(number::<u64>(&value(&mut it, &a)?, &a)?),
            _ => return Err(usage(format!("test-results: unknown argument {a:?}"))),
        }
    }
    let log = if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|source| {
            Error::Io {
                path: "standard input".into(),
                source,
            }
        })?;
        s
    } else {
        read_file(&path)?
    };
    let t = libtest::totals(&log).map_err(|e| Error::Check(e.to_string()))?;
    println!("test results: {t}");
    if t.failed_runs > 0 || t.failed > 0 {
        return Err(Error::Check("a test run failed".into()));
    }
    if let Some(n) = want {
        if t.passed != n {
            println!("test results: FAILED: {} passed, expected {n}", t.passed);
            return Err(Error::Check(format!("{} tests passed, not {n}", t.passed)));
        }
    }
    Ok(())
}

/// The report lines when all is well, otherwise every problem.
#[cfg(test)]
pub(crate) fn fold<P>(results: Vec<Result<String, P>>) -> Result<Vec<String>, Vec<P>> {
    let (ok, bad): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if bad.is_empty() {
        Ok(ok.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(bad.into_iter().filter_map(Result::err).collect())
    }
}

/// Prints each check's report line or problem, `prefix: ` before each;
/// fails when there is a problem.
fn report<P: std::fmt::Display>(
    prefix: &str,
    results: Vec<Result<String, P>>,
) -> Result<(), Error> {
    let mut problems = 0;
    for r in &results {
        match r {
            Ok(line) => println!("{prefix}: {line}"),
            Err(p) => {
                problems += 1;
                println!("{prefix}: FAILED: {p}");
            }
        }
    }
    if problems == 0 {
        Ok(())
    } else {
        Err(Error::Check(format!("{prefix}: {problems} problem(s)")))
    }
}

fn vm_log(args: Vec<String>) -> Result<(), Error> {
    let mut it = args.into_iter();
    let path = it.next().ok_or_else(|| usage("vm-log wants a log"))?;
    let (mut sections, mut examples) = (Vec::new(), Vec::new());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--section" => {
                let v = value(&mut it, &a)?;
                let (label, host_count) = match v.split_once('=') {
                    Some((label, binary)) => (label.to_string(), Some(listed(binary, &[], true)?)),
                    None => (v, None),
                };
                sections.push(vmlog::SectionSpec { label, host_count });
            }
            "--example" => examples.push(value(&mut it, &a)?.parse()?),
            _ => return Err(usage(format!("vm-log: unknown argument {a:?}"))),
        }
    }
    if sections.is_empty() {
        return Err(usage("vm-log: no --section"));
    }
    report(
        "vm-tests",
        vmlog::results(&read_file(&path)?, &sections, &examples),
    )
}

fn vm_faults_log(args: Vec<String>) -> Result<(), Error> {
    let mut it = args.into_iter();
    let path = it
        .next()
        .ok_or_else(|| usage("vm-faults-log wants a log"))?;
    let mut sections = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--section" => sections.push(faults::SectionSpec {
                label: value(&mut it, &a)?,
                expect: vec![],
            }),
            "--expect" => faults::add_expect(&mut sections, &value(&mut it, &a)?, false)?,
            "--expect-same" => faults::add_expect(&mut sections, &value(&mut it, &a)?, true)?,
            _ => return Err(usage(format!("vm-faults-log: unknown argument {a:?}"))),
        }
    }
    if sections.is_empty() {
        return Err(usage("vm-faults-log: no --section"));
    }
    report("vm-faults", faults::results(&read_file(&path)?, &sections))
}

fn miri_result(args: Vec<String>) -> Result<(), Error> {
    let mut it = args.into_iter();
    let path = it.next().ok_or_else(|| usage("miri-result wants a log"))?;
    let (mut exit, mut min, mut skipped) = (None, None, None);
    while let Some(a) = it.next() {
        let v = value(&mut it, &a)?;
        match a.as_str() {
            "--exit" => exit = Some(number(&v, &a)?),
            "--min" => min = Some(number(&v, &a)?),
            "--skipped" => skipped = Some(number(&v, &a)?),
            _ => return Err(usage(format!("miri-result: unknown argument {a:?}"))),
        }
    }
    let (Some(exit), Some(min_passed), Some(skipped)) = (exit, min, skipped) else {
        return Err(usage("miri-result wants --exit, --min and --skipped"));
    };
    let log = read_file(&path)?;
    match miri::check(
        &log,
        exit,
        miri::Limits {
            min_passed,
            skipped,
        },
    ) {
        Ok(s) => {
            println!(
                "{} {} passed (at least {min_passed}), {} ignored, {} skipped",
                s.passed, s.passed, s.ignored, s.filtered_out
            );
            Ok(())
        }
        Err(p) => {
            for l in miri::context(&log) {
                eprintln!("{l}");
            }
            println!("0 FAILED: {p}");
            Err(Error::Check(p.to_string()))
        }
    }
}

fn bins(args: Vec<String>) -> Result<(), Error> {
    let [manifest] =
        <[String; 1]>::try_from(args).map_err(|_| usage("bins wants one manifest path"))?;
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .other_options(vec!["--offline".to_owned()])
        .exec()
        .map_err(|e| Error::Check(format!("cargo metadata for {manifest}: {e}")))?;
    let manifest = std::fs::canonicalize(&manifest).map_err(|source| Error::Io {
        path: manifest.clone(),
        source,
    })?;
    let mut names: Vec<&str> = metadata
        .packages
        .iter()
        .filter(|p| p.manifest_path.as_std_path() == manifest)
        .flat_map(|p| &p.targets)
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect();
    names.sort_unstable();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

fn run() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "executables" => executables(rest),
        "count-tests" => count_tests(rest),
        "test-summary" => test_summary(rest),
        "test-results" => test_results(rest),
        "vm-log" => vm_log(rest),
        "vm-faults-log" => vm_faults_log(rest),
        "miri-result" => miri_result(rest),
        "bins" => bins(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(usage(format!("unknown command {command:?}"))),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Check(why)) => {
            eprintln!("xtask: {why}");
            ExitCode::FAILURE
        }
        Err(e @ Error::Usage(_)) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
