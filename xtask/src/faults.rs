//! The console log of tools/vm-faults.sh's guest.
//!
//! Each test runs by its exact name between `== LABEL` and
//! `== LABEL: status S in T ms`; a name that matches nothing would run no
//! test and still exit 0, so each section must say `1 passed` (each of its
//! result lines: a test that re-executes itself adds its child's).

use regex::Regex;

use crate::libtest::{self, Summary};

/// A pattern one line of a section must match.
#[derive(Debug, Clone)]
pub enum Expect {
    /// A line matching the regular expression.
    Match(Regex),
    /// A line matching it whose capture groups all hold the same text
    /// (`open fds before (\d+) after (\d+);`).
    SameCaptures(Regex),
}

impl Expect {
    fn source(&self) -> &str {
        match self {
            Expect::Match(r) | Expect::SameCaptures(r) => r.as_str(),
        }
    }

    fn found_in(&self, line: &str) -> bool {
        match self {
            Expect::Match(r) => r.is_match(line),
            Expect::SameCaptures(r) => r.captures_iter(line).any(|c| {
                let mut groups = c.iter().skip(1).map(|g| g.map(|m| m.as_str()));
                match groups.next() {
                    Some(first) => groups.all(|g| g == first),
                    None => true,
                }
            }),
        }
    }
}

/// A section and the lines it must hold.
#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub label: String,
    pub expect: Vec<Expect>,
}

#[derive(Debug, thiserror::Error)]
pub enum BadSpec {
    #[error("bad expectation {0:?}: want 'LABEL: REGEX'")]
    NoLabel(String),
    #[error("expectation {0:?} names no section given with --section")]
    NoSection(String),
    #[error("bad regular expression in {spec:?}: {source}")]
    Regex { spec: String, source: regex::Error },
}

/// Adds `LABEL: REGEX` to its section's expectations (`same`: one whose
/// capture groups are all equal).
pub fn add_expect(sections: &mut [SectionSpec], spec: &str, same: bool) -> Result<(), BadSpec> {
    let (label, pattern) = spec
        .split_once(": ")
        .ok_or_else(|| BadSpec::NoLabel(spec.into()))?;
    let section = sections
        .iter_mut()
        .find(|s| s.label == label)
        .ok_or_else(|| BadSpec::NoSection(spec.into()))?;
    let r = Regex::new(pattern).map_err(|source| BadSpec::Regex {
        spec: spec.into(),
        source,
    })?;
    section.expect.push(if same {
        Expect::SameCaptures(r)
    } else {
        Expect::Match(r)
    });
    Ok(())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    #[error("section '{0}' did not start")]
    Missing(String),
    #[error("section '{0}' started twice")]
    Twice(String),
    #[error("section '{0}' did not end (no '== {0}: status' line)")]
    Unfinished(String),
    #[error("section '{label}' ended with status {status}")]
    Status { label: String, status: String },
    #[error("section '{label}': expected 1 passed, got '{got}'")]
    NotOnePassed { label: String, got: String },
    #[error("section '{label}': {line}")]
    FailedTest { label: String, line: String },
    #[error("no '{pattern}' in section '{label}'")]
    NoMatch { label: String, pattern: String },
}

fn check_section(lines: &[&str], spec: &SectionSpec) -> Result<String, Problem> {
    let label = &spec.label;
    let header = format!("== {label}");
    let end_prefix = format!("== {label}: status ");
    let mut starts = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == header)
        .map(|(i, _)| i);
    let at = starts
        .next()
        .ok_or_else(|| Problem::Missing(label.clone()))?;
    if starts.next().is_some() {
        return Err(Problem::Twice(label.clone()));
    }
    let rest = &lines[at + 1..];
    let end = rest
        .iter()
        .position(|l| l.starts_with(&end_prefix))
        .ok_or_else(|| Problem::Unfinished(label.clone()))?;
    let status = rest[end][end_prefix.len()..]
        .split(' ')
        .next()
        .unwrap_or("");
    if status != "0" {
        return Err(Problem::Status {
            label: label.clone(),
            status: status.into(),
        });
    }
    let body = &rest[..end];
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
    // A test that re-executes itself (one EAL per process) adds its child's
    // result line: every one must say 1 passed, 0 failed.
    if results.is_empty() {
        return Err(Problem::NotOnePassed {
            label: label.clone(),
            got: "no result".into(),
        });
    }
    for line in results {
        match line.parse::<Summary>() {
            Ok(s) if s.ok && s.passed == 1 && s.failed == 0 => {}
            _ => {
                return Err(Problem::NotOnePassed {
                    label: label.clone(),
                    got: line.into(),
                })
            }
        }
    }
    for e in &spec.expect {
        if !body.iter().any(|l| e.found_in(l)) {
            return Err(Problem::NoMatch {
                label: label.clone(),
                pattern: e.source().into(),
            });
        }
    }
    Ok(format!(
        "{label}: 1 of 1 passed, {} expected line(s) found",
        spec.expect.len()
    ))
}

