//! `net_af_packet` on a veth pair inside a network namespace this test creates
//! and removes: frames the Rust side sends on one end cross the kernel's veth
//! driver and arrive on the other end's port, in order and intact. Nothing
//! outside the namespace is touched (no addresses; the child process runs in a
//! namespace of its own, made by `unshare --net`, which goes with the process).
//! Needs root, util-linux and iproute2 (tools/setup.sh).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{base_builder, check_passed, child_command, is_child, output_text};
use dpdk_safe::{Burst, Mempool, MempoolConfig, Port, PortConfig};

const NAME: &str = "af_packet_over_a_veth_pair";
const FRAMES: u64 = 20_000;
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

/// Run by `unshare --net` before the test binary: the veth pair in the new,
/// unnamed namespace, which (with the pair) goes away with the process.
const SETUP: &str = "set -e
ip link add veth-a type veth peer name veth-b
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
for dev in lo veth-a veth-b; do ip link set \"$dev\" up; done
exec \"$@\"";

fn frame(seq: u64, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (seq as usize * 3 + i) as u8).collect();
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    f[12..14].copy_from_slice(&ETHERTYPE);
    f[14..22].copy_from_slice(&seq.to_be_bytes());
    f
}

#[test]
fn af_packet_over_a_veth_pair() {
    if !is_child(NAME) {
        let out = child_command(NAME, &["unshare", "--net", "sh", "-c", SETUP, "sh"])
            .output()
            .expect("unshare (util-linux) and ip (iproute2)");
        let text = check_passed(NAME, out.status, output_text(&out));
        println!("{text}");
        // The pair lived in the child's namespace only.
        let here = Command::new("ip").args(["link", "show", "veth-a"]).output();
        assert!(
            here.map_or(true, |o| !o.status.success()),
            "veth-a leaked into this namespace"
        );
        return;
    }
    let eal = base_builder()
        .no_pci()
        .vdev("net_af_packet0,iface=veth-a")
        .vdev("net_af_packet1,iface=veth-b")
        .init()
        .unwrap();
    let pool = Mempool::new(&eal, &MempoolConfig::new("afp", 4095)).unwrap();
    let mut ports = Vec::new();
    for name in ["net_af_packet0", "net_af_packet1"] {
        let mut p = Port::by_name(&eal, name).unwrap();
        p.configure(&PortConfig::new(1, 1)).unwrap();
        p.setup_rx_queue(0, 0, None, &pool).unwrap();
        p.setup_tx_queue(0, 0, None).unwrap();
        p.start().unwrap();
        p.wait_link_up(Duration::from_secs(5)).unwrap();
        ports.push(p);
    }
    let mut tx = ports[0].tx_queue(0).unwrap();
    let mut rx = ports[1].rx_queue(0).unwrap();
    let (mut out, mut inb) = (Burst::new(32).unwrap(), Burst::new(32).unwrap());
    let (mut sent, mut got, mut ours_bad, mut other) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    // In windows of 256 frames, so the kernel's socket buffers never overflow.
    while got < FRAMES && start.elapsed() < Duration::from_secs(60) {
        while sent < FRAMES && sent < got + 256 && out.spare() > 0 {
            let mut m = pool.alloc().unwrap();
            let f = frame(sent, 60 + (sent % 1400) as usize);
            m.append(f.len()).unwrap().copy_from_slice(&f);
            out.push(m).unwrap();
            sent += 1;
        }
        tx.tx_burst(&mut out);
        // af_packet may refuse a frame when its TX ring is full: put those back
        // at the front of the sequence by not counting them as sent.
        sent -= out.len() as u64;
        out.clear();
        rx.rx_burst(&mut inb);
        for m in inb.as_slice() {
            let d = m.to_vec();
            if d.len() < 22 || d[12..14] != ETHERTYPE {
                other += 1;
                continue;
            }
            let seq = u64::from_be_bytes(d[14..22].try_into().unwrap());
            if seq != got || d != frame(seq, 60 + (seq % 1400) as usize) {
                ours_bad += 1;
            }
            got += 1;
        }
        inb.clear();
    }
    drop((tx, rx));
    let s0 = ports[0].stats().unwrap();
    let s1 = ports[1].stats().unwrap();
    println!(
        "af_packet: sent {sent} on veth-a, {got} arrived on veth-b ({ours_bad} damaged or out of order, \
         {other} frames of the kernel's own); port stats: a tx {} , b rx {}",
        s0.tx_packets, s1.rx_packets
    );
    assert_eq!(got, FRAMES);
    assert_eq!(ours_bad, 0);
    assert_eq!(s0.tx_packets, FRAMES);
    assert_eq!(s1.rx_packets, got + other);
    drop(ports);
    assert_eq!(pool.in_use(), 0);
}
