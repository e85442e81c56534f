//! Turns the `RESULT` lines of a benchmark run into `results.md` and two plots.
//!
//! `bench-report RAW OUT_DIR`: RAW holds the lines the benchmark programs
//! printed (`RESULT<TAB>group<TAB>name<TAB>metric<TAB>value`) and the lines
//! `tools/bench.sh` added (`NOTE<TAB>key<TAB>text`). The plots' text (titles,
//! axes, legends) is drawn with DejaVu Sans, read at run time from
//! [`FONT_PATH`] (Debian package fonts-dejavu-core); without that file
//! bench-report stops and says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// metric values by (group, name, metric), names in the order first seen.
#[derive(Default)]
struct Results {
    values: BTreeMap<(String, String, String), f64>,
    names: BTreeMap<String, Vec<String>>,
    notes: BTreeMap<String, String>,
}

impl Results {
    fn parse(text: &str) -> Self {
        let mut r = Results::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["RESULT", group, name, metric, value] => {
                    let Ok(v) = value.trim().parse::<f64>() else {
                        continue;
                    };
                    let names = r.names.entry((*group).to_owned()).or_default();
                    if !names.iter().any(|n| n == name) {
                        names.push((*name).to_owned());
                    }
                    r.values
                        .insert(((*group).into(), (*name).into(), (*metric).into()), v);
                }
                ["NOTE", key, text] => {
                    r.notes.insert((*key).to_owned(), (*text).to_owned());
                }
                _ => {}
            }
        }
        r
    }

    fn get(&self, group: &str, name: &str, metric: &str) -> Option<f64> {
        self.values
            .get(&(group.into(), name.into(), metric.into()))
            .copied()
    }

    fn names(&self, group: &str) -> &[String] {
        self.names.get(group).map_or(&[], Vec::as_slice)
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

/// The table of one access group: per operation, each variant against the C row.
fn access_table(r: &Results, group: &str, out: &mut String) {
    let names = r.names(group);
    if names.is_empty() {
        return;
    }
    out.push_str("| operation | variant | ns/access (min) | ns/access (median) | time ratio to C (min) | Ir/access | Ir ratio to C |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for name in names {
        let (op, variant) = name.split_once('|').unwrap_or((name, ""));
        let c = names
            .iter()
            .find(|n| n.starts_with(&format!("{op}|C")))
            .map(String::as_str)
            .unwrap_or(name);
        let ns = r.get(group, name, "ns_min");
        let ir = r.get(group, name, "ir");
        let _ = writeln!(
            out,
            "| {op} | {variant} | {} | {} | {} | {} | {} |",
            fmt(ns, 2),
            fmt(r.get(group, name, "ns_median"), 2),
            fmt(ratio(ns, r.get(group, c, "ns_min")), 2),
            fmt(ir, 2),
            fmt(ratio(ir, r.get(group, c, "ir")), 2),
        );
    }
    out.push('\n');
}

/// A target's verdict, computed from the figures it compares.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Met,
    Missed,
    /// A figure the target compares is not in this run.
    NotMeasured,
    /// The figures there are cannot decide the target; why.
    NotJudged(String),
}

impl Verdict {
    /// `value` (a ratio) against `limit`.
    fn at_most(value: Option<f64>, limit: f64) -> Verdict {
        match value {
            Some(v) if v <= limit => Verdict::Met,
            Some(_) => Verdict::Missed,
            None => Verdict::NotMeasured,
        }
    }

    /// The table cell.
    fn cell(&self) -> String {
        match self {
            Verdict::Met => "yes".into(),
            Verdict::Missed => "**no**".into(),
            Verdict::NotMeasured => "not measured".into(),
            Verdict::NotJudged(why) => format!("not judged: {why}"),
        }
    }
}

/// The cost per device at each measured tree size, against the smallest.
#[derive(Debug, Clone, PartialEq)]
struct Growth {
    /// (devices, cost per device), by ascending device count; at least two.
    per_device: Vec<(u64, f64)>,
    /// The largest cost per device at any larger size over the smallest
    /// size's, and that size.
    worst: (u64, f64),
    /// The largest size's cost per device over the smallest size's.
    last: f64,
}

/// `points`: (devices, total cost) for each size measured, in any order.
/// Growth needs two sizes at least: one size compared with itself says nothing.
fn growth(points: &[(u64, f64)]) -> Result<Growth, Verdict> {
    let mut per_device: Vec<(u64, f64)> = points
        .iter()
        .filter(|&&(n, cost)| n > 0 && cost.is_finite())
        .map(|&(n, cost)| (n, cost / n as f64))
        .collect();
    per_device.sort_by_key(|p| p.0);
    per_device.dedup_by_key(|p| p.0);
    match per_device.as_slice() {
        [] => return Err(Verdict::NotMeasured),
        [(n, _)] => {
            return Err(Verdict::NotJudged(format!(
                "only one size measured ({n} devices)"
            )))
        }
        _ => {}
    }
    let base = per_device[0].1;
    let worst = per_device[1..]
        .iter()
        .map(|&(n, c)| (n, c / base))
        .fold((0, f64::MIN), |w, x| if x.1 > w.1 { x } else { w });
    let last = per_device[per_device.len() - 1].1 / base;
    Ok(Growth {
        per_device,
        worst,
        last,
    })
}

/// Linear in the device count: the cost per device at every larger size
/// measured is at most `limit` times the smallest size's. Not judged on fewer
/// than two sizes.
fn linearity(points: &[(u64, f64)], limit: f64) -> Verdict {
    match growth(points) {
        Ok(g) => Verdict::at_most(Some(g.worst.1), limit),
        Err(verdict) => verdict,
    }
}

/// Instructions per device of one enumeration metric at tree size `n`.
fn ir_per_device(r: &Results, n: &str, metric: &str) -> Option<f64> {
    Some(r.get("enumeration_ir", n, metric)? / n.parse::<f64>().ok()?)
}

/// What a row shows for figures its run did not take (the VM part needs
/// `tools/bench.sh --vm`, build times a run without `--no-build-times`).
const NOT_IN_RUN: &str = "not in this run";

struct Target {
    what: String,
    goal: String,
    verdict: Verdict,
    shown: String,
}

/// A figure in a sentence: whole numbers without decimals, thousands grouped.
fn figure(v: f64) -> String {
    if v.abs() >= 1000.0 {
        let whole = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{}{grouped}", if v < 0.0 { "-" } else { "" })
    } else {
        bar_value(v, 2)
    }
}

