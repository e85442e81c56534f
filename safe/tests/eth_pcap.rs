//! `net_pcap`: frames read from a capture file this test writes, forwarded
//! (MAC swap) by the Rust data path to a second port that writes a capture
//! file, which `tcpdump -r` (Debian's tcpdump, installed by tools/setup.sh)
//! reads back: it must hold the same frames, in order, byte for byte.

mod common;

use std::path::Path;
use std::process::Command;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::{Burst, Mempool, MempoolConfig, Port, PortConfig};

const NAME: &str = "pcap_read_forward_write";
const FRAMES: usize = 300;

/// Frame `i`: sizes 60..1514, bytes from `i` and the offset.
fn frame(i: usize) -> Vec<u8> {
    let len = 60 + (i * 97) % (1514 - 60 + 1);
    let mut f: Vec<u8> = (0..len).map(|k| (i * 13 + k * 7) as u8).collect();
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, (i >> 8) as u8, i as u8]);
    f[6..12].copy_from_slice(&[0x02, 0xaa, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

fn swapped(mut f: Vec<u8>) -> Vec<u8> {
    let (a, b) = f.split_at_mut(6);
    a.swap_with_slice(&mut b[..6]);
    f
}

/// A classic pcap file (microsecond timestamps, Ethernet link type).
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// The frames of a capture file as `tcpdump -r FILE -nn -xx` prints them.
fn tcpdump_frames(path: &Path) -> Vec<Vec<u8>> {
    let out = Command::new("tcpdump")
        .args(["-r"])
        .arg(path)
        .args(["-nn", "-xx", "-s", "0"])
        .output()
        .expect("tcpdump (Debian package tcpdump; tools/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("0x") {
            let hex = rest.split_once(':').expect(line).1;
            let bytes = frames.last_mut().expect("hex before a packet line");
            for word in hex.split_whitespace() {
                for k in (0..word.len()).step_by(2) {
                    bytes.push(u8::from_str_radix(&word[k..k + 2], 16).unwrap());
                }
            }
        } else {
            frames.push(Vec::new());
        }
    }
    frames
}

#[test]
fn pcap_read_forward_write() {
    let dir = std::env::temp_dir().join("dpdk-rs-pcap-test");
    if !is_child(NAME) {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let input: Vec<Vec<u8>> = (0..FRAMES).map(frame).collect();
        write_pcap(&dir.join("in.pcap"), &input);
        write_pcap(&dir.join("empty.pcap"), &[]);
        // tcpdump reads our input as we wrote it (the reader is checked too).
        assert_eq!(tcpdump_frames(&dir.join("in.pcap")), input);
        println!("{}", child_passes(NAME, &[]));
        let output = tcpdump_frames(&dir.join("out.pcap"));
        let expected: Vec<Vec<u8>> = input.into_iter().map(swapped).collect();
        assert_eq!(output.len(), FRAMES, "tcpdump read {} frames", output.len());
        assert_eq!(output, expected, "the written capture differs");
        println!(
            "tcpdump -r out.pcap: {FRAMES} frames, each the input frame with its MACs swapped"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let d = dir.display();
    let eal = base_builder()
        .no_pci()
        .vdev(&format!(
            "net_pcap0,rx_pcap={d}/in.pcap,tx_pcap={d}/unused.pcap"
        ))
        .vdev(&format!(
            "net_pcap1,rx_pcap={d}/empty.pcap,tx_pcap={d}/out.pcap"
        ))
        .init()
        .unwrap();
    let pool = Mempool::new(&eal, &MempoolConfig::new("pcap", 1023)).unwrap();
    let mut ports = Vec::new();
    for name in ["net_pcap0", "net_pcap1"] {
        let mut p = Port::by_name(&eal, name).unwrap();
        p.configure(&PortConfig::new(1, 1)).unwrap();
        p.setup_rx_queue(0, 0, None, &pool).unwrap();
        p.setup_tx_queue(0, 0, None).unwrap();
        p.start().unwrap();
        ports.push(p);
    }
    {
        let mut rx = ports[0].rx_queue(0).unwrap();
        let mut tx = ports[1].tx_queue(0).unwrap();
        let mut burst = Burst::new(32).unwrap();
        let (mut got, mut sent, mut idle) = (0, 0, 0);
        while idle < 1000 {
            let n = rx.rx_burst(&mut burst);
            if n == 0 {
                idle += 1;
                continue;
            }
            got += n;
            for m in burst.as_mut_slice() {
                let d = m.data_mut().unwrap();
                let (a, b) = d.split_at_mut(6);
                a.swap_with_slice(&mut b[..6]);
            }
            while !burst.is_empty() {
                sent += tx.tx_burst(&mut burst);
            }
        }
        assert_eq!((got, sent), (FRAMES, FRAMES));
    }
    let stats = ports[1].stats().unwrap();
    assert_eq!(stats.tx_packets, FRAMES as u64);
    assert_eq!(ports[0].stats().unwrap().rx_packets, FRAMES as u64);
    println!("net_pcap: read {FRAMES} frames from in.pcap, forwarded them to out.pcap");
    // Closing the ports flushes and closes the capture files.
    drop(ports);
    assert_eq!(pool.in_use(), 0);
}
