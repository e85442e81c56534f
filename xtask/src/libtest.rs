//! libtest's output: the `test result:` line and `--list --format terse`.

use std::fmt;
use std::str::FromStr;

/// A `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 2 filtered out; ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `ok` rather than `FAILED`.
    pub ok: bool,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub measured: u64,
    pub filtered_out: u64,
}

/// Why a line is no `test result:` line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a libtest result line: {0:?}")]
pub struct NotASummary(pub String);

impl FromStr for Summary {
    type Err = NotASummary;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let bad = || NotASummary(line.to_string());
        let rest = line
            .trim_end()
            .strip_prefix("test result: ")
            .ok_or_else(bad)?;
        let (ok, rest) = if let Some(rest) = rest.strip_prefix("ok. ") {
            (true, rest)
        } else if let Some(rest) = rest.strip_prefix("FAILED. ") {
            (false, rest)
        } else {
            return Err(bad());
        };
        let mut counts = [None::<u64>; 5];
        const WORDS: [&str; 5] = ["passed", "failed", "ignored", "measured", "filtered out"];
        for part in rest.split("; ") {
            if part.starts_with("finished in ") {
                continue;
            }
            let (number, word) = part.split_once(' ').ok_or_else(bad)?;
            let i = WORDS.iter().position(|w| *w == word).ok_or_else(bad)?;
            if counts[i].is_some() {
                return Err(bad());
            }
            counts[i] = Some(number.parse().map_err(|_| bad())?);
        }
        let [Some(passed), Some(failed), Some(ignored), Some(measured), Some(filtered_out)] =
            counts
        else {
            return Err(bad());
        };
        Ok(Summary {
            ok,
            passed,
            failed,
            ignored,
            measured,
            filtered_out,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}. {} passed; {} failed; {} ignored; {} filtered out",
            if self.ok { "ok" } else { "FAILED" },
            self.passed,
            self.failed,
            self.ignored,
            self.filtered_out
        )
    }
}

/// Whether a line is a `test result:` line (parsed or not).
pub fn is_result_line(line: &str) -> bool {
    line.starts_with("test result:")
}

/// The `test result:` lines of a log, each parsed.
pub fn summaries(log: &str) -> Vec<Result<Summary, NotASummary>> {
    log.lines()
        .filter(|l| is_result_line(l))
        .map(str::parse)
        .collect()
}

/// The `test result:` lines of a log, added up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Result lines (one per test binary run).
    pub runs: usize,
    /// Result lines that say FAILED.
    pub failed_runs: usize,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    pub filtered_out: u64,
}

/// Adds up a log's result lines; an unreadable one is an error.
pub fn totals(log: &str) -> Result<Totals, NotASummary> {
    let mut t = Totals::default();
    for s in summaries(log) {
        let s = s?;
        t.runs += 1;
        t.failed_runs += usize::from(!s.ok);
        t.passed += s.passed;
        t.failed += s.failed;
        t.ignored += s.ignored;
        t.filtered_out += s.filtered_out;
    }
    Ok(t)
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} test run(s), {} FAILED: {} passed, {} failed, {} ignored, {} filtered out",
            self.runs, self.failed_runs, self.passed, self.failed, self.ignored, self.filtered_out
        )
    }
}

/// A libtest line saying that one test failed (`test NAME ... FAILED`, or
/// `FAILED` alone when the test's process printed after `test NAME ... `).
pub fn is_failed_test_line(line: &str) -> bool {
    let line = line.trim_end();
    line == "FAILED" || (line.starts_with("test ") && line.ends_with(" ... FAILED"))
}

/// Number of tests in a `--list` listing (`NAME: test` lines; benches are not counted).
pub fn count_listed(listing: &str) -> usize {
    listing
        .lines()
        .filter(|l| l.trim_end().ends_with(": test"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_ok_line() {
        let s: Summary = "test result: ok. 37 passed; 0 failed; 2 ignored; 0 measured; 7 filtered out; finished in 1.52s"
            .parse()
            .unwrap();
        assert_eq!(
            s,
            Summary {
                ok: true,
                passed: 37,
                failed: 0,
                ignored: 2,
                measured: 0,
                filtered_out: 7
            }
        );
        assert_eq!(
            s.to_string(),
            "ok. 37 passed; 0 failed; 2 ignored; 7 filtered out"
        );
    }

    #[test]
    fn parses_a_failed_line() {
        let s: Summary =
            "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s"
                .parse()
                .unwrap();
        assert!(!s.ok);
        assert_eq!((s.passed, s.failed), (3, 1));
    }

    #[test]
    fn rejects_broken_lines() {
        for line in [
            "test result: ok.",
            "test result: ok. 3 passed",
            "test result: maybe. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "test result: ok. x passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "test result: ok. 3 passed; 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 skipped",
            "result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        ] {
            assert_eq!(
                line.parse::<Summary>(),
                Err(NotASummary(line.to_string())),
                "{line}"
            );
        }
    }

    #[test]
    fn counts_listed_tests_not_benches() {
        let listing = "a::b: test\nc: test\nd: bench\n\n3 tests, 1 benchmark\n";
        assert_eq!(count_listed(listing), 2);
        assert_eq!(count_listed(""), 0);
    }

    #[test]
    fn totals_add_up_and_unreadable_lines_fail() {
        let log = "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s
noise
test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0.1s
";
        let t = totals(log).unwrap();
        assert_eq!(
            t,
            Totals {
                runs: 2,
                failed_runs: 1,
                passed: 5,
                failed: 1,
                ignored: 1,
                filtered_out: 4
            }
        );
        assert_eq!(totals("").unwrap(), Totals::default());
        assert!(totals("test result: ok. 3 passed\n").is_err());
    }

    #[test]
    fn failed_test_lines() {
        assert!(is_failed_test_line("test bar_reads ... FAILED"));
        assert!(!is_failed_test_line("test bar_reads ... ok"));
        assert!(is_failed_test_line("FAILED"));
        assert!(!is_failed_test_line("failures:"));
    }
}
