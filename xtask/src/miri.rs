//! The log of one `cargo miri test` run of tools/miri.sh.

use crate::libtest::Summary;

/// What the table of tools/miri.sh asks of one test target.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The fewest tests that must pass.
    pub min_passed: u64,
    /// How many tests the known skips take out, exactly.
    pub skipped: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    #[error("test {culprit} calls the foreign function {function}, which Miri cannot run; if it must, add it to known_skips in tools/miri.sh with the reason")]
    Foreign { function: String, culprit: String },
    #[error("exit {0}")]
    Exit(i32),
    #[error("no test result line")]
    NoResult,
    #[error("{0} test result lines, not one")]
    Results(usize),
    #[error("the test result line says FAILED: {0}")]
    Failed(String),
    #[error("{passed} passed, fewer than its minimum of {min}")]
    TooFew { passed: u64, min: u64 },
    #[error("the known skips took out {got} tests, not the {want} of the table")]
    Skipped { got: u64, want: u64 },
}

const FOREIGN: &str = "can't call foreign function `";

/// The function Miri could not call, and the test that called it.
fn foreign(log: &str) -> Option<(String, String)> {
    let function = log.lines().find_map(|l| {
        let rest = &l[l.find(FOREIGN)? + FOREIGN.len()..];
        Some(rest[..rest.find('`')?].to_string())
    })?;
    let culprit = log
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("test ")?;
            let (name, rest) = rest.split_once(" ... error: unsupported operation: ")?;
            rest.starts_with("can't call foreign function")
                .then(|| name.to_string())
        })
        .unwrap_or_else(|| "(name not in the log)".into());
    Some((function, culprit))
}

/// Checks the log of a run that exited with `exit`: its summary, or what is wrong.
pub fn check(log: &str, exit: i32, limits: Limits) -> Result<Summary, Problem> {
    if exit != 0 {
        return Err(match foreign(log) {
            Some((function, culprit)) => Problem::Foreign { function, culprit },
            None => Problem::Exit(exit),
        });
    }
    let results: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("test result: "))
        .collect();
    let line = match results[..] {
        [] => return Err(Problem::NoResult),
        [line] => line,
        _ => return Err(Problem::Results(results.len())),
    };
    let summary: Summary = line.parse().map_err(|_| Problem::Failed(line.into()))?;
    if !summary.ok || summary.failed != 0 {
        return Err(Problem::Failed(line.into()));
    }
    if summary.passed < limits.min_passed {
        return Err(Problem::TooFew {
            passed: summary.passed,
            min: limits.min_passed,
        });
    }
    if summary.filtered_out != limits.skipped {
        return Err(Problem::Skipped {
            got: summary.filtered_out,
            want: limits.skipped,
        });
    }
    Ok(summary)
}

/// The lines of a failed run worth showing: around the foreign call, or the tail.
pub fn context(log: &str) -> Vec<&str> {
    let lines: Vec<&str> = log.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.contains(FOREIGN)) {
        return lines[at..lines.len().min(at + 13)].to_vec();
    }
    let kept: Vec<&str> = lines
        .into_iter()
        .filter(|l| !l.trim_start().starts_with("Compiling") && !l.starts_with("warning: dpdk-sys"))
        .collect();
    kept[kept.len().saturating_sub(40)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "   Compiling dpdk-safe v0.1.0
     Running unittests src/lib.rs (target/miri/x86_64-unknown-linux-gnu/debug/deps/dpdk_safe-0123)

running 37 tests
test pci::address::tests::parses ... ok

test result: ok. 37 passed; 0 failed; 3 ignored; 0 measured; 7 filtered out; finished in 12.01s

";

    const LIMITS: Limits = Limits {
        min_passed: 37,
        skipped: 7,
    };

    #[test]
    fn a_good_run_passes() {
        let s = check(OK, 0, LIMITS).unwrap();
        assert_eq!((s.passed, s.ignored, s.filtered_out), (37, 3, 7));
    }

    #[test]
    fn fewer_than_the_minimum_fails() {
        let log = OK.replace("37 passed", "36 passed");
        assert_eq!(
            check(&log, 0, LIMITS),
            Err(Problem::TooFew {
                passed: 36,
                min: 37
            })
        );
    }

    #[test]
    fn skips_other_than_the_table_fail() {
        let log = OK.replace("7 filtered out", "8 filtered out");
        assert_eq!(
            check(&log, 0, LIMITS),
            Err(Problem::Skipped { got: 8, want: 7 })
        );
    }

    #[test]
    fn no_or_two_result_lines_fail() {
        assert_eq!(
            check("running 0 tests\n", 0, LIMITS),
            Err(Problem::NoResult)
        );
        assert_eq!(
            check(&format!("{OK}{OK}"), 0, LIMITS),
            Err(Problem::Results(2))
        );
    }

    #[test]
    fn a_foreign_call_names_function_and_test() {
        let log = "running 3 tests
test vfio::request::tests::waits ... error: unsupported operation: can't call foreign function `poll` on OS `linux`
  --> safe/src/vfio/request.rs:80:9
";
        assert_eq!(
            check(log, 1, LIMITS),
            Err(Problem::Foreign {
                function: "poll".into(),
                culprit: "vfio::request::tests::waits".into()
            })
        );
        assert_eq!(
            context(log)[0].split(": ").last(),
            Some("can't call foreign function `poll` on OS `linux`")
        );
        assert_eq!(check("error: boom\n", 101, LIMITS), Err(Problem::Exit(101)));
    }
}