/// (devices, metric) for every tree size of `group` that has `metric`.
fn size_points(r: &Results, group: &str, metric: &str) -> Vec<(u64, f64)> {
    r.names(group)
        .iter()
        .filter_map(|n| Some((n.parse().ok()?, r.get(group, n, metric)?)))
        .collect()
}

/// "a / b / c at 16 / 256 / 4096 (largest / smallest 0.99×)", or why not.
fn growth_text(points: &[(u64, f64)], unit: &str) -> String {
    match growth(points) {
        Ok(g) => {
            let sizes: Vec<String> = g.per_device.iter().map(|p| p.0.to_string()).collect();
            let values: Vec<String> = g.per_device.iter().map(|p| figure(p.1)).collect();
            format!(
                "{} {unit} at {} devices ({} / {}: {:.2}×)",
                values.join(" / "),
                sizes.join(" / "),
                sizes[sizes.len() - 1],
                sizes[0],
                g.last
            )
        }
        Err(Verdict::NotJudged(why)) => why,
        Err(_) => "not measured".into(),
    }
}

/// The mapped accessors' targets for one access group (host or VM).
fn mapped_targets(r: &Results, g: &str, place: &str) -> Vec<Target> {
    const FIXED: &str = "FixedMapping (compile-time checked)";
    const CHECKED: &str = "MappedRegion (run-time checked)";
    let ir = |op: &str, v: &str| r.get(g, &format!("{op}|{v}"), "ir");
    // The worst ratio of `variant` to C over `ops`, and each figure; None when
    // any is missing.
    let compare = |ops: &[&str], variant: &str| -> (Option<f64>, String) {
        let mut worst = Some(0.0f64);
        let mut parts = Vec::new();
        for op in ops {
            match (ir(op, variant), ir(op, "C")) {
                (Some(a), Some(c)) => {
                    worst = worst.map(|w| w.max(a / c));
                    parts.push(format!(
                        "{op}: {} vs {} ({:.2}×)",
                        figure(a),
                        figure(c),
                        a / c
                    ));
                }
                _ => {
                    worst = None;
                    parts.push(format!("{op}: not measured"));
                }
            }
        }
        (worst, parts.join("; "))
    };
    let absent = r.names(g).is_empty();
    let (fixed, fixed_shown) = compare(
        &["read32, constant offset", "write32, constant offset"],
        FIXED,
    );
    let (checked, checked_shown) = compare(
        &[
            "read32, constant offset",
            "write32, constant offset",
            "read32, 64 offsets",
            "write32, 64 offsets",
        ],
        CHECKED,
    );
    vec![
        Target {
            what: format!("`FixedMapping` read32/write32, constant offset ({place})"),
            goal: "Ir/access ≤ C".into(),
            verdict: Verdict::at_most(fixed, 1.0),
            shown: if absent {
                NOT_IN_RUN.into()
            } else {
                format!("Ir/access, Rust vs C: {fixed_shown}")
            },
        },
        Target {
            what: format!("`MappedRegion` read32/write32, constant and 64 offsets ({place})"),
            goal: "Ir/access ≤ 1.5 × C".into(),
            verdict: Verdict::at_most(checked, 1.5),
            shown: if absent {
                NOT_IN_RUN.into()
            } else {
                format!("Ir/access, Rust vs C: {checked_shown}")
            },
        },
    ]
}

fn bulk_target(r: &Results, g: &str, place: &str) -> Target {
    let rust = r.get(g, "pread, 64 KiB|RegionIo::read_bytes", "ns_min");
    let c = r.get(g, "pread, 64 KiB|C pread64", "ns_min");
    let bulk = ratio(rust, c);
    Target {
        what: format!("bulk pread, 64 KiB, `RegionIo::read_bytes` ({place})"),
        goal: "time ≤ 1.1 × one C `pread64`".into(),
        verdict: Verdict::at_most(bulk, 1.1),
        shown: match (rust, c) {
            (Some(rust), Some(c)) => format!(
                "{:.2}× ({:.2} vs {:.2} µs, minimum)",
                rust / c,
                rust / 1e3,
                c / 1e3
            ),
            _ => NOT_IN_RUN.into(),
        },
    }
}

fn targets(r: &Results) -> Vec<Target> {
    let mut targets = mapped_targets(r, "host_mapped", "host, memfd");
    targets.extend(mapped_targets(
        r,
        "vm_mapped",
        "VM, ivshmem BAR2 through VFIO, callgrind in the guest",
    ));
    targets.push(bulk_target(r, "host_bulk", "host"));
    targets.push(bulk_target(r, "vm_bulk", "VM"));

    let enum_sizes = ["16", "256", "4096"];
    let enum_ratios: Vec<Option<f64>> = enum_sizes
        .iter()
        .map(|n| {
            ratio(
                r.get("enumeration", n, "enumerate_ms"),
                r.get("enumeration", n, "scan_ms"),
            )
        })
        .collect();
    let enum_ratio = enum_ratios
        .iter()
        .try_fold(0.0f64, |m, x| Some(m.max((*x)?)));
    targets.push(Target {
        what: "enumeration through the crate, 16 / 256 / 4096 devices".into(),
        goal: "time ≤ 1.1 × DPDK's scan, at each size".into(),
        verdict: Verdict::at_most(enum_ratio, 1.1),
        shown: enum_ratios
            .iter()
            .map(|x| format!("{}×", fmt(*x, 2)))
            .collect::<Vec<_>>()
            .join(" / "),
    });

    // Linearity is judged on the instructions per device (deterministic), not
    // on the wall time, which depends on the kernel's caches; and only when
    // at least two sizes were counted.
    let ir_points = size_points(r, "enumeration_ir", "enumerate_ir");
    let sizes: Vec<String> = {
        let mut s: Vec<u64> = ir_points.iter().map(|p| p.0).collect();
        s.sort_unstable();
        s.iter().map(u64::to_string).collect()
    };
    let goal = match sizes.as_slice() {
        [first, _, ..] => format!(
            "instructions per device (callgrind) at each larger size ({}) ≤ 1.5 × at {first}",
            sizes[1..].join(", ")
        ),
        _ => {
            "instructions per device (callgrind) at each larger size ≤ 1.5 × at the smallest".into()
        }
    };
    let wall_us = |metric: &str| -> Vec<(u64, f64)> {
        size_points(r, "enumeration", metric)
            .into_iter()
            .map(|(n, ms)| (n, ms * 1e3))
            .collect()
    };
    targets.push(Target {
        what: "enumeration linear in the device count".into(),
        goal,
        verdict: linearity(&ir_points, 1.5),
        shown: format!(
            "crate: {}; DPDK's own scan: {}. Wall time, shown but not judged: crate {}; DPDK's scan {}",
            growth_text(&ir_points, "Ir/device"),
            growth_text(&size_points(r, "enumeration_ir", "scan_ir"), "Ir/device"),
            growth_text(&wall_us("enumerate_ms"), "µs/device"),
            growth_text(&wall_us("scan_ms"), "µs/device"),
        ),
    });

    let startup_min = ratio(
        r.get("startup", "EalBuilder::init", "ms_min"),
        r.get("startup", "C rte_eal_init", "ms_min"),
    );
    let startup_median = ratio(
        r.get("startup", "EalBuilder::init", "ms_median"),
        r.get("startup", "C rte_eal_init", "ms_median"),
    );
    let startup_ir = ratio(
        r.get("startup", "EalBuilder::init", "ir"),
        r.get("startup", "C rte_eal_init", "ir"),
    );
    targets.push(Target {
        what: "EAL start-up through `EalBuilder::init`".into(),
        goal: "≤ 1.05 × C `rte_eal_init` (judged on the median time and on instructions)".into(),
        verdict: Verdict::at_most(startup_median.zip(startup_ir).map(|(a, b)| a.max(b)), 1.05),
        shown: format!(
            "time: median {}×, min {}×; instructions of the whole process {}×",
            fmt(startup_median, 3),
            fmt(startup_min, 3),
            fmt(startup_ir, 3)
        ),
    });
    targets.extend(dataplane_targets(r));
    let noop = r.get("build", "no-op rebuild (cargo build --workspace)", "s");
    targets.push(Target {
        what: "no-op rebuild (`cargo build --workspace`)".into(),
        goal: "< 2 s".into(),
        verdict: match noop {
            Some(s) if s < 2.0 => Verdict::Met,
            Some(_) => Verdict::Missed,
            None => Verdict::NotMeasured,
        },
        shown: noop.map_or_else(|| NOT_IN_RUN.into(), |s| format!("{s:.2} s")),
    });
    targets
}

