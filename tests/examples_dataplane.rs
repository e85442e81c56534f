//! The data-plane examples (`l2fwd`, `pktgen`) run the way a user runs them,
//! over DPDK's in-memory `net_ring` ports (never the host's PCI bus: `--no-pci`
//! and an empty `SYSFS_PCI_DEVICES`).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

fn command(name: &str) -> Command {
    let empty = std::env::temp_dir().join("dpdk-rs-empty-pci-tree");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = Command::new(example(name));
    cmd.env("SYSFS_PCI_DEVICES", &empty);
    cmd
}

const EAL: &[&str] = &[
    "--no-pci",
    "--no-huge",
    "-m",
    "256",
    "--no-shconf",
    "--log-level",
    "4",
];

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The numbers after each `key ` on `line`.
fn field(line: &str, key: &str) -> u64 {
    let at = line
        .find(&format!("{key} "))
        .unwrap_or_else(|| panic!("{key} in {line}"));
    line[at + key.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn check_l2fwd_totals(out: &str, seed: u64) {
    let mut rx = 0;
    let mut tx = 0;
    let mut dropped = 0;
    for line in out.lines().filter(|l| l.starts_with("total port ")) {
        let (r, t) = (field(line, "rx"), field(line, "tx"));
        // The worker's counters agree with the driver's statistics.
        let driver = &line[line.find("(driver:").unwrap()..];
        assert_eq!((field(driver, "rx"), field(driver, "tx")), (r, t), "{line}");
        rx += r;
        tx += t;
        dropped += field(line, "dropped");
    }
    // Thousands a second even under emulation; the ring holds only the seed.
    assert!(rx > 1_000, "too few frames forwarded:\n{out}");
    // Every seeded frame is either still in a ring or was dropped.
    assert_eq!(tx - rx + dropped, 2 * seed, "{out}");
}

#[test]
fn l2fwd_forwards_over_two_ring_ports_and_stops_on_time() {
    let out = command("l2fwd")
        .args(["--seconds", "2", "--seed", "64", "--", "-l", "0,1"])
        .args(EAL)
        .args(["--vdev", "net_ring0", "--vdev", "net_ring1"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("lcore 1: ports 0 <-> 1"), "{t}");
    assert!(
        t.lines().any(|l| l.starts_with("port 0: rx ")),
        "no once-a-second line:\n{t}"
    );
    check_l2fwd_totals(&t, 64);
}

#[test]
fn l2fwd_stops_cleanly_on_ctrl_c() {
    let child = command("l2fwd")
        .args(["--seed", "32", "--", "-l", "0,1"])
        .args(EAL)
        .args(["--vdev", "net_ring0", "--vdev", "net_ring1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    // Ctrl-C only once l2fwd has printed its first once-a-second counters: it
    // installs its handler before its worker starts, so the signal cannot
    // arrive first however slow the machine (or emulator) is, and by then it
    // has forwarded for a second.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match lines_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let started = line.starts_with("port 0: rx ");
                seen.push(line);
                if started {
                    break;
                }
            }
            Err(e) => panic!("l2fwd did not start its worker ({e}):\n{}", seen.join("\n")),
        }
    }
    // SAFETY: kill() on the child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(lines_rx.try_iter());
    let t = seen.join("\n");
    assert!(status.success(), "{t}");
    assert!(t.contains("stopped after"), "{t}");
    check_l2fwd_totals(&t, 32);
}

#[test]
fn l2fwd_refuses_an_odd_port_count() {
    let out = command("l2fwd")
        .args(["--seconds", "1", "--", "-l", "0,1"])
        .args(EAL)
        .args(["--vdev", "net_ring0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("l2fwd needs an even number of ports, found 1"),
        "{}",
        text(&out)
    );
}

#[test]
fn pktgen_counts_every_frame_on_the_peer() {
    for (size, rate, count) in [(60, 0, 200_000), (1514, 0, 20_000), (128, 20_000, 4_000)] {
        let out = command("pktgen")
            .args(["--port", "0", "--peer", "0", "--count", &count.to_string()])
            .args([
                "--size",
                &size.to_string(),
                "--rate",
                &rate.to_string(),
                "--",
                "-l",
                "0",
            ])
            .args(EAL)
            .args(["--vdev", "net_ring0"])
            .output()
            .unwrap();
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        assert!(
            t.contains(&format!("sent {count} frames of {size} bytes on port 0")),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "peer port 0: counted {count} frames, 0 bad, 0 out of order"
            )),
            "{t}"
        );
        if rate > 0 {
            let line = t.lines().find(|l| l.starts_with("pktgen: sent")).unwrap();
            let fps: f64 = line
                .split('(')
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(fps <= rate as f64 * 1.05, "rate {rate} exceeded: {line}");
        }
    }
}
