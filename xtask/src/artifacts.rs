//! Executables from cargo's JSON messages (`--message-format=json`).

use std::io::BufRead;

use cargo_metadata::Message;

/// One executable cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// The target's name (`vm_devices`, `dpdk_safe` for a library's unit tests).
    pub name: String,
    /// Built with the test harness (`cargo test`'s unit and integration tests).
    pub test: bool,
    pub path: String,
}

/// What cargo's messages said.
#[derive(Debug, Default)]
pub struct Build {
    pub executables: Vec<Executable>,
    /// `build-finished`'s verdict, when cargo sent one.
    pub success: Option<bool>,
    /// Rendered compiler errors.
    pub errors: Vec<String>,
}

/// Reads cargo's JSON messages; lines that are not JSON are skipped, as cargo does.
pub fn read(input: impl BufRead) -> std::io::Result<Build> {
    let mut build = Build::default();
    for message in Message::parse_stream(input) {
        match message? {
            Message::CompilerArtifact(a) => {
                if let Some(path) = a.executable {
                    build.executables.push(Executable {
                        name: a.target.name.clone(),
                        test: a.profile.test,
                        path: path.into_string(),
                    });
                }
            }
            Message::CompilerMessage(m) => {
                if matches!(
                    m.message.level,
                    cargo_metadata::diagnostic::DiagnosticLevel::Error
                        | cargo_metadata::diagnostic::DiagnosticLevel::Ice
                ) {
                    build
                        .errors
                        .push(m.message.rendered.unwrap_or(m.message.message));
                }
            }
            Message::BuildFinished(f) => build.success = Some(f.success),
            _ => {}
        }
    }
    Ok(build)
}

/// Which executables to print.
#[derive(Debug, Default)]
pub struct Selection {
    /// Target names, each of which must be found: their paths, in this order.
    pub names: Vec<String>,
    /// Only those built with the test harness.
    pub tests_only: bool,
    /// Target names left out; a trailing `*` matches any rest.
    pub exclude: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("cargo built no executable of target {0}")]
    NotFound(String),
    #[error("cargo built no executable that is selected")]
    Nothing,
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl Selection {
    /// The selected executables: for named targets each one's last build, in
    /// the order of the names; otherwise all that pass the filters, sorted by
    /// path without duplicates.
    pub fn select<'a>(&self, build: &'a Build) -> Result<Vec<&'a Executable>, SelectError> {
        let wanted = |e: &&Executable| {
            (!self.tests_only || e.test) && !self.exclude.iter().any(|p| matches(p, &e.name))
        };
        if !self.names.is_empty() {
            return self
                .names
                .iter()
                .map(|n| {
                    build
                        .executables
                        .iter()
                        .filter(wanted)
                        .rfind(|e| e.name == *n)
                        .ok_or_else(|| SelectError::NotFound(n.clone()))
                })
                .collect();
        }
        let mut all: Vec<_> = build.executables.iter().filter(wanted).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all.dedup_by(|a, b| a.path == b.path);
        if all.is_empty() {
            return Err(SelectError::Nothing);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(name: &str, kind: &str, test: bool, exe: Option<&str>) -> String {
        let exe = exe.map_or("null".to_string(), |e| format!("\"{e}\""));
        format!(
            r#"{{"reason":"compiler-artifact","package_id":"path+file:///w/safe#dpdk-safe@0.1.0","manifest_path":"/w/safe/Cargo.toml","target":{{"kind":["{kind}"],"crate_types":["bin"],"name":"{name}","src_path":"/w/safe/tests/{name}.rs","edition":"2021","doc":false,"doctest":false,"test":true}},"profile":{{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":{test}}},"features":[],"filenames":["/w/target/debug/deps/{name}-0123456789abcdef"],"executable":{exe},"fresh":true}}"#
        )
    }

    fn sample() -> String {
        [
            artifact("dpdk_safe", "lib", false, None),
            artifact(
                "dpdk_safe",
                "lib",
                true,
                Some("/w/target/debug/deps/dpdk_safe-1111111111111111"),
            ),
            "   Compiling something (not JSON)".to_string(),
            artifact(
                "vm_devices",
                "test",
                true,
                Some("/w/target/debug/deps/vm_devices-2222222222222222"),
            ),
            artifact(
                "multi_process",
                "test",
                true,
                Some("/w/target/debug/deps/multi_process-3333333333333333"),
            ),
            artifact(
                "bar",
                "example",
                false,
                Some("/w/target/debug/examples/bar"),
            ),
            artifact(
                "vm_devices",
                "test",
                true,
                Some("/w/target/i686/debug/deps/vm_devices-4444444444444444"),
            ),
            r#"{"reason":"build-finished","success":true}"#.to_string(),
        ]
        .join("\n")
    }

    #[test]
    fn finds_named_targets_last_build_first() {
        let build = read(sample().as_bytes()).unwrap();
        assert_eq!(build.success, Some(true));
        let sel = Selection {
            names: vec!["vm_devices".into(), "bar".into()],
            ..Default::default()
        };
        let got: Vec<_> = sel
            .select(&build)
            .unwrap()
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(
            got,
            [
                "/w/target/i686/debug/deps/vm_devices-4444444444444444",
                "/w/target/debug/examples/bar"
            ]
        );
    }

    #[test]
    fn a_missing_target_is_an_error() {
        let build = read(sample().as_bytes()).unwrap();
        let sel = Selection {
            names: vec!["vm_drivers".into()],
            ..Default::default()
        };
        assert_eq!(
            sel.select(&build),
            Err(SelectError::NotFound("vm_drivers".into()))
        );
        let sel = Selection {
            names: vec!["bar".into()],
            tests_only: true,
            ..Default::default()
        };
        assert_eq!(sel.select(&build), Err(SelectError::NotFound("bar".into())));
    }

    #[test]
    fn filters_tests_and_excludes() {
        let build = read(sample().as_bytes()).unwrap();
        let sel = Selection {
            tests_only: true,
            exclude: vec!["vm_*".into(), "multi_process".into()],
            ..Default::default()
        };
        let got: Vec<_> = sel
            .select(&build)
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(got, ["dpdk_safe"]);
        let sel = Selection {
            exclude: vec!["*".into()],
            ..Default::default()
        };
        assert_eq!(sel.select(&build), Err(SelectError::Nothing));
    }

    #[test]
    fn compiler_errors_and_failure_are_kept() {
        let json = r#"{"reason":"compiler-message","package_id":"path+file:///w/safe#dpdk-safe@0.1.0","manifest_path":"/w/safe/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"dpdk_safe","src_path":"/w/safe/src/lib.rs","edition":"2021","doc":true,"doctest":true,"test":true},"message":{"rendered":"error: broken\n","$message_type":"diagnostic","children":[],"code":null,"level":"error","message":"broken","spans":[]}}
{"reason":"build-finished","success":false}"#;
        let build = read(json.as_bytes()).unwrap();
        assert_eq!(build.success, Some(false));
        assert_eq!(build.errors, ["error: broken\n"]);
    }
}