/// The data plane's operations, as `forwarding.rs` names them.
const DATAPLANE_OPS: [&str; 4] = [
    "io fwd net_ring",
    "io fwd net_null",
    "mbuf alloc+free single",
    "mbuf alloc+free bulk 32",
];

/// The two builds `tools/bench.sh` runs `forwarding.rs` in, and the
/// instructions-per-packet limit each has (Rust/C).
const DATAPLANE_BUILDS: [(&str, f64); 2] = [("no LTO", 1.05), ("cross-language LTO", 1.0)];

/// Rust/C for one operation of one build: (Ir per packet, best Mpps).
fn dataplane_ratios(r: &Results, label: &str, op: &str, side: &str) -> (Option<f64>, Option<f64>) {
    let g = format!("dataplane[{label}]");
    let get = |variant: &str, metric: &str| r.get(&g, &format!("{op}|{variant}"), metric);
    (
        ratio(get(side, "ir_per_pkt"), get("C", "ir_per_pkt")),
        ratio(get(side, "mpps_best"), get("C", "mpps_best")),
    )
}

/// One row per build: every operation's instructions and Mpps against C.
fn dataplane_targets(r: &Results) -> Vec<Target> {
    DATAPLANE_BUILDS
        .iter()
        .map(|&(label, ir_limit)| {
            let mut verdicts = Vec::new();
            let mut shown = Vec::new();
            for op in DATAPLANE_OPS {
                let (ir, mpps) = dataplane_ratios(r, label, op, "Rust");
                verdicts.push(Verdict::at_most(ir, ir_limit));
                // Mpps ≥ 0.98 × C is C/Rust ≤ 1/0.98.
                verdicts.push(Verdict::at_most(mpps.map(|m| 1.0 / m), 1.0 / 0.98));
                if ir.is_some() || mpps.is_some() {
                    shown.push(format!("{op}: Ir {}×, Mpps {}×", fmt(ir, 3), fmt(mpps, 3)));
                }
            }
            let verdict = if verdicts.contains(&Verdict::Missed) {
                Verdict::Missed
            } else if verdicts.contains(&Verdict::NotMeasured) {
                Verdict::NotMeasured
            } else {
                Verdict::Met
            };
            Target {
                what: format!("data plane, Rust against C ({label}; `forwarding.rs`)"),
                goal: format!("Ir/packet ≤ {ir_limit} × C and Mpps ≥ 0.98 × C, every operation"),
                verdict,
                shown: if shown.is_empty() {
                    NOT_IN_RUN.into()
                } else {
                    shown.join("; ")
                },
            }
        })
        .collect()
}

/// The targets as a markdown table.
fn targets_table(r: &Results, out: &mut String) {
    out.push_str("| what | target | measured | met |\n|---|---|---|---|\n");
    for t in targets(r) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t.what,
            t.goal,
            t.shown,
            t.verdict.cell()
        );
    }
}

