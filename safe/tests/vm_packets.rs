//! Packets through one of DPDK's own hardware drivers, inside the test VM
//! (`tools/vm-packets.sh` runs these with `--ignored`, as x86_64 and as i686):
//! two QEMU e1000e (Intel 82574L) joined by a QEMU hub, nothing else on it,
//! bound to vfio-pci and driven by DPDK's `net_e1000_em` through VFIO. What one
//! port sends arrives on the other, byte for byte and in order, both ways; the
//! drivers' counters agree with what was sent and received; every mbuf goes
//! back to the pool.

mod common;

use std::time::{Duration, Instant};

use common::{base_builder, in_vm_child};
use dpdk_safe::{Burst, Mbuf, Mempool, MempoolConfig, Port, PortConfig};

/// The two NICs on the hub (`tools/vm-packets.sh`).
const NIC_A: &str = "0000:00:08.0";
const NIC_B: &str = "0000:00:09.0";
/// An EtherType for local experiments (IEEE 802), which no stack answers.
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

fn started<'eal>(port: &mut Port<'eal>, pool: &Mempool<'eal>) {
    port.configure(&PortConfig::new(1, 1)).unwrap();
    port.setup_rx_queue(0, 256, None, pool).unwrap();
    port.setup_tx_queue(0, 256, None).unwrap();
    port.start().unwrap();
    port.set_promiscuous(true).unwrap();
}

/// Frame `seq` from `src` to `dst`: `len` bytes, the payload telling its
/// sequence number and each byte's own offset.
fn frame(m: &mut Mbuf<'_>, dst: [u8; 6], src: [u8; 6], len: usize, seq: u32) {
    let data = m.append(len).unwrap();
    data[..6].copy_from_slice(&dst);
    data[6..12].copy_from_slice(&src);
    data[12..14].copy_from_slice(&ETHERTYPE);
    data[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in data.iter_mut().enumerate().skip(18) {
        *b = (seq as usize).wrapping_mul(7).wrapping_add(i) as u8;
    }
}

/// The sequence number of a frame made by `frame`, after checking every byte.
fn checked(m: &Mbuf<'_>, dst: [u8; 6], src: [u8; 6], len: usize) -> u32 {
    let data = m.data();
    assert_eq!(data.len(), len, "frame length");
    assert_eq!(&data[..6], &dst, "destination");
    assert_eq!(&data[6..12], &src, "source");
    assert_eq!(&data[12..14], &ETHERTYPE, "EtherType");
    let seq = u32::from_be_bytes(data[14..18].try_into().unwrap());
    for (i, b) in data.iter().enumerate().skip(18) {
        assert_eq!(
            *b,
            (seq as usize).wrapping_mul(7).wrapping_add(i) as u8,
            "frame {seq} byte {i}"
        );
    }
    seq
}

/// Sends `count` frames of `len` bytes from `from` and receives them on `to`,
/// in order; returns how long it took.
fn send_and_receive(
    from: &Port<'_>,
    to: &Port<'_>,
    pool: &Mempool<'_>,
    count: u32,
    len: usize,
) -> Duration {
    let (src, dst) = (from.mac().unwrap(), to.mac().unwrap());
    let mut tx = from.tx_queue(0).unwrap();
    let mut rx = to.rx_queue(0).unwrap();
    let mut out = Burst::new(32).unwrap();
    let mut back = Burst::new(32).unwrap();
    let (mut sent, mut received) = (0u32, 0u32);
    let start = Instant::now();
    while received < count {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{received} of {count} frames arrived ({sent} sent)"
        );
        // No more in flight than the receiving ring holds.
        while out.spare() > 0 && sent + (out.len() as u32) < count.min(received + 128) {
            let mut m = pool.alloc().unwrap();
            frame(&mut m, dst, src, len, sent + out.len() as u32);
            out.push(m).unwrap();
        }
        sent += tx.tx_burst(&mut out) as u32;
        rx.rx_burst(&mut back);
        for m in back.as_slice() {
            assert_eq!(checked(m, dst, src, len), received, "order");
            received += 1;
        }
        back.clear();
    }
    assert!(out.is_empty(), "{} frames never sent", out.len());
    start.elapsed()
}

#[test]
#[ignore = "needs the VM: tools/vm-packets.sh"]
fn frames_cross_a_hub_between_two_e1000e_both_ways() {
    in_vm_child("frames_cross_a_hub_between_two_e1000e_both_ways", || {
        let eal = base_builder()
            .allow(NIC_A.parse().unwrap())
            .allow(NIC_B.parse().unwrap())
            .init()
            .expect("EAL with the two e1000e allowlisted");
        let ports = eal.eth_ports().unwrap();
        let names: Vec<_> = ports
            .iter()
            .map(|p| (p.device.as_str(), p.driver.as_str()))
            .collect();
        assert_eq!(names, [(NIC_A, "net_e1000_em"), (NIC_B, "net_e1000_em")]);
        // Each port's RX ring holds 256 mbufs and its TX ring keeps up to 256
        // sent ones until the driver cleans it.
        let pool = Mempool::new(&eal, &MempoolConfig::new("hub", 4095)).unwrap();
        let before = pool.available();
        let mut a = Port::by_name(&eal, NIC_A).unwrap();
        let mut b = Port::by_name(&eal, NIC_B).unwrap();
        started(&mut a, &pool);
        started(&mut b, &pool);
        for port in [&a, &b] {
            let link = port.wait_link_up(Duration::from_secs(20)).unwrap();
            println!("port {}: link up at {} Mb/s", port.id(), link.speed_mbps);
        }
        a.reset_stats().unwrap();
        b.reset_stats().unwrap();
        let (n, len) = (2000u32, 128usize);
        let took = send_and_receive(&a, &b, &pool, n, len);
        println!("{NIC_A} -> {NIC_B}: {n} frames of {len} bytes, checked, in {took:?}");
        let back = 500u32;
        let took = send_and_receive(&b, &a, &pool, back, 1514);
        println!("{NIC_B} -> {NIC_A}: {back} frames of 1514 bytes, checked, in {took:?}");
        // The drivers counted what crossed: frames, and bytes (the hardware's
        // octet counters may include the 4-byte CRC).
        let (sa, sb) = (a.stats().unwrap(), b.stats().unwrap());
        println!("stats {NIC_A}: {sa:?}\nstats {NIC_B}: {sb:?}");
        assert_eq!((sa.tx_packets, sb.rx_packets), (n.into(), n.into()));
        assert_eq!((sb.tx_packets, sa.rx_packets), (back.into(), back.into()));
        let octets = |frames: u32, len: usize| {
            [frames as u64 * len as u64, frames as u64 * (len as u64 + 4)]
        };
        assert!(octets(n, len).contains(&sa.tx_bytes), "{sa:?}");
        assert!(octets(back, 1514).contains(&sb.tx_bytes), "{sb:?}");
        assert_eq!(
            (sa.rx_errors, sb.rx_errors, sa.rx_missed, sb.rx_missed),
            (0, 0, 0, 0)
        );
        a.stop().unwrap();
        b.stop().unwrap();
        drop((a, b));
        assert_eq!(pool.available(), before, "every mbuf back in the pool");
    });
}
