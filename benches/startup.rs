//! EAL start-up, Rust against C in one run: `EalBuilder::init` against the same
//! arguments passed to `rte_eal_init` from C (`EalBuilder::c_argv`). DPDK starts
//! once per process, so every sample is a fresh child process, alternating
//! between the two; the time is taken inside the child around the call only.

use std::process::Command;
use std::time::Instant;

use dpdk::{Eal, EalBuilder, LogLevel};
use dpdk_benches::*;

const SAMPLES: usize = 21;

fn builder() -> EalBuilder {
    Eal::builder()
        .lcores([0])
        .no_huge(64 << 20)
        .no_shconf()
        .no_pci()
        .log_level(LogLevel::Error)
}

fn child(which: &str) {
    let ns = match which {
        "rust" => {
            let start = Instant::now();
            let eal = builder().init().expect("EAL");
            let ns = start.elapsed().as_nanos();
            std::mem::forget(eal); // the process exits; no cleanup in the timing
            ns
        }
        _ => {
            let mut args = builder().c_argv().expect("arguments");
            let argc = args.argc();
            let argv = args.argv();
            let start = Instant::now();
            // SAFETY: argv holds argc NUL-terminated strings in `args`'s own
            // writable buffers, followed by NULL, as C's main receives them; they
            // outlive the call and the process (rte_eal_init may keep pointers
            // into them: `args` is forgotten below, never freed).
            let ret = unsafe { bench_c_eal_init(argc, argv) };
            let ns = start.elapsed().as_nanos();
            assert!(ret >= 0, "rte_eal_init from C: {ret}");
            std::mem::forget(args);
            ns
        }
    };
    println!("CHILD {ns}");
    // Leave without DPDK's cleanup, as both variants do.
    std::process::exit(0);
}

fn sample(which: &str) -> f64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("DPDK_RS_BENCH_CHILD", which)
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("CHILD "))
        .unwrap_or_else(|| {
            panic!(
                "child failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    line.trim().parse::<f64>().unwrap() / 1e6
}

/// Instructions the whole child process executes (callgrind's total `Ir`):
/// deterministic, unlike the wall clock. The two children differ only in how
/// they call rte_eal_init.
fn instructions(which: &str) -> Option<f64> {
    let out_file = std::env::temp_dir().join(format!("dpdk-bench-startup.{}", std::process::id()));
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(std::env::current_exe().ok()?)
        .env("DPDK_RS_BENCH_CHILD", which)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&out_file);
    let text = String::from_utf8_lossy(&out.stderr);
    let refs = text.lines().find_map(|l| l.split_once("I   refs:"))?.1;
    refs.trim().replace(',', "").parse().ok()
}

fn main() {
    if let Some(which) = std::env::var_os("DPDK_RS_BENCH_CHILD") {
        return child(&which.to_string_lossy());
    }
    let (mut c, mut rust) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        // Alternate which goes first: a process starting right after another
        // one exits may pay for the kernel tearing the previous 64 MiB down.
        if i % 2 == 0 {
            c.push(sample("c"));
            rust.push(sample("rust"));
        } else {
            rust.push(sample("rust"));
            c.push(sample("c"));
        }
    }
    let ir = if have_valgrind() {
        instructions("c").zip(instructions("rust"))
    } else {
        None
    };
    let (c_min, c_median) = min_median(c);
    let (r_min, r_median) = min_median(rust);
    emit("startup", "C rte_eal_init", "ms_min", c_min);
    emit("startup", "C rte_eal_init", "ms_median", c_median);
    emit("startup", "EalBuilder::init", "ms_min", r_min);
    emit("startup", "EalBuilder::init", "ms_median", r_median);
    let builder = builder();
    let args: Vec<_> = builder.args()[1..]
        .iter()
        .map(|a| a.to_string_lossy())
        .collect();
    let args = args.join(" ");
    println!("NOTE\tstartup_args\t{args}");
    println!("EAL start-up ({args}), {SAMPLES} processes each\n");
    println!("| variant | min (ms) | median (ms) | ratio to C (min) | ratio to C (median) |");
    println!("|---|---:|---:|---:|---:|");
    println!("| C rte_eal_init | {c_min:.2} | {c_median:.2} | 1.00 | 1.00 |");
    println!(
        "| EalBuilder::init | {r_min:.2} | {r_median:.2} | {:.3} | {:.3} |",
        r_min / c_min,
        r_median / c_median
    );
    if let Some((c_ir, r_ir)) = ir {
        emit("startup", "C rte_eal_init", "ir", c_ir);
        emit("startup", "EalBuilder::init", "ir", r_ir);
        println!(
            "\ninstructions of the whole process (callgrind): C {c_ir:.0}, Rust {r_ir:.0}, ratio {:.4}",
            r_ir / c_ir
        );
    }
}