fn markdown(r: &Results) -> String {
    let mut out = String::new();
    out.push_str("# Benchmark results\n\n");
    for key in ["date", "host", "commit", "command"] {
        if let Some(v) = r.notes.get(key) {
            let _ = writeln!(out, "* {key}: {v}");
        }
    }
    out.push_str("\nRatios compare Rust with C measured in the same run. Ir = instructions executed (valgrind's callgrind), per access: (Ir of n2 iterations − Ir of n1 iterations) / (n2 − n1), which is deterministic; times are nanoseconds from the wall clock (noisy on a shared machine: minimum and median of repeated rounds).\n\n");
    out.push_str("## Targets\n\n");
    targets_table(r, &mut out);
    for (group, title) in [
        ("host_mapped", "Mapped BAR on the host (memfd, 1 MiB)"),
        (
            "host_pread",
            "pread/pwrite path on the host (memfd), per register",
        ),
        (
            "host_bulk",
            "pread path on the host (memfd), 64 KiB per call",
        ),
        ("vm_mapped", "Mapped BAR in the VM (ivshmem BAR2)"),
        (
            "vm_pread",
            "pread/pwrite path in the VM (ivshmem BAR2), per register",
        ),
        (
            "vm_bulk",
            "pread path in the VM (ivshmem BAR2), 64 KiB per call",
        ),
    ] {
        if !r.names(group).is_empty() {
            let _ = writeln!(out, "\n## {title}\n");
            access_table(r, group, &mut out);
            if group == "vm_mapped"
                && r.names(group)
                    .iter()
                    .any(|n| r.get(group, n, "ir").is_some())
            {
                out.push_str("Ir in the VM: valgrind's callgrind in the guest (QEMU TCG), on the same BAR2 mapping through VFIO; one run of `bar_access --vm-kernels mapped N1 N2` (each kernel with N1, then with N2, counted apart by `--dump-before`, only the kernels collected), per access (Ir(N2) − Ir(N1)) / (N2 − N1). Instructions do not depend on the emulation: compare them with the host's.\n");
            }
        }
    }
    if let Some(asm) = r.notes.get("asm") {
        let _ = writeln!(out, "Machine code of the hot loops: {asm}\n");
    }
    if !r.names("enumeration").is_empty() {
        out.push_str("\n## Enumeration of fake PCI trees\n\nMilliseconds, best of 5 rounds in each of 3 processes (trees on tmpfs).\n\n| devices | DPDK scan (rte_bus_scan from C) | crate enumeration | enumeration / scan | scan per device (µs) | enumeration per device (µs) |\n|---:|---:|---:|---:|---:|---:|\n");
        for n in r.names("enumeration") {
            let scan = r.get("enumeration", n, "scan_ms");
            let en = r.get("enumeration", n, "enumerate_ms");
            let d: f64 = n.parse().unwrap_or(1.0);
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {} |",
                fmt(scan, 3),
                fmt(en, 3),
                fmt(ratio(en, scan), 2),
                fmt(scan.map(|s| s * 1e3 / d), 1),
                fmt(en.map(|e| e * 1e3 / d), 1)
            );
        }
        let g = |k: &str| r.get("enumeration_growth", k, "x");
        let _ = writeln!(
            out,
            "\nGrowth from the smallest to the largest tree ({}× the devices): DPDK scan {}×, crate enumeration {}×.",
            fmt(g("devices"), 0),
            fmt(g("scan"), 1),
            fmt(g("enumerate"), 1)
        );
    }
    if !r.names("enumeration_ir").is_empty() {
        out.push_str("\n### Instructions per device (callgrind)\n\nUser-space instructions of one call (callgrind's inclusive Ir) of DPDK's scan (`rte_bus_scan` from C) and of the crate's enumeration (`bench_rust_enumerate`: `Eal::pci_devices()` collected), in a child process that started the EAL on the tree; only these two calls are counted (`--toggle-collect`), not the EAL's start. Unlike the wall time above, this does not depend on the kernel's caches: it repeats to within about 1.5% between runs (small differences remain: the temporary tree's path, for one, contains the process id, so path lengths vary); the kernel's work inside system calls is not counted. Per added device: (Ir(n) − Ir(previous size)) / (n − previous size), which removes the fixed cost.\n\n| devices | DPDK scan Ir | crate enumeration Ir | enumeration / scan | scan Ir per device | enumeration Ir per device | scan Ir per added device | enumeration Ir per added device |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let mut previous: Option<(f64, f64, f64)> = None;
        for n in r.names("enumeration_ir") {
            let scan = r.get("enumeration_ir", n, "scan_ir");
            let en = r.get("enumeration_ir", n, "enumerate_ir");
            let d: f64 = n.parse().unwrap_or(1.0);
            let added =
                |now: Option<f64>, before: Option<f64>, m: f64| Some((now? - before?) / (d - m));
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {} | {} | {} |",
                fmt(scan, 0),
                fmt(en, 0),
                fmt(ratio(en, scan), 2),
                fmt(ir_per_device(r, n, "scan_ir"), 0),
                fmt(ir_per_device(r, n, "enumerate_ir"), 0),
                fmt(previous.and_then(|(m, s, _)| added(scan, Some(s), m)), 0),
                fmt(previous.and_then(|(m, _, e)| added(en, Some(e), m)), 0),
            );
            previous = scan.zip(en).map(|(s, e)| (d, s, e));
        }
        let _ = writeln!(
            out,
            "\nIr per device: DPDK scan {}; crate enumeration {} (the linearity target judges the crate's figure, when two sizes or more were counted).",
            growth_text(&size_points(r, "enumeration_ir", "scan_ir"), "Ir/device"),
            growth_text(&size_points(r, "enumeration_ir", "enumerate_ir"), "Ir/device"),
        );
    }
    if !r.names("startup").is_empty() {
        out.push_str("\n## EAL start-up\n\nEach sample is a fresh process; time around the call only. Instructions: the whole process under callgrind.\n\n| variant | min (ms) | median (ms) | ratio to C (min) | ratio to C (median) | instructions (process) | ratio to C |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for n in r.names("startup") {
            let c_min = r.get("startup", "C rte_eal_init", "ms_min");
            let c_med = r.get("startup", "C rte_eal_init", "ms_median");
            let (min, med) = (
                r.get("startup", n, "ms_min"),
                r.get("startup", n, "ms_median"),
            );
            let ir = r.get("startup", n, "ir");
            let _ = writeln!(
                out,
                "| {n} | {} | {} | {} | {} | {} | {} |",
                fmt(min, 2),
                fmt(med, 2),
                fmt(ratio(min, c_min), 3),
                fmt(ratio(med, c_med), 3),
                fmt(ir, 0),
                fmt(ratio(ir, r.get("startup", "C rte_eal_init", "ir")), 4)
            );
        }
        if let Some(args) = r.notes.get("startup_args") {
            let _ = writeln!(out, "\nArguments: `{args}`.");
        }
    }
    let shim_groups: Vec<&String> = r.names.keys().filter(|g| g.starts_with("shim[")).collect();
    if !shim_groups.is_empty() {
        out.push_str("\n## Static inline functions: through the shim against C's inlined call\n\n| build | function | variant | ns/call (min) | Ir/call | Ir − C's Ir |\n|---|---|---|---:|---:|---:|\n");
        for group in shim_groups {
            let label = &group[5..group.len() - 1];
            for name in r.names(group) {
                let (func, variant) = name.split_once('|').unwrap_or((name, ""));
                let ir = r.get(group, name, "ir");
                let c_ir = r.get(group, &format!("{func}|C, inlined"), "ir");
                let _ = writeln!(
                    out,
                    "| {label} | {func} | {variant} | {} | {} | {} |",
                    fmt(r.get(group, name, "ns_min"), 2),
                    fmt(ir, 2),
                    fmt(ir.zip(c_ir).map(|(a, b)| a - b), 2)
                );
            }
        }
    }
    let dp_groups: Vec<&String> = r
        .names
        .keys()
        .filter(|g| g.starts_with("dataplane["))
        .collect();
    if !dp_groups.is_empty() {
        out.push_str("\n## Data plane: io forwarding and mbuf alloc+free (`forwarding.rs`)\n\n| build | operation | variant | Mpps (best) | Mpps (median) | Ir/packet | Mpps / C | Ir / C |\n|---|---|---|---:|---:|---:|---:|---:|\n");
        for group in dp_groups {
            let label = &group[10..group.len() - 1];
            for name in r.names(group) {
                let Some((op, variant)) = name.split_once('|') else {
                    continue;
                };
                let c = format!("{op}|C");
                let _ = writeln!(
                    out,
                    "| {label} | {op} | {variant} | {} | {} | {} | {} | {} |",
                    fmt(r.get(group, name, "mpps_best"), 2),
                    fmt(r.get(group, name, "mpps_median"), 2),
                    fmt(r.get(group, name, "ir_per_pkt"), 2),
                    fmt(
                        ratio(
                            r.get(group, name, "mpps_best"),
                            r.get(group, &c, "mpps_best")
                        ),
                        3
                    ),
                    fmt(
                        ratio(
                            r.get(group, name, "ir_per_pkt"),
                            r.get(group, &c, "ir_per_pkt")
                        ),
                        3
                    ),
                );
            }
        }
    }
    if let Some(lto) = r.notes.get("lto") {
        let _ = writeln!(out, "\nCross-language LTO build: {lto}");
    }
    if !r.names("build").is_empty() {
        out.push_str(
            "\n## Build times (this machine, shared, 2 cores)\n\n| build | seconds |\n|---|---:|\n",
        );
        for n in r.names("build") {
            let _ = writeln!(out, "| {n} | {} |", fmt(r.get("build", n, "s"), 2));
        }
    }
    out.push_str("\n## Plots\n\nAll have a title, axis descriptions with units, tick labels and a legend (text in DejaVu Sans).\n\n* `per_access.png`: the mapped BAR on the host (memfd). Upper panel: instructions per access (callgrind Ir); lower panel: nanoseconds per access (minimum of 11 rounds). One group of bars per operation (read32 and write32, constant offset and 64 offsets), in each group C (grey), FixedMapping, compile-time checked (blue; constant offsets only) and MappedRegion, run-time checked (orange), with the value above each bar.\n* `enumeration.png`: upper panel: milliseconds per enumeration against the number of devices in the tree (16 to 4096), both axes logarithmic: DPDK's own scan (grey), the crate's enumeration (blue) and linear growth from the crate's 16-device time (green, dashed). Lower panel (when callgrind ran): thousand instructions per device against the number of devices (logarithmic), for DPDK's scan and the crate's enumeration; a flat line is linear growth, and this is the figure the linearity target judges.\n* `dataplane.png`: the data plane, Rust against C in the same run. Upper panel: instructions per packet over C's (callgrind); lower panel: best Mpps over C's. One group of bars per operation (io forwarding over net_ring and net_null, mbuf alloc+free single and bulk of 32), in each the safe API (blue) and the same loop through the shim (orange), without and with cross-language LTO (light and dark); dashed lines at the targets (1.05 and 1.0 for instructions, 0.98 for Mpps).\n");
    out
}

