//! Turns the `RESULT` lines of a benchmark run into `results.md` and two plots.
//!
//! `bench-report RAW OUT_DIR`: RAW holds the lines the benchmark programs
//! printed (`RESULT<TAB>group<TAB>name<TAB>metric<TAB>value`) and the lines
//! `tools/bench.sh` added (`NOTE<TAB>key<TAB>text`). The plots carry no text
//! (no font is needed); results.md says what their colours and axes are.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

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

struct Target {
    what: &'static str,
    goal: &'static str,
    value: Option<f64>,
    limit: f64,
    shown: String,
}

fn targets(r: &Results) -> Vec<Target> {
    let g = "host_mapped";
    let ir = |op: &str, v: &str| r.get(g, &format!("{op}|{v}"), "ir");
    let worst = |pairs: &[(&str, &str)]| -> Option<f64> {
        pairs
            .iter()
            .map(|(op, v)| ratio(ir(op, v), ir(op, "C")))
            .try_fold(0.0f64, |m, x| Some(m.max(x?)))
    };
    let fixed = worst(&[
        (
            "read32, constant offset",
            "FixedMapping (compile-time checked)",
        ),
        (
            "write32, constant offset",
            "FixedMapping (compile-time checked)",
        ),
    ]);
    let checked = worst(&[
        ("read32, constant offset", "MappedRegion (run-time checked)"),
        ("read32, 64 offsets", "MappedRegion (run-time checked)"),
        (
            "write32, constant offset",
            "MappedRegion (run-time checked)",
        ),
        ("write32, 64 offsets", "MappedRegion (run-time checked)"),
    ]);
    let bulk = ratio(
        r.get("host_bulk", "pread, 64 KiB|RegionIo::read_bytes", "ns_min"),
        r.get("host_bulk", "pread, 64 KiB|C pread64", "ns_min"),
    );
    let enum_ratio = ["16", "256", "4096"]
        .iter()
        .map(|n| {
            ratio(
                r.get("enumeration", n, "enumerate_ms"),
                r.get("enumeration", n, "scan_ms"),
            )
        })
        .try_fold(0.0f64, |m, x| Some(m.max(x?)));
    let per_device =
        |n: &str| Some(r.get("enumeration", n, "enumerate_ms")? / n.parse::<f64>().ok()?);
    let linear = ratio(per_device("4096"), per_device("16"));
    let scan_per_device =
        |n: &str| Some(r.get("enumeration", n, "scan_ms")? / n.parse::<f64>().ok()?);
    let scan_linear = ratio(scan_per_device("4096"), scan_per_device("16"));
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
    let noop = r.get("build", "no-op rebuild (cargo build --workspace)", "s");
    vec![
        Target {
            what: "compile-time-checked mapped accessor (read32/write32, constant offset)",
            goal: "Ir/access ≤ C",
            value: fixed,
            limit: 1.0,
            shown: format!("worst ratio {}", fmt(fixed, 2)),
        },
        Target {
            what: "run-time-checked mapped accessor (read32/write32, constant and 64 offsets)",
            goal: "Ir/access ≤ 1.5 × C",
            value: checked,
            limit: 1.5,
            shown: format!("worst ratio {}", fmt(checked, 2)),
        },
        Target {
            what: "bulk pread (64 KiB) through RegionIo::read_bytes",
            goal: "time ≤ 1.1 × one C pread64",
            value: bulk,
            limit: 1.1,
            shown: format!("ratio {}", fmt(bulk, 2)),
        },
        Target {
            what: "enumeration through the crate (16, 256, 4096 devices)",
            goal: "time ≤ 1.1 × DPDK's scan",
            value: enum_ratio,
            limit: 1.1,
            shown: format!("worst ratio {}", fmt(enum_ratio, 2)),
        },
        Target {
            what: "enumeration linear in the device count",
            goal: "per-device time at 4096 ≤ 1.5 × at 16",
            value: linear,
            limit: 1.5,
            shown: format!(
                "{} (DPDK's own scan: {})",
                fmt(linear, 2),
                fmt(scan_linear, 2)
            ),
        },
        Target {
            what: "EAL start-up through EalBuilder::init",
            goal: "≤ 1.05 × C rte_eal_init (judged on the median time and on instructions)",
            value: startup_median.zip(startup_ir).map(|(a, b)| a.max(b)),
            limit: 1.05,
            shown: format!(
                "time: median {}, min {}; instructions {}",
                fmt(startup_median, 3),
                fmt(startup_min, 3),
                fmt(startup_ir, 4)
            ),
        },
        Target {
            what: "no-op rebuild of the workspace",
            goal: "< 2 s",
            value: noop,
            limit: 2.0,
            shown: format!("{} s", fmt(noop, 2)),
        },
    ]
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
    out.push_str("## Targets\n\n| what | target | measured | met |\n|---|---|---|---|\n");
    for t in targets(r) {
        let met = match t.value {
            Some(v) if v <= t.limit => "yes",
            Some(_) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(out, "| {} | {} | {} | {met} |", t.what, t.goal, t.shown);
    }
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
    out.push_str("\n## Plots\n\n* `per_access.png`: instructions per access (callgrind) on the host mapping; one group of bars per operation, left to right: read32 constant offset, read32 64 offsets, write32 constant offset, write32 64 offsets; in each group grey = C, blue = FixedMapping (compile-time checked), orange = MappedRegion (run-time checked). Horizontal lines every instruction. Lower panel: the same in ns/access (lines every 0.5 ns).\n* `enumeration.png`: milliseconds against device count, both axes logarithmic (vertical lines at 16, 64, 256, 1024, 4096; horizontal lines at each power of ten); grey = DPDK's scan, blue = crate enumeration, light green dashed = linear growth from the 16-device point of the crate's enumeration.\n");
    out
}

const GREY: RGBColor = RGBColor(120, 120, 120);
const BLUE: RGBColor = RGBColor(40, 90, 200);
const ORANGE: RGBColor = RGBColor(235, 130, 20);
const LIGHT: RGBColor = RGBColor(220, 220, 220);
const GREEN: RGBColor = RGBColor(80, 180, 80);

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn bars_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    r: &Results,
    metric: &str,
    grid: f64,
) -> DrawResult {
    let g = "host_mapped";
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
    let variants = [
        ("C", GREY),
        ("FixedMapping (compile-time checked)", BLUE),
        ("MappedRegion (run-time checked)", ORANGE),
    ];
    let max = r
        .names(g)
        .iter()
        .filter_map(|n| r.get(g, n, metric))
        .fold(0.0f64, f64::max)
        .max(grid)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .build_cartesian_2d(0f64..(ops.len() as f64 * 4.0), 0f64..max)?;
    let mut y = grid;
    while y < max {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, y), (ops.len() as f64 * 4.0, y)],
            LIGHT,
        )))?;
        y += grid;
    }
    for (i, op) in ops.iter().enumerate() {
        for (j, (variant, color)) in variants.iter().enumerate() {
            if let Some(v) = r.get(g, &format!("{op}|{variant}"), metric) {
                let x0 = i as f64 * 4.0 + 0.5 + j as f64;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + 0.9, v)],
                    color.filled(),
                )))?;
            }
        }
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.0), (ops.len() as f64 * 4.0, 0.0)],
        BLACK,
    )))?;
    Ok(())
}

