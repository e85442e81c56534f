//! The console log of tools/vm-tests.sh's guest.
//!
//! The guest announces each test section with `== LABEL (N tests)`, N being
//! the number of tests its binary lists (`--ignored --list`), then runs them;
//! each example runs between `== example: COMMAND` and `== example end: ok`
//! (or `fails`), with its output in between.

use crate::libtest::{self, Summary};

/// A test section the log must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    pub label: String,
    /// The number of tests the same binary lists on the host, where it runs there.
    pub host_count: Option<usize>,
}

/// Whether a command is to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fails,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fails => "fails",
        }
    }
}

/// A line an example must print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// A line that is exactly this.
    Line(String),
    /// A line that contains this.
    Contains(String),
}

/// An example run and what it must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleSpec {
    pub command: String,
    pub outcome: Outcome,
    pub wants: Vec<Want>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad example spec {0:?}: want OUTCOME|COMMAND|LINE..., OUTCOME ok or fails, ~TEXT for a line containing TEXT")]
pub struct BadExampleSpec(pub String);

impl std::str::FromStr for ExampleSpec {
    type Err = BadExampleSpec;

    /// `ok|bar read 0000:00:03.0 0 0|0000:00:03.0 BAR0 +0x0: read 0x010000ed|~part of a line`
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut parts = spec.split('|').map(str::trim);
        let outcome = match parts.next() {
            Some("ok") => Outcome::Ok,
            Some("fails") => Outcome::Fails,
            _ => return Err(BadExampleSpec(spec.into())),
        };
        let command = parts
            .next()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| BadExampleSpec(spec.into()))?;
        let wants = parts
            .map(|p| match p.strip_prefix('~') {
                Some(text) => Want::Contains(text.into()),
                None => Want::Line(p.into()),
            })
            .collect();
        Ok(ExampleSpec {
            command: command.into(),
            outcome,
            wants,
        })
    }
}

/// What is wrong with the log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    #[error("section '{0}' did not start")]
    SectionMissing(String),
    #[error("section '{0}' started twice")]
    SectionTwice(String),
    #[error("section '{0}' lists no test")]
    SectionEmpty(String),
    #[error("section '{label}' listed {guest} tests in the guest, {host} on the host")]
    CountMismatch {
        label: String,
        guest: usize,
        host: usize,
    },
    #[error("section '{label}': expected {listed} passed, got '{got}'")]
    NotAllPassed {
        label: String,
        listed: usize,
        got: String,
    },
    #[error("section '{label}': a re-executed test's result: {line}")]
    ChildFailed { label: String, line: String },
    #[error("section '{label}': {line}")]
    FailedTest { label: String, line: String },
    #[error("example '{0}' did not run")]
    ExampleMissing(String),
    #[error("example '{0}' did not finish")]
    ExampleUnfinished(String),
    #[error("example '{command}' {got}, expected: {want}")]
    ExampleOutcome {
        command: String,
        want: &'static str,
        got: String,
    },
    #[error("example '{0}' printed WRONG")]
    ExampleWrong(String),
    #[error("example '{command}': no line '{line}'")]
    ExampleNoLine { command: String, line: String },
    #[error("example '{command}': no line containing '{text}'")]
    ExampleNoText { command: String, text: String },
}

/// The log's lines without the serial console's carriage returns.
fn lines(log: &str) -> Vec<&str> {
    log.lines().map(|l| l.trim_end_matches('\r')).collect()
}

/// `N` of `== LABEL (N tests)`.
fn header_count(line: &str, label: &str) -> Option<usize> {
    let n = line
        .strip_prefix("== ")?
        .strip_prefix(label)?
        .strip_prefix(" (")?
        .strip_suffix(" tests)")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Checks one test section; returns its report line.
fn check_section(lines: &[&str], spec: &SectionSpec) -> Result<String, Problem> {
    let label = &spec.label;
    let mut headers = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| header_count(l, label).map(|n| (i, n)));
    let (at, listed) = headers
        .next()
        .ok_or_else(|| Problem::SectionMissing(label.clone()))?;
    if headers.next().is_some() {
        return Err(Problem::SectionTwice(label.clone()));
    }
    if listed == 0 {
        return Err(Problem::SectionEmpty(label.clone()));
    }
    if let Some(host) = spec.host_count {
        if host != listed {
            return Err(Problem::CountMismatch {
                label: label.clone(),
                guest: listed,
                host,
            });
        }
    }
    // The section's lines: up to the next line the guest script announces.
    let body: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| !l.starts_with("== "))
        .copied()
        .collect();
    if let Some(line) = body.iter().find(|l| libtest::is_failed_test_line(l)) {
        return Err(Problem::FailedTest {
            label: label.clone(),
            line: line.trim_end().into(),
        });
    }
    let results: Vec<&str> = body
        .iter()
        .copied()
        .filter(|l| libtest::is_result_line(l))
        .collect();
    let not_all = |got: &str| Problem::NotAllPassed {
        label: label.clone(),
        listed,
        got: got.into(),
    };
    // The last result line is the section binary's own; one before it comes
    // from a test that re-executes itself with its output shown, and must
    // say ok and 0 failed too.
    let Some((last, before)) = results.split_last() else {
        return Err(not_all("no result"));
    };
    if let Some(line) = before
        .iter()
        .find(|l| !matches!(l.parse::<Summary>(), Ok(s) if s.ok && s.failed == 0))
    {
        return Err(Problem::ChildFailed {
            label: label.clone(),
            line: line.to_string(),
        });
    }
    match last.parse::<Summary>() {
        Ok(s) if s.ok && s.passed == listed as u64 && s.failed == 0 => {
            Ok(format!("{label}: {listed} of {listed} passed"))
        }
        _ => Err(not_all(last)),
    }
}