/// Each section's report line or problem, in order.
pub fn results(log: &str, sections: &[SectionSpec]) -> Vec<Result<String, Problem>> {
    let lines: Vec<&str> = log.lines().map(|l| l.trim_end_matches('\r')).collect();
    sections.iter().map(|s| check_section(&lines, s)).collect()
}

/// Checks every section: the report lines, or every problem found.
#[cfg(test)]
pub fn check(log: &str, sections: &[SectionSpec]) -> Result<Vec<String>, Vec<Problem>> {
    crate::fold(results(log, sections))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real guest log of tools/vm-faults.sh (its x86_64 sections; kernel,
    /// EAL and telemetry lines left out).
    const LOG: &str = include_str!("../samples/vm-faults.log");

    fn specs() -> Vec<SectionSpec> {
        let mut s: Vec<SectionSpec> = [
            "x86_64 hot-unplug",
            "x86_64 leaks",
            "x86_64 privileges",
            "x86_64 not viable",
        ]
        .iter()
        .map(|l| SectionSpec {
            label: l.to_string(),
            expect: vec![],
        })
        .collect();
        for (spec, same) in [
            ("x86_64 hot-unplug: removal request for .* after", false),
            ("x86_64 hot-unplug: gone from sysfs", false),
            (
                "x86_64 leaks: open fds before ([0-9]+) after ([0-9]+);",
                true,
            ),
            (
                "x86_64 privileges: PermissionDenied|permission denied opening",
                false,
            ),
            ("x86_64 not viable: is not viable", false),
        ] {
            add_expect(&mut s, spec, same).unwrap();
        }
        s
    }

    fn problems(log: &str) -> Vec<Problem> {
        check(log, &specs()).unwrap_err()
    }

    #[test]
    fn the_sample_passes() {
        let report = check(LOG, &specs()).unwrap();
        assert_eq!(report.len(), 4);
    }

    #[test]
    fn a_test_name_matching_nothing_fails() {
        let log = LOG.replacen(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out",
            "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 4 filtered out",
            1,
        );
        assert!(
            matches!(&problems(&log)[..], [Problem::NotOnePassed { label, .. }] if label == "x86_64 hot-unplug")
        );
    }

    #[test]
    fn a_re_executed_tests_result_must_say_1_passed_too() {
        // The real sections have two each: the test's child's and its own.
        assert_eq!(
            LOG.matches(
                "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out"
            )
            .count(),
            8
        );
        let log = LOG.replacen(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out",
            "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out",
            1,
        );
        assert!(
            matches!(&problems(&log)[..], [Problem::NotOnePassed { label, .. }] if label == "x86_64 hot-unplug")
        );
    }

    #[test]
    fn a_nonzero_status_fails() {
        let log = LOG.replace(
            "== x86_64 not viable: status 0 in",
            "== x86_64 not viable: status 101 in",
        );
        assert_eq!(
            problems(&log),
            [Problem::Status {
                label: "x86_64 not viable".into(),
                status: "101".into()
            }]
        );
    }

    #[test]
    fn a_missing_or_unfinished_section_fails() {
        let log = LOG.replace("== x86_64 privileges\n", "");
        assert_eq!(
            problems(&log),
            [Problem::Missing("x86_64 privileges".into())]
        );
        let log = LOG.replace(
            "== x86_64 privileges: status",
            "== x86_64 privilege: status",
        );
        assert_eq!(
            problems(&log),
            [Problem::Unfinished("x86_64 privileges".into())]
        );
    }

    #[test]
    fn leaked_fds_fail() {
        let log = LOG.replace(
            "open fds before 13 after 13;",
            "open fds before 13 after 14;",
        );
        assert!(
            matches!(&problems(&log)[..], [Problem::NoMatch { label, .. }] if label == "x86_64 leaks")
        );
    }

    #[test]
    fn a_missing_line_fails_even_when_elsewhere() {
        // The line is in the log, but in another section.
        let log = LOG
            .replace("gone from sysfs", "gone")
            .replace("is not viable", "is not viable; gone from sysfs");
        assert!(
            matches!(&problems(&log)[..], [Problem::NoMatch { pattern, .. }] if pattern == "gone from sysfs")
        );
    }

    #[test]
    fn a_failed_line_fails() {
        // The real log's "ok" stands alone: the test's process printed after
        // "test NAME ... ".
        let log = LOG.replace(
            "ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 88.44s",
            "FAILED\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 88.44s",
        );
        assert_ne!(log, LOG);
        assert!(matches!(&problems(&log)[..], [Problem::FailedTest { .. }]));
    }

    #[test]
    fn bad_specs_are_errors() {
        let mut s = specs();
        assert!(matches!(
            add_expect(&mut s, "no label", false),
            Err(BadSpec::NoLabel(_))
        ));
        assert!(matches!(
            add_expect(&mut s, "i686 leaks: x", false),
            Err(BadSpec::NoSection(_))
        ));
        assert!(matches!(
            add_expect(&mut s, "x86_64 leaks: (", false),
            Err(BadSpec::Regex { .. })
        ));
    }
}