/// The lines that enclose the block of benches/README.md that bench-report
/// writes (`--readme`): everything between them is replaced.
const README_BEGIN: &str = "<!-- bench-report: begin. Written by bench-report from one run (tools/bench.sh); edits here are overwritten. -->";
const README_END: &str = "<!-- bench-report: end -->";

/// The README's figures: where they come from, the targets table and a few
/// other figures, all from the one run `r` holds.
fn readme_block(r: &Results) -> String {
    let note = |key: &str| r.notes.get(key).map_or("unknown", String::as_str);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "All figures in this block come from one run: {} (`{}`, commit {}; {}). The full tables of that run are its `bench-results/results.md`. Each row's verdict is computed from the figures in its row; a figure that run did not take says \"not measured\".\n",
        note("date"),
        note("command"),
        note("commit"),
        note("host")
    );
    targets_table(r, &mut out);
    let mut other = Vec::new();
    let names = r.names("host_pread");
    let mut preads = Vec::new();
    for name in names {
        let Some((op, variant)) = name.split_once('|') else {
            continue;
        };
        let Some(c) = names.iter().find(|n| n.starts_with(&format!("{op}|C "))) else {
            continue;
        };
        if name == c {
            continue;
        }
        let time = ratio(
            r.get("host_pread", name, "ns_min"),
            r.get("host_pread", c, "ns_min"),
        );
        if let Some(time) = time {
            preads.push(format!("{op} (`{variant}`) {time:.2}×"));
        }
    }
    if !preads.is_empty() {
        other.push(format!(
            "`RegionIo` per 4-byte register on the host, time against C's `pread64`/`pwrite64` (minimum): {}.",
            preads.join(", ")
        ));
    }
    for group in r.names.keys().filter(|g| g.starts_with("shim[")) {
        let label = &group[5..group.len() - 1];
        let calls: Vec<String> = r
            .names(group)
            .iter()
            .filter_map(|n| {
                let ir = r.get(group, n, "ir")?;
                let (func, variant) = n.split_once('|').unwrap_or((n, ""));
                Some(format!("`{func}` {variant}: {} Ir", figure(ir)))
            })
            .collect();
        if !calls.is_empty() {
            other.push(format!(
                "Static inline functions, {label}, per call: {}.",
                calls.join("; ")
            ));
        }
    }
    for n in r.names("build") {
        if let Some(s) = r.get("build", n, "s") {
            other.push(format!("Build: {n}: {s:.2} s."));
        }
    }
    if let Some(lto) = r.notes.get("lto") {
        other.push(format!("Cross-language LTO build: {lto}."));
    }
    if !other.is_empty() {
        out.push_str("\nOther figures of this run:\n\n");
        for line in other {
            let _ = writeln!(out, "* {line}");
        }
    }
    out
}

/// `readme` with the text between [`README_BEGIN`] and [`README_END`]
/// replaced by `block`.
fn replace_block(readme: &str, block: &str) -> Result<String, String> {
    let begin = readme
        .find(README_BEGIN)
        .ok_or_else(|| format!("no line {README_BEGIN:?}"))?;
    let after_begin = begin + README_BEGIN.len();
    let end = readme[after_begin..]
        .find(README_END)
        .map(|i| after_begin + i)
        .ok_or_else(|| format!("no line {README_END:?} after the begin line"))?;
    Ok(format!(
        "{}\n{}{}",
        &readme[..after_begin],
        block,
        &readme[end..]
    ))
}

/// The font the plots' text is drawn with (Debian package fonts-dejavu-core).
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT: &str = "sans-serif";