/// Checks one example; returns its report line.
fn check_example(lines: &[&str], spec: &ExampleSpec) -> Result<String, Problem> {
    let command = &spec.command;
    let header = format!("== example: {command}");
    let at = lines
        .iter()
        .position(|l| *l == header)
        .ok_or_else(|| Problem::ExampleMissing(command.clone()))?;
    let rest = &lines[at + 1..];
    let end = rest
        .iter()
        .position(|l| l.starts_with("== example end: ") || l.starts_with("== example: "))
        .filter(|&e| rest[e].starts_with("== example end: "))
        .ok_or_else(|| Problem::ExampleUnfinished(command.clone()))?;
    let (output, got) = (&rest[..end], &rest[end]["== example end: ".len()..]);
    if got != spec.outcome.word() {
        return Err(Problem::ExampleOutcome {
            command: command.clone(),
            want: spec.outcome.word(),
            got: got.into(),
        });
    }
    if output.iter().any(|l| l.contains("WRONG")) {
        return Err(Problem::ExampleWrong(command.clone()));
    }
    for want in &spec.wants {
        match want {
            Want::Line(line) if !output.iter().any(|l| l == line) => {
                return Err(Problem::ExampleNoLine {
                    command: command.clone(),
                    line: line.clone(),
                })
            }
            Want::Contains(text) if !output.iter().any(|l| l.contains(text.as_str())) => {
                return Err(Problem::ExampleNoText {
                    command: command.clone(),
                    text: text.clone(),
                })
            }
            _ => {}
        }
    }
    Ok(format!(
        "example '{command}' {}, {} line(s) as expected",
        spec.outcome.word(),
        spec.wants.len()
    ))
}

/// Each section's and example's report line or problem, in order.
pub fn results(
    log: &str,
    sections: &[SectionSpec],
    examples: &[ExampleSpec],
) -> Vec<Result<String, Problem>> {
    let lines = lines(log);
    sections
        .iter()
        .map(|s| check_section(&lines, s))
        .chain(examples.iter().map(|e| check_example(&lines, e)))
        .collect()
}