fn per_access_plot(r: &Results, path: &Path) -> DrawResult {
    let root = BitMapBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(420);
    bars_panel(&top, r, "ir", 1.0)?;
    bars_panel(&bottom, r, "ns_min", 0.5)?;
    root.present()?;
    Ok(())
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
    let ymax = scan.iter().chain(&en).map(|p| p.1).fold(0.0, f64::max) * 2.0;
    let ymin = scan.iter().chain(&en).map(|p| p.1).fold(f64::MAX, f64::min) / 2.0;
    let root = BitMapBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(20)
        .build_cartesian_2d((8f64..8192f64).log_scale(), (ymin..ymax).log_scale())?;
    for &(x, _) in &scan {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, ymin), (x, ymax)],
            LIGHT,
        )))?;
    }
    let mut y = 10f64.powf(ymin.log10().ceil());
    while y < ymax {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(8.0, y), (8192.0, y)],
            LIGHT,
        )))?;
        y *= 10.0;
    }
    if let Some(&(x0, y0)) = en.first() {
        let linear: Vec<(f64, f64)> = en.iter().map(|&(x, _)| (x, y0 * x / x0)).collect();
        chart.draw_series(DashedLineSeries::new(linear, 8, 6, GREEN.stroke_width(2)))?;
    }
    for (points, color) in [(&scan, GREY), (&en, BLUE)] {
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(3),
        ))?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
    }
    root.present()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (raw, out) = match args.as_slice() {
        [_, raw, out] => (raw, Path::new(out)),
        _ => {
            eprintln!("usage: bench-report RAW_RESULTS OUT_DIR");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(raw).expect("raw results");
    let r = Results::parse(&text);
    std::fs::create_dir_all(out).expect("output directory");
    std::fs::write(out.join("results.md"), markdown(&r)).expect("results.md");
    if let Err(e) = per_access_plot(&r, &out.join("per_access.png")) {
        eprintln!("per_access.png: {e}");
    }
    if let Err(e) = enumeration_plot(&r, &out.join("enumeration.png")) {
        eprintln!("enumeration.png: {e}");
    }
    println!("{}", out.join("results.md").display());
}