/// Reads DejaVu Sans and registers it with plotters as the sans-serif family.
fn register_font() -> Result<(), String> {
    let bytes = std::fs::read(FONT_PATH).map_err(|e| {
        format!(
            "bench-report: cannot read the font for the plots' text, {FONT_PATH}: {e}\n\
             install it: apt-get install fonts-dejavu-core"
        )
    })?;
    // plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes).map_err(|_| {
        format!(
            "bench-report: {FONT_PATH} is not a font plotters can read; \
             reinstall it: apt-get install --reinstall fonts-dejavu-core"
        )
    })
}

const GREY: RGBColor = RGBColor(120, 120, 120);
const BLUE: RGBColor = RGBColor(40, 90, 200);
const ORANGE: RGBColor = RGBColor(235, 130, 20);
const GREEN: RGBColor = RGBColor(60, 160, 60);

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A figure as printed above a bar: whole numbers without decimals.
fn bar_value(v: f64, digits: usize) -> String {
    if (v - v.round()).abs() < 0.005 {
        format!("{v:.0}")
    } else {
        format!("{v:.digits$}")
    }
}

/// One panel of per_access.png: a group of bars per operation, one bar per
/// variant, the value printed above each bar.
/// The bars of one panel: the group, its variants (name suffix, legend,
/// colour), the x axis's description, and horizontal target lines.
struct Bars<'a> {
    group: &'a str,
    variants: &'a [(&'a str, &'a str, RGBColor)],
    x_desc: &'a str,
    lines: &'a [(f64, &'a str)],
}