/// Checks every section and example: the report lines, or every problem found.
#[cfg(test)]
pub fn check(
    log: &str,
    sections: &[SectionSpec],
    examples: &[ExampleSpec],
) -> Result<Vec<String>, Vec<Problem>> {
    crate::fold(results(log, sections, examples))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real guest logs of tools/vm-tests.sh (kernel lines left out): its
    /// sections, and the examples from a run of them alone.
    const LOG: &str = include_str!("../samples/vm-tests.log");

    fn sections() -> Vec<SectionSpec> {
        vec![
            SectionSpec {
                label: "x86_64".into(),
                host_count: Some(9),
            },
            SectionSpec {
                label: "x86_64 drivers".into(),
                host_count: Some(2),
            },
            SectionSpec {
                label: "i686".into(),
                host_count: None,
            },
            SectionSpec {
                label: "i686 drivers".into(),
                host_count: None,
            },
        ]
    }

    fn examples() -> Vec<ExampleSpec> {
        [
            "ok|bar read 0000:00:03.0 0 0|0000:00:03.0 BAR0 +0x0: read 0x010000ed",
            "fails|bar read 0000:00:03.0 7 0|~BAR 7 does not exist",
            "ok|edu|pread64: liveness check: alive|mmap64: 5! = 120",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
    }

    fn problems(log: &str) -> Vec<Problem> {
        check(log, &sections(), &examples()).unwrap_err()
    }

    #[test]
    fn the_sample_passes() {
        let report = check(LOG, &sections(), &examples()).unwrap();
        assert_eq!(report[0], "x86_64: 9 of 9 passed");
        assert_eq!(report.len(), 7);
    }

    #[test]
    fn carriage_returns_do_not_matter() {
        let log = LOG.replace('\n', "\r\n");
        assert!(check(&log, &sections(), &examples()).is_ok());
    }

    #[test]
    fn fewer_passed_than_listed_fails() {
        let log = LOG.replace(
            "test result: ok. 9 passed; 0 failed;",
            "test result: ok. 8 passed; 0 failed;",
        );
        assert!(
            matches!(&problems(&log)[..], [Problem::NotAllPassed { label, listed: 9, .. }] if label == "x86_64")
        );
    }

    #[test]
    fn a_failed_test_fails() {
        let log = LOG.replacen(
            "test edu_through_a_mapping ... ok",
            "test edu_through_a_mapping ... FAILED",
            1,
        );
        assert!(
            matches!(&problems(&log)[..], [Problem::FailedTest { label, .. }] if label == "x86_64")
        );
        let log = LOG.replace(
            "test result: ok. 9 passed; 0 failed;",
            "test result: FAILED. 8 passed; 1 failed;",
        );
        assert!(matches!(
            &problems(&log)[..],
            [Problem::NotAllPassed { .. }]
        ));
    }

    #[test]
    fn a_re_executed_tests_result_counts_only_when_bad() {
        let child = "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 8 filtered out; finished in 1.00s";
        let log = LOG.replacen(
            "\nrunning 9 tests",
            &format!("\n{child}\nrunning 9 tests"),
            1,
        );
        assert!(check(&log, &sections(), &examples()).is_ok());
        let failed = child.replace("ok. 1 passed; 0 failed", "FAILED. 0 passed; 1 failed");
        let log = LOG.replacen(
            "\nrunning 9 tests",
            &format!("\n{failed}\nrunning 9 tests"),
            1,
        );
        assert!(
            matches!(&problems(&log)[..], [Problem::ChildFailed { label, .. }] if label == "x86_64")
        );
    }

    #[test]
    fn a_section_listing_no_test_fails() {
        let log = LOG.replace("== i686 (7 tests)", "== i686 (0 tests)");
        assert_eq!(problems(&log), [Problem::SectionEmpty("i686".into())]);
    }

    #[test]
    fn a_missing_section_fails() {
        let log = LOG.replace("== x86_64 drivers (2 tests)", "");
        // Its lines now count as the section before's: two result lines there.
        let p = problems(&log);
        assert!(
            matches!(&p[..], [Problem::NotAllPassed { label, .. }, Problem::SectionMissing(missing)]
                if label == "x86_64" && missing == "x86_64 drivers"),
            "{p:?}"
        );
        let mut more = sections();
        more.push(SectionSpec {
            label: "debian13".into(),
            host_count: None,
        });
        assert_eq!(
            check(LOG, &more, &examples()).unwrap_err(),
            [Problem::SectionMissing("debian13".into())]
        );
    }

    #[test]
    fn a_section_without_result_fails() {
        let log = LOG.replace("test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 115.01s", "");
        assert!(
            matches!(&problems(&log)[..], [Problem::NotAllPassed { got, .. }] if got == "no result")
        );
    }

    #[test]
    fn a_guest_count_other_than_the_hosts_fails() {
        let mut s = sections();
        s[0].host_count = Some(10);
        assert_eq!(
            check(LOG, &s, &examples()).unwrap_err(),
            [Problem::CountMismatch {
                label: "x86_64".into(),
                guest: 9,
                host: 10
            }]
        );
    }

    #[test]
    fn a_section_twice_fails() {
        let log = format!("{LOG}== i686 (7 tests)\n");
        assert_eq!(problems(&log), [Problem::SectionTwice("i686".into())]);
    }

    #[test]
    fn an_examples_missing_line_fails() {
        let log = LOG.replace("mmap64: 5! = 120\n", "mmap64: 5! = 121\n");
        assert_eq!(
            problems(&log),
            [Problem::ExampleNoLine {
                command: "edu".into(),
                line: "mmap64: 5! = 120".into()
            }]
        );
        let log = LOG.replace("BAR 7 does not exist", "BAR 7 is fine");
        assert!(matches!(
            &problems(&log)[..],
            [Problem::ExampleNoText { .. }]
        ));
    }

    #[test]
    fn an_examples_outcome_and_wrong_fail() {
        let log = LOG.replacen("== example end: fails", "== example end: ok", 1);
        assert!(matches!(
            &problems(&log)[..],
            [Problem::ExampleOutcome { want: "fails", .. }]
        ));
        let log = LOG.replace("pread64: 0! = 1", "pread64: 0! = 1 WRONG");
        assert_eq!(problems(&log), [Problem::ExampleWrong("edu".into())]);
        let log = LOG.replace("== example: edu", "");
        assert_eq!(problems(&log), [Problem::ExampleMissing("edu".into())]);
        let log = LOG.replacen("== example end: ok\n", "", 1);
        assert_eq!(
            problems(&log),
            [Problem::ExampleUnfinished(
                "bar read 0000:00:03.0 0 0".into()
            )]
        );
    }

    #[test]
    fn example_specs_parse() {
        assert_eq!(
            "fails|bar x|a line|~text".parse::<ExampleSpec>().unwrap(),
            ExampleSpec {
                command: "bar x".into(),
                outcome: Outcome::Fails,
                wants: vec![Want::Line("a line".into()), Want::Contains("text".into())]
            }
        );
        for bad in ["", "ok", "maybe|bar", "ok||x"] {
            assert!(bad.parse::<ExampleSpec>().is_err(), "{bad}");
        }
    }
}