fn bars_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    r: &Results,
    bars_of: &Bars<'_>,
    metric: &str,
    caption: &str,
    y_desc: &str,
) -> DrawResult {
    let g = bars_of.group;
    let ops: Vec<String> = {
        let mut ops: Vec<String> = Vec::new();
        for n in r.names(g) {
            let op = n.split('|').next().unwrap_or(n).to_owned();
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
        ops
    };
    let variants = bars_of.variants;
    let top = r
        .names(g)
        .iter()
        .filter_map(|n| r.get(g, n, metric))
        .fold(0.0f64, f64::max);
    let top = bars_of.lines.iter().map(|l| l.0).fold(top, f64::max);
    // Room above the bars for the values and the legend.
    let max = if top > 0.0 { top * 1.5 } else { 1.0 };
    // Integer x coordinates (plotters formats their labels): `step` per
    // operation, a bar 24 wide every 27 from 10.
    let step = 27 * variants.len() as i32 + 19;
    let width = ops.len() as i32 * step;
    let centres: Vec<i32> = (0..ops.len() as i32).map(|i| i * step + step / 2).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 19))
        .margin(12)
        .x_label_area_size(52)
        .y_label_area_size(70)
        .build_cartesian_2d((0..width).with_key_points(centres), 0f64..max)?;
    let op_of = |x: &i32| {
        usize::try_from(*x / step)
            .ok()
            .and_then(|i| ops.get(i))
            .cloned()
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(bars_of.x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&op_of)
        .y_label_formatter(&|y| format!("{y}"))
        .light_line_style(WHITE)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    for &(at, label) in bars_of.lines {
        chart
            .draw_series(DashedLineSeries::new(
                [(0, at), (width, at)],
                6,
                4,
                BLACK.stroke_width(1),
            ))?
            .label(label)
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
    }
    for (j, &(variant, label, color)) in (0i32..).zip(variants) {
        let bars: Vec<(i32, f64)> = (0i32..)
            .zip(&ops)
            .filter_map(|(i, op)| {
                let v = r.get(g, &format!("{op}|{variant}"), metric)?;
                Some((i * step + 10 + j * 27, v))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        chart
            .draw_series(
                bars.iter()
                    .map(|&(x, v)| Rectangle::new([(x, 0.0), (x + 24, v)], color.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
        let style =
            TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(bars.iter().map(|&(x, v)| {
                Text::new(bar_value(v, 2), (x + 12, v + max * 0.01), style.clone())
            }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

fn per_access_plot(r: &Results, path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, (1000, 860)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Mapped BAR access on the host (memfd mapping, 1 MiB): C against the Rust accessors",
        (FONT, 21),
    )?;
    let (top, bottom) = root.split_vertically(415);
    let variants = [
        ("C", "C (volatile load/store)", GREY),
        (
            "FixedMapping (compile-time checked)",
            "FixedMapping (compile-time checked)",
            BLUE,
        ),
        (
            "MappedRegion (run-time checked)",
            "MappedRegion (run-time checked)",
            ORANGE,
        ),
    ];
    let bars = Bars {
        group: "host_mapped",
        variants: &variants,
        x_desc: "operation (bars left to right: C, FixedMapping, MappedRegion; FixedMapping takes constant offsets only)",
        lines: &[],
    };
    bars_panel(
        &top,
        r,
        &bars,
        "ir",
        "Instructions per access (valgrind callgrind, deterministic)",
        "instructions per access (Ir)",
    )?;
    bars_panel(
        &bottom,
        r,
        &bars,
        "ns_min",
        "Time per access (wall clock, minimum of 11 rounds)",
        "nanoseconds per access",
    )?;
    root.present()?;
    Ok(())
}

/// dataplane.png: Rust over C per operation, both builds, as ratios; None
/// when the run has no data-plane figures.
fn dataplane_plot(r: &Results, path: &Path) -> Option<DrawResult> {
    let mut ratios = Results::default();
    let g = "dataplane_ratio";
    let variants = [
        ("Rust (no LTO)", "safe API, no LTO", RGBColor(120, 170, 230)),
        (
            "shim (no LTO)",
            "through the shim, no LTO",
            RGBColor(245, 180, 110),
        ),
        (
            "Rust (cross-language LTO)",
            "safe API, cross-language LTO",
            BLUE,
        ),
        (
            "shim (cross-language LTO)",
            "through the shim, cross-language LTO",
            ORANGE,
        ),
    ];
    for op in DATAPLANE_OPS {
        for (label, _) in DATAPLANE_BUILDS {
            for (side, short) in [("Rust", "Rust"), ("Rust through the shim", "shim")] {
                let (ir, mpps) = dataplane_ratios(r, label, op, side);
                let name = format!("{op}|{short} ({label})");
                for (metric, v) in [("ir_ratio", ir), ("mpps_ratio", mpps)] {
                    if let Some(v) = v {
                        let names = ratios.names.entry(g.to_owned()).or_default();
                        if !names.contains(&name) {
                            names.push(name.clone());
                        }
                        ratios
                            .values
                            .insert((g.into(), name.clone(), metric.into()), v);
                    }
                }
            }
        }
    }
    if ratios.names(g).is_empty() {
        return None;
    }
    Some(draw_dataplane(&ratios, g, &variants, path))
}

/// The two panels of `dataplane.png`: Ir and Mpps over C's, per operation.
fn draw_dataplane(
    ratios: &Results,
    g: &str,
    variants: &[(&str, &str, RGBColor)],
    path: &Path,
) -> DrawResult {
    let root = BitMapBackend::new(path, (1100, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Data plane: Rust against C in the same run (DPDK's net_ring and net_null, bursts of 32)",
        (FONT, 21),
    )?;
    let (top, bottom) = root.split_vertically(440);
    let x_desc = "operation (bars: the safe API and the same loop through the shim, without and with cross-language LTO)";
    bars_panel(
        &top,
        ratios,
        &Bars {
            group: g,
            variants,
            x_desc,
            lines: &[
                (1.05, "target without LTO (1.05)"),
                (1.0, "target with LTO (1.0)"),
            ],
        },
        "ir_ratio",
        "Instructions per packet over C's (valgrind callgrind)",
        "Rust Ir / C Ir",
    )?;
    bars_panel(
        &bottom,
        ratios,
        &Bars {
            group: g,
            variants,
            x_desc,
            lines: &[(0.98, "target (0.98)")],
        },
        "mpps_ratio",
        "Million packets per second over C's (best of 15 rounds)",
        "Rust Mpps / C Mpps",
    )?;
    root.present()?;
    Ok(())
}

/// Milliseconds as an axis label: as many decimals as small values need.
fn ms_label(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// 1, 2, 5 times the powers of ten between `lo` and `hi`.
fn one_two_five(lo: f64, hi: f64) -> Vec<f64> {
    let mut points = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 5.0] {
            let v = decade * m;
            if v >= lo && v <= hi {
                points.push(v);
            }
        }
        decade *= 10.0;
    }
    points
}

fn enumeration_plot(r: &Results, path: &Path) -> DrawResult {
    let names = r.names("enumeration");
    let points = |metric: &str| -> Vec<(f64, f64)> {
        names
            .iter()
            .filter_map(|n| Some((n.parse::<f64>().ok()?, r.get("enumeration", n, metric)?)))
            .collect()
    };
    let (scan, en) = (points("scan_ms"), points("enumerate_ms"));
    if scan.is_empty() {
        return Ok(());
    }
    let ymax = scan.iter().chain(&en).map(|p| p.1).fold(0.0, f64::max) * 3.0;
    let ymin = scan.iter().chain(&en).map(|p| p.1).fold(f64::MAX, f64::min) / 2.0;
    let sizes: Vec<f64> = scan.iter().map(|p| p.0).collect();
    let has_ir = !r.names("enumeration_ir").is_empty();
    let root =
        BitMapBackend::new(path, (1000, if has_ir { 1160 } else { 740 })).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Enumeration of fake PCI trees (sysfs on tmpfs): the crate against DPDK's own scan",
        (FONT, 21),
    )?;
    let (top, bottom) = if has_ir {
        root.split_vertically(680)
    } else {
        (root.clone(), root.clone())
    };
    let mut chart = ChartBuilder::on(&top)
        .caption("Wall time (both axes logarithmic)", (FONT, 19))
        .margin(16)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (8f64..8192f64).log_scale().with_key_points(sizes),
            (ymin..ymax)
                .log_scale()
                .with_key_points(one_two_five(ymin, ymax)),
        )?;
    chart
        .configure_mesh()
        .x_desc("devices in the tree (logarithmic)")
        .y_desc("milliseconds per enumeration (logarithmic; best of 5 rounds × 3 processes)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| ms_label(*y))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 15))
        .draw()?;
    if let Some(&(x0, y0)) = en.first() {
        let linear: Vec<(f64, f64)> = en.iter().map(|&(x, _)| (x, y0 * x / x0)).collect();
        chart
            .draw_series(DashedLineSeries::new(linear, 8, 6, GREEN.stroke_width(2)))?
            .label(format!(
                "linear growth (the crate's time at {x0:.0} devices × devices / {x0:.0})"
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], GREEN.stroke_width(2)));
    }
    for (points, color, label) in [
        (&scan, GREY, "DPDK's own scan (rte_bus_scan called from C)"),
        (&en, BLUE, "crate enumeration (Eal::pci_devices)"),
    ] {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(3),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()?;
    if has_ir {
        enumeration_ir_panel(&bottom, r)?;
    }
    root.present()?;
    Ok(())
}

/// The lower panel of enumeration.png: instructions per device (callgrind).
fn enumeration_ir_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    r: &Results,
) -> DrawResult {
    let names = r.names("enumeration_ir");
    let points = |metric: &str| -> Vec<(f64, f64)> {
        names
            .iter()
            .filter_map(|n| Some((n.parse::<f64>().ok()?, ir_per_device(r, n, metric)? / 1e3)))
            .collect()
    };
    let (scan, en) = (points("scan_ir"), points("enumerate_ir"));
    let sizes: Vec<f64> = scan.iter().map(|p| p.0).collect();
    let ymax = scan.iter().chain(&en).map(|p| p.1).fold(1.0, f64::max) * 1.4;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Instructions per device (callgrind, user space): what the linearity target judges",
            (FONT, 19),
        )
        .margin(16)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (8f64..8192f64).log_scale().with_key_points(sizes),
            0f64..ymax,
        )?;
    chart
        .configure_mesh()
        .x_desc("devices in the tree (logarithmic)")
        .y_desc("thousand instructions per device")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 15))
        .draw()?;
    // The scan's values below its points, the crate's above.
    for (points, color, label, below) in [
        (
            &scan,
            GREY,
            "DPDK's own scan (rte_bus_scan called from C)",
            true,
        ),
        (&en, BLUE, "crate enumeration (Eal::pci_devices)", false),
    ] {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(3),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
        let (v, dy) = if below {
            (VPos::Top, -0.015 * ymax)
        } else {
            (VPos::Bottom, 0.015 * ymax)
        };
        let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, v));
        chart.draw_series(
            points
                .iter()
                .map(|&(x, y)| Text::new(format!("{y:.1}k"), (x * 1.08, y + dy), style.clone())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (raw, out, readme) = match args.as_slice() {
        [_, raw, out] => (raw, Path::new(out), None),
        [_, raw, out, flag, readme] if flag == "--readme" => {
            (raw, Path::new(out), Some(Path::new(readme)))
        }
        _ => {
            eprintln!("usage: bench-report RAW_RESULTS OUT_DIR [--readme benches/README.md]");
            std::process::exit(2);
        }
    };
    if let Err(e) = register_font() {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let text = std::fs::read_to_string(raw).expect("raw results");
    let r = Results::parse(&text);
    std::fs::create_dir_all(out).expect("output directory");
    std::fs::write(out.join("results.md"), markdown(&r)).expect("results.md");
    let mut failed = false;
    if let Err(e) = per_access_plot(&r, &out.join("per_access.png")) {
        eprintln!("per_access.png: {e}");
        failed = true;
    }
    if let Err(e) = enumeration_plot(&r, &out.join("enumeration.png")) {
        eprintln!("enumeration.png: {e}");
        failed = true;
    }
    if let Some(Err(e)) = dataplane_plot(&r, &out.join("dataplane.png")) {
        eprintln!("dataplane.png: {e}");
        failed = true;
    }
    println!("{}", out.join("results.md").display());
    if let Some(readme) = readme {
        let updated = std::fs::read_to_string(readme)
            .map_err(|e| e.to_string())
            .and_then(|text| replace_block(&text, &readme_block(&r)));
        match updated.and_then(|text| std::fs::write(readme, text).map_err(|e| e.to_string())) {
            Ok(()) => println!("{} (its figures block)", readme.display()),
            Err(e) => {
                eprintln!("{}: {e}", readme.display());
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: [u64; 3] = [16, 256, 4096];

    fn points(cost: impl Fn(f64) -> f64) -> Vec<(u64, f64)> {
        SIZES.iter().map(|&n| (n, cost(n as f64))).collect()
    }

    #[test]
    fn one_size_is_not_judged() {
        let verdict = linearity(&[(16, 819_392.0)], 1.5);
        assert_eq!(
            verdict,
            Verdict::NotJudged("only one size measured (16 devices)".into())
        );
        assert_eq!(
            verdict.cell(),
            "not judged: only one size measured (16 devices)"
        );
        // The same size twice is still one size.
        assert!(matches!(
            linearity(&[(16, 1.0), (16, 1.0)], 1.5),
            Verdict::NotJudged(_)
        ));
        assert_eq!(linearity(&[], 1.5), Verdict::NotMeasured);
    }

    #[test]
    fn linear_data_is_linear() {
        // A fixed cost plus the same cost per device: the cost per device falls.
        assert_eq!(
            linearity(&points(|n| 90_000.0 + 51_000.0 * n), 1.5),
            Verdict::Met
        );
        assert_eq!(linearity(&points(|n| 51_000.0 * n), 1.5), Verdict::Met);
        // In any order; two sizes are enough.
        let mut reversed = points(|n| 51_000.0 * n);
        reversed.reverse();
        assert_eq!(linearity(&reversed, 1.5), Verdict::Met);
        assert_eq!(linearity(&reversed[..2], 1.5), Verdict::Met);
        let g = growth(&points(|n| 51_000.0 * n)).unwrap();
        assert_eq!(g.last, 1.0);
        assert_eq!(g.per_device[0], (16, 51_000.0));
    }

    #[test]
    fn quadratic_data_is_not_linear() {
        assert_eq!(linearity(&points(|n| 100.0 * n * n), 1.5), Verdict::Missed);
        // Mostly linear with a quadratic part, as DPDK's sorted-list insertion:
        // 40,000 per device plus 22 × n² (3.2× at 4096 against 16).
        let g = growth(&points(|n| 40_000.0 * n + 22.0 * n * n)).unwrap();
        assert!(g.last > 3.0 && g.last < 3.5, "{g:?}");
        assert_eq!(
            linearity(&points(|n| 40_000.0 * n + 22.0 * n * n), 1.5),
            Verdict::Missed
        );
        // A bump at a middle size is not hidden by the largest size being fine.
        let bumpy = [(16, 16.0), (256, 256.0 * 2.0), (4096, 4096.0)];
        assert_eq!(linearity(&bumpy, 1.5), Verdict::Missed);
        assert_eq!(growth(&bumpy).unwrap().worst, (256, 2.0));
    }

    #[test]
    fn the_report_judges_linearity_only_on_two_sizes_or_more() {
        let one = "RESULT\tenumeration_ir\t16\tscan_ir\t652480\n\
                   RESULT\tenumeration_ir\t16\tenumerate_ir\t819392\n";
        let target = |raw: &str| {
            targets(&Results::parse(raw))
                .into_iter()
                .find(|t| t.what == "enumeration linear in the device count")
                .unwrap()
        };
        let t = target(one);
        assert!(
            matches!(t.verdict, Verdict::NotJudged(_)),
            "{:?}",
            t.verdict
        );
        assert!(t.shown.contains("only one size measured"), "{}", t.shown);
        let two = format!(
            "{one}RESULT\tenumeration_ir\t4096\tscan_ir\t533000000\n\
             RESULT\tenumeration_ir\t4096\tenumerate_ir\t208400000\n"
        );
        let t = target(&two);
        assert_eq!(t.verdict, Verdict::Met);
        assert!(t.goal.contains("(4096) ≤ 1.5 × at 16"), "{}", t.goal);
        assert!(
            t.shown
                .contains("51,212 / 50,879 Ir/device at 16 / 4096 devices"),
            "{}",
            t.shown
        );
        let markdown = markdown(&Results::parse(one));
        assert!(!markdown.contains("| yes |"), "{markdown}");
    }

    #[test]
    fn the_readme_block_is_replaced_and_nothing_else() {
        let readme =
            format!("# Title\n\nbefore\n{README_BEGIN}\nold figures\n{README_END}\nafter\n");
        let new = replace_block(&readme, "new figures\n").unwrap();
        assert_eq!(
            new,
            format!("# Title\n\nbefore\n{README_BEGIN}\nnew figures\n{README_END}\nafter\n")
        );
        assert_eq!(replace_block(&new, "new figures\n").unwrap(), new);
        assert!(replace_block("no markers", "x").is_err());
        assert!(replace_block(&format!("{README_END}\n{README_BEGIN}\n"), "x").is_err());
        let r = Results::parse(
            "NOTE\tdate\t2026-12-01 23:10 UTC\nNOTE\tcommand\ttools/bench.sh --no-lto\n",
        );
        let block = readme_block(&r);
        assert!(
            block.contains("one run: 2026-12-01 23:10 UTC (`tools/bench.sh --no-lto`"),
            "{block}"
        );
        assert!(
            !block.contains("| yes |"),
            "nothing measured, nothing met: {block}"
        );
    }

    #[test]
    fn figures_group_thousands() {
        assert_eq!(figure(51_212.4), "51,212");
        assert_eq!(figure(130_124.0), "130,124");
        assert_eq!(figure(1_000_000.0), "1,000,000");
        assert_eq!(figure(999.0), "999");
        assert_eq!(figure(1.25), "1.25");
    }
}
