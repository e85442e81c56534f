//! The data plane over DPDK's in-process drivers: `net_ring` (a port whose TX
//! ring is its RX ring: what is sent comes back) and `net_null` (RX makes
//! packets, TX drops them). Mempools, mbufs, bursts of 1..64, exhaustion, a
//! million packets with every mbuf accounted for, typed errors for every
//! misuse, worker lcores, and a fast path that allocates nothing.
//! Each scenario runs in a child process of its own (one EAL per process).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::{current_lcore, lcore_scope, LaunchError, StopFlag};
use dpdk_safe::{
    rss, rx_offload, Burst, Mbuf, MbufError, Mempool, MempoolConfig, MempoolError, Port,
    PortConfig, PortError,
};

/// Counts the allocations of the thread that switched counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counters are const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: the caller's layout goes to System unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: as for alloc and dealloc.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

macro_rules! in_child {
    ($name:literal, $body:block) => {
        if is_child($name) {
            $body
        } else {
            let text = child_passes($name, &[]);
            println!("{text}");
        }
    };
}

/// A started single-queue port over `pool`.
fn started<'eal>(port: &mut Port<'eal>, pool: &Mempool<'eal>) {
    port.configure(&PortConfig::new(1, 1)).unwrap();
    port.setup_rx_queue(0, 512, None, pool).unwrap();
    port.setup_tx_queue(0, 512, None).unwrap();
    port.start().unwrap();
}

/// A frame of `len` bytes whose bytes tell `seq` and their own offset.
fn fill(m: &mut Mbuf<'_>, len: usize, seq: u32) {
    let data = m.append(len).unwrap();
    for (i, b) in data.iter_mut().enumerate() {
        *b = (seq as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
}

fn check_frame(m: &Mbuf<'_>, len: usize, seq: u32) {
    assert_eq!(m.pkt_len(), len);
    for (i, b) in m.data().iter().enumerate() {
        assert_eq!(
            *b,
            (seq as usize).wrapping_mul(31).wrapping_add(i) as u8,
            "seq {seq} byte {i}"
        );
    }
}

#[test]
fn mempool_and_mbuf_errors() {
    in_child!("mempool_and_mbuf_errors", {
        let eal = base_builder().no_pci().init().unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("errs", 63)).unwrap();
        assert_eq!(
            (pool.capacity(), pool.available(), pool.in_use()),
            (63, 63, 0)
        );
        assert_eq!(pool.name(), "errs");
        // Name in use, bad names, bad sizes, too little memory.
        assert_eq!(
            Mempool::new(&eal, &MempoolConfig::new("errs", 63)).unwrap_err(),
            MempoolError::NameInUse("errs".into())
        );
        for bad in ["", "a\0b", &"x".repeat(40)] {
            assert!(matches!(
                Mempool::new(&eal, &MempoolConfig::new(bad, 63)),
                Err(MempoolError::BadName(_))
            ));
        }
        assert_eq!(
            Mempool::new(&eal, &MempoolConfig::new("zero", 0)).unwrap_err(),
            MempoolError::NoElements
        );
        let mut c = MempoolConfig::new("cache", 63);
        c.cache = 60;
        assert!(matches!(
            Mempool::new(&eal, &c),
            Err(MempoolError::CacheTooLarge { .. })
        ));
        c.cache = 0;
        c.data_room = 70_000;
        assert!(matches!(
            Mempool::new(&eal, &c),
            Err(MempoolError::BadDataRoom { .. })
        ));
        c.data_room = 64;
        assert!(matches!(
            Mempool::new(&eal, &c),
            Err(MempoolError::BadDataRoom { .. })
        ));
        let mut huge = MempoolConfig::new("huge", 1 << 20);
        huge.cache = 0;
        let err = Mempool::new(&eal, &huge).unwrap_err();
        assert!(matches!(err, MempoolError::NoMemory { .. }), "{err}");

        // One mbuf: headroom and tailroom, append/prepend/trim/adj.
        let mut m = pool.alloc().unwrap();
        assert_eq!(pool.in_use(), 1);
        assert_eq!((m.pkt_len(), m.headroom()), (0, 128));
        let room = m.tailroom();
        assert_eq!(room, 2048);
        assert_eq!(
            m.append(room + 1).unwrap_err(),
            MbufError::NoRoom {
                wanted: room + 1,
                room,
                which: "tailroom"
            }
        );
        m.append(10).unwrap().copy_from_slice(b"0123456789");
        m.prepend(2).unwrap().copy_from_slice(b"ab");
        assert_eq!(m.data(), b"ab0123456789");
        assert!(matches!(
            m.prepend(127),
            Err(MbufError::NoRoom {
                which: "headroom",
                ..
            })
        ));
        m.trim(3).unwrap();
        assert_eq!(m.data(), b"ab0123456");
        assert_eq!(
            m.trim(10).unwrap_err(),
            MbufError::TooShort { wanted: 10, len: 9 }
        );
        assert_eq!(m.adj(2).unwrap(), b"0123456");
        assert_eq!(
            m.adj(8).unwrap_err(),
            MbufError::TooShort { wanted: 8, len: 7 }
        );
        m.data_mut().unwrap()[0] = b'X';
        assert_eq!(m.data(), b"X123456");
        assert_eq!(m.rss_hash(), None);
        assert_eq!(m.segments(), 1);

        // A chain of three segments reads as one packet.
        let mut b = pool.alloc().unwrap();
        b.append(3).unwrap().copy_from_slice(b"abc");
        let mut c3 = pool.alloc().unwrap();
        c3.append(2).unwrap().copy_from_slice(b"de");
        m.chain(b).unwrap();
        m.chain(c3).unwrap();
        assert_eq!((m.segments(), m.pkt_len(), m.data_len()), (3, 12, 7));
        assert_eq!(m.to_vec(), b"X123456abcde");
        let segs: Vec<&[u8]> = m.segment_data().collect();
        assert_eq!(segs, [&b"X123456"[..], b"abc", b"de"]);
        assert_eq!(m.tailroom(), 2046);
        assert_eq!(pool.in_use(), 3);
        drop(m);
        assert_eq!(pool.in_use(), 0, "the whole chain went back");

        // Raw round trip.
        let raw = pool.alloc().unwrap().into_raw();
        assert_eq!(pool.in_use(), 1);
        // SAFETY: raw came from into_raw just above and nothing else owns it.
        drop(unsafe { Mbuf::from_raw(raw) });
        assert_eq!(pool.in_use(), 0);

        // Exhaustion, single and bulk, then everything back.
        let mut burst = Burst::new(64).unwrap();
        pool.alloc_bulk(&mut burst, 60).unwrap();
        assert_eq!(
            pool.alloc_bulk(&mut burst, 4).unwrap_err(),
            MbufError::Exhausted
        );
        assert_eq!(burst.len(), 60);
        let mut held = Vec::new();
        loop {
            match pool.alloc() {
                Ok(m) => held.push(m),
                Err(e) => {
                    assert_eq!(e, MbufError::Exhausted);
                    break;
                }
            }
        }
        assert_eq!(held.len(), 3);
        assert_eq!(pool.available(), 0);
        assert!(matches!(
            pool.alloc_bulk(&mut burst, 5),
            Err(MbufError::BurstFull { capacity: 64 })
        ));
        assert!(matches!(
            Burst::new(0),
            Err(MbufError::BurstTooLarge { .. })
        ));
        assert!(matches!(
            Burst::new(70_000),
            Err(MbufError::BurstTooLarge { .. })
        ));
        let back = burst.pop().unwrap();
        assert!(burst.push(back).is_ok());
        drop(held);
        burst.clear();
        assert_eq!(pool.available(), 63);
        println!("mempool and mbuf errors: all typed");
    });
}

#[test]
fn port_misuse_is_a_typed_error() {
    in_child!("port_misuse_is_a_typed_error", {
        let eal = base_builder()
            .no_pci()
            .vdev("net_null0")
            .vdev("net_ring0")
            .init()
            .unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("misuse", 511)).unwrap();
        assert!(matches!(Port::take(&eal, 9), Err(PortError::NoSuchPort(9))));
        let mut port = Port::by_name(&eal, "net_null0").unwrap();
        assert_eq!(
            Port::take(&eal, port.id()).unwrap_err(),
            PortError::AlreadyTaken(port.id())
        );
        assert!(matches!(
            Port::by_name(&eal, "net_nothing"),
            Err(PortError::NoSuchName(_))
        ));
        // Queues and start before configure.
        assert!(matches!(
            port.setup_tx_queue(0, 0, None),
            Err(PortError::NotConfigured { .. })
        ));
        assert!(matches!(port.start(), Err(PortError::NotConfigured { .. })));
        let info = port.info().unwrap();
        // More queues than the driver offers, offloads and RSS it does not offer.
        let too_many = PortConfig::new(info.max_rx_queues + 1, 1);
        assert!(matches!(
            port.configure(&too_many),
            Err(PortError::TooManyQueues { kind: "RX", .. })
        ));
        let mut lro = PortConfig::new(1, 1);
        lro.rx_offloads = rx_offload::TCP_LRO;
        assert_eq!(info.rx_offload_capa & rx_offload::TCP_LRO, 0);
        let err = port.configure(&lro).unwrap_err();
        assert!(
            matches!(&err, PortError::OffloadUnsupported { name, .. } if name == "TCP_LRO"),
            "{err}"
        );
        // Two RX queues, start with one not set up.
        port.configure(&PortConfig::new(2, 1)).unwrap();
        assert!(matches!(
            port.setup_rx_queue(2, 0, None, &pool),
            Err(PortError::QueueOutOfRange {
                kind: "RX",
                queue: 2,
                count: 2,
                ..
            })
        ));
        assert!(matches!(
            port.setup_tx_queue(1, 0, None),
            Err(PortError::QueueOutOfRange { kind: "TX", .. })
        ));
        port.setup_rx_queue(0, 0, None, &pool).unwrap();
        port.setup_tx_queue(0, 0, None).unwrap();
        assert!(matches!(
            port.start(),
            Err(PortError::QueueNotSetUp {
                kind: "RX",
                queue: 1,
                ..
            })
        ));
        // Queues cannot be taken on a stopped port: no burst reaches one.
        assert!(matches!(
            port.rx_queue(0),
            Err(PortError::NotStarted { .. })
        ));
        port.setup_rx_queue(1, 0, None, &pool).unwrap();
        port.start().unwrap();
        assert!(port.is_started());
        assert!(matches!(
            port.configure(&PortConfig::new(1, 1)),
            Err(PortError::Started { .. })
        ));
        assert!(matches!(
            port.setup_tx_queue(0, 0, None),
            Err(PortError::Started { .. })
        ));
        {
            let q = port.rx_queue(1).unwrap();
            assert!(matches!(
                port.rx_queue(1),
                Err(PortError::QueueTaken {
                    kind: "RX",
                    queue: 1,
                    ..
                })
            ));
            assert!(matches!(
                port.rx_queue(5),
                Err(PortError::QueueOutOfRange { .. })
            ));
            assert!(matches!(
                port.tx_queue(1),
                Err(PortError::QueueOutOfRange { kind: "TX", .. })
            ));
            drop(q);
            let _again = port.rx_queue(1).unwrap();
        }
        // Promiscuous mode, MTU, MAC, link, stats.
        // net_null has no promiscuous mode: DPDK's refusal comes back typed.
        match port.set_promiscuous(true) {
            Ok(()) => assert!(port.promiscuous().unwrap()),
            Err(e) => assert!(
                matches!(e, PortError::Failed { ref errno, .. } if errno.code() == 95),
                "{e}"
            ),
        }
        let link = port.wait_link_up(Duration::from_secs(2)).unwrap();
        assert!(link.up);
        let mac = [0x02, 0, 0, 0, 0, 0x42];
        port.set_mac(mac).unwrap();
        assert_eq!(port.mac().unwrap(), mac);
        {
            let mut rx = port.rx_queue(0).unwrap();
            let mut burst = Burst::new(32).unwrap();
            assert_eq!(rx.rx_burst(&mut burst), 32);
            assert!(burst
                .as_slice()
                .iter()
                .all(|m| m.pkt_len() == 64 && m.port() == port.id()));
        }
        let stats = port.stats().unwrap();
        assert_eq!(stats.rx_packets, 32);
        let xstats = port.xstats().unwrap();
        assert!(
            xstats.iter().any(|(n, _)| n == "rx_good_packets"),
            "{xstats:?}"
        );
        assert_eq!(port.xstat("rx_good_packets").unwrap(), 32);
        assert!(matches!(
            port.xstat("no_such_counter"),
            Err(PortError::NoSuchXstat { .. })
        ));
        port.reset_stats().unwrap();
        assert_eq!(port.stats().unwrap().rx_packets, 0);
        port.stop().unwrap();
        assert!(matches!(
            port.tx_queue(0),
            Err(PortError::NotStarted { .. })
        ));
        port.close().unwrap();
        assert_eq!(
            pool.in_use(),
            0,
            "{} mbufs were not returned",
            pool.in_use()
        );

        // MTU on net_ring, which implements it, and ports from vdev arguments.
        let mut ring = Port::by_name(&eal, "net_ring0").unwrap();
        let ring_info = ring.info().unwrap();
        let mut with_rss = PortConfig::new(1, 1);
        with_rss.rss = Some(rss::IP);
        if ring_info.rss_offloads & rss::IP != rss::IP {
            assert!(matches!(
                ring.configure(&with_rss),
                Err(PortError::RssUnsupported { .. })
            ));
        }
        let (min, max) = ring_info.mtu;
        if min > 0 {
            assert!(matches!(
                ring.set_mtu(min - 1),
                Err(PortError::BadMtu { .. })
            ));
        }
        if max < u16::MAX {
            assert!(matches!(
                ring.set_mtu(max + 1),
                Err(PortError::BadMtu { .. })
            ));
        }
        println!("net_ring: {ring_info:?}");
        ring.set_promiscuous(true).unwrap();
        assert!(ring.promiscuous().unwrap());
        ring.set_promiscuous(false).unwrap();
        assert!(!ring.promiscuous().unwrap());
        assert_eq!(ring_info.reta_size, 0, "net_ring keeps no RSS table");
        let err = ring.rss_reta().unwrap_err();
        assert!(matches!(err, PortError::NoReta { .. }), "{err}");
        ring.set_allmulticast(true).unwrap();
        assert!(ring.allmulticast().unwrap());
        ring.set_allmulticast(false).unwrap();
        assert!(!ring.allmulticast().unwrap());
        // net_ring's link follows the administrative state.
        ring.set_link(false).unwrap();
        assert!(!ring.link().unwrap().up, "set down");
        assert!(matches!(
            ring.wait_link_up(Duration::from_millis(30)),
            Err(PortError::LinkDown { .. })
        ));
        ring.set_link(true).unwrap();
        assert!(ring.wait_link_up(Duration::from_secs(1)).unwrap().up);
        let mut extra = Port::attach_vdev(&eal, "net_null7,size=100").unwrap();
        assert_ne!(extra.id(), ring.id());
        started(&mut extra, &pool);
        let mut rx = extra.rx_queue(0).unwrap();
        let mut burst = Burst::new(4).unwrap();
        assert_eq!(rx.rx_burst(&mut burst), 4);
        assert_eq!(burst.as_slice()[0].pkt_len(), 100);
        println!("port misuse: every case a typed error");
    });
}

/// The RSS redirection table on net_null, which keeps one: written, read back
/// and refused for a wrong size or a queue the port lacks (net_ring, which
/// keeps none, in `port_misuse_is_a_typed_error`).
#[test]
fn rss_redirection_table() {
    in_child!("rss_redirection_table", {
        let eal = base_builder().no_pci().vdev("net_null0").init().unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("reta", 2047)).unwrap();
        let mut null = Port::by_name(&eal, "net_null0").unwrap();
        let info = null.info().unwrap();
        assert!(info.reta_size > 0 && info.reta_size % 64 == 0, "{info:?}");
        let mut config = PortConfig::new(4, 1);
        config.rss = Some(info.rss_offloads & rss::IP);
        null.configure(&config).unwrap();
        for q in 0..4 {
            null.setup_rx_queue(q, 128, None, &pool).unwrap();
        }
        null.setup_tx_queue(0, 128, None).unwrap();
        null.start().unwrap();

        let size = info.reta_size as usize;
        let table: Vec<u16> = (0..size).map(|i| ((i * 7) % 4) as u16).collect();
        null.set_rss_reta(&table).unwrap();
        assert_eq!(null.rss_reta().unwrap(), table);
        let reversed: Vec<u16> = table.iter().rev().copied().collect();
        null.set_rss_reta(&reversed).unwrap();
        assert_eq!(null.rss_reta().unwrap(), reversed);

        let err = null.set_rss_reta(&table[..size - 1]).unwrap_err();
        assert!(
            matches!(err, PortError::RetaSize { len, size: s, .. } if len == size - 1 && s as usize == size),
            "{err}"
        );
        let mut bad = table.clone();
        bad[size / 2] = 4;
        let err = null.set_rss_reta(&bad).unwrap_err();
        assert!(
            matches!(
                err,
                PortError::QueueOutOfRange {
                    queue: 4,
                    count: 4,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            null.rss_reta().unwrap(),
            reversed,
            "a refused table changes nothing"
        );

        println!("rss: a {size}-entry table written and read back on net_null");
    });
}

#[test]
fn ring_bursts_of_1_to_64() {
    in_child!("ring_bursts_of_1_to_64", {
        let eal = base_builder().no_pci().vdev("net_ring0").init().unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("bursts", 4095)).unwrap();
        let before = pool.available();
        let mut port = Port::by_name(&eal, "net_ring0").unwrap();
        started(&mut port, &pool);
        let mut rx = port.rx_queue(0).unwrap();
        let mut tx = port.tx_queue(0).unwrap();
        let mut out = Burst::new(64).unwrap();
        let mut back = Burst::new(64).unwrap();
        let mut seq = 0u32;
        for n in 1..=64usize {
            let first = seq;
            for _ in 0..n {
                let mut m = pool.alloc().unwrap();
                fill(&mut m, 60 + n, seq);
                out.push(m).unwrap();
                seq += 1;
            }
            assert_eq!(tx.tx_burst(&mut out), n);
            assert!(out.is_empty());
            assert_eq!(rx.rx_burst(&mut back), n, "burst of {n}");
            for (i, m) in back.as_slice().iter().enumerate() {
                check_frame(m, 60 + n, first + i as u32);
            }
            back.clear();
        }
        // A full ring: what the driver does not take stays in the burst.
        let mut sent = 0;
        let mut unsent_seen = false;
        for _ in 0..60 {
            let room = out.spare();
            pool.alloc_bulk(&mut out, room).unwrap();
            sent += tx.tx_burst(&mut out);
            if !out.is_empty() {
                unsent_seen = true;
                break;
            }
        }
        assert!(unsent_seen, "the ring never filled");
        let kept = out.len();
        assert_eq!(pool.in_use() as usize, sent + kept);
        drop(out);
        let mut drained = 0;
        loop {
            let got = rx.rx_burst(&mut back);
            if got == 0 {
                break;
            }
            drained += got;
            back.clear();
        }
        assert_eq!(drained, sent);
        drop((rx, tx));
        let stats = port.stats().unwrap();
        println!("ring: {seq} frames in bursts 1..64 checked; full ring took {sent}, kept {kept}; stats {stats:?}");
        assert_eq!(pool.available(), before, "pool count before = after");
    });
}

#[test]
fn million_packets_accounted_and_no_allocation() {
    in_child!("million_packets_accounted_and_no_allocation", {
        let eal = base_builder()
            .no_pci()
            .vdev("net_ring0")
            .vdev("net_null0")
            .init()
            .unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("million", 4095)).unwrap();
        let before = pool.available();
        let mut ring = Port::by_name(&eal, "net_ring0").unwrap();
        let mut null = Port::by_name(&eal, "net_null0").unwrap();
        started(&mut ring, &pool);
        started(&mut null, &pool);
        const TOTAL: u64 = 1_000_000;
        let (mut ring_rx, mut ring_tx) = (ring.rx_queue(0).unwrap(), ring.tx_queue(0).unwrap());
        let (mut null_rx, mut null_tx) = (null.rx_queue(0).unwrap(), null.tx_queue(0).unwrap());
        let mut burst = Burst::new(32).unwrap();
        let (mut made, mut looped, mut dropped) = (0u64, 0u64, 0u64);
        COUNTING.with(|c| c.set(true));
        // net_null makes packets; they go round the ring and are dropped into null TX.
        while looped < TOTAL {
            made += null_rx.rx_burst(&mut burst) as u64;
            ring_tx.tx_burst(&mut burst);
            burst.clear();
            let got = ring_rx.rx_burst(&mut burst) as u64;
            looped += got;
            for m in burst.as_mut_slice() {
                let d = m.data_mut().unwrap();
                d.swap(0, 6);
            }
            dropped += null_tx.tx_burst(&mut burst) as u64;
            burst.clear();
        }
        COUNTING.with(|c| c.set(false));
        let allocs = ALLOCS.with(Cell::get);
        drop((ring_rx, ring_tx, null_rx, null_tx));
        println!("million: null made {made}, ring looped {looped}, null TX took {dropped}, {allocs} allocations");
        assert_eq!(allocs, 0, "the fast path allocated");
        assert_eq!(looped, dropped);
        assert!(made >= looped);
        assert_eq!(
            ring.stats().unwrap().tx_packets,
            made - (made - ring.stats().unwrap().tx_packets)
        );
        ring.stop().unwrap();
        null.stop().unwrap();
        assert_eq!(pool.available(), before, "pool count before = after");
    });
}

#[test]
fn workers_on_lcores() {
    in_child!("workers_on_lcores", {
        let eal = dpdk_safe::EalBuilder::new()
            .program_name("dpdk-rs-test")
            .lcores([0, 1])
            .no_huge(64 << 20)
            .no_shconf()
            .log_level(dpdk_safe::LogLevel::Warning)
            .no_pci()
            .vdev("net_ring0")
            .init()
            .unwrap();
        assert_eq!(eal.worker_lcores(), [1]);
        let pool = Mempool::new(&eal, &MempoolConfig::new("workers", 1023)).unwrap();
        let mut port = Port::by_name(&eal, "net_ring0").unwrap();
        started(&mut port, &pool);
        let stop = StopFlag::new();
        let counted = lcore_scope(&eal, |s| {
            assert_eq!(s.launch(0, || 1).unwrap_err(), LaunchError::NotAWorker(0));
            assert_eq!(s.launch(7, || 1).unwrap_err(), LaunchError::NotAWorker(7));
            // A panic is caught and handed back by join.
            let boom = s.launch(1, || -> u32 { panic!("boom on lcore") }).unwrap();
            let err = boom.join().unwrap_err();
            assert_eq!(err.downcast_ref::<&str>(), Some(&"boom on lcore"));
            // The worker receives what the main lcore sends, until stopped.
            let mut rx = port.rx_queue(0).unwrap();
            let stop_w = stop.clone();
            let pool_w = &pool;
            let worker = s
                .launch(1, move || {
                    assert_eq!(current_lcore(), Some(1));
                    let mut burst = Burst::new(32).unwrap();
                    let mut n = 0u64;
                    while !stop_w.is_stopped() || pool_w.in_use() > 0 {
                        n += rx.rx_burst(&mut burst) as u64;
                        burst.clear();
                    }
                    n
                })
                .unwrap();
            assert_eq!(s.launch(1, || 0).unwrap_err(), LaunchError::Busy(1));
            let mut tx = port.tx_queue(0).unwrap();
            let mut out = Burst::new(32).unwrap();
            let mut sent = 0u64;
            while sent < 100_000 {
                let room = out.spare();
                if pool.alloc_bulk(&mut out, room).is_err() {
                    continue;
                }
                sent += tx.tx_burst(&mut out) as u64;
            }
            drop(out);
            stop.stop();
            let got = worker.join().unwrap();
            assert_eq!(got, sent);
            got
        });
        println!("worker lcore 1 received {counted} frames sent from the main lcore");
        assert_eq!(pool.in_use(), 0);
    });
}

/// DPDK's per-queue callbacks, which C code (pdump, latency statistics, an
/// application's own) installs on a port; the RX and TX bursts must run them
/// whichever way they reach the driver (in Rust over `rte_eth_fp_ops`, or
/// through the shim). Declared here: the crate does not wrap them.
mod callbacks {
    use std::ffi::c_void;

    pub type RxCallback =
        unsafe extern "C" fn(u16, u16, *mut *mut c_void, u16, u16, *mut c_void) -> u16;
    pub type TxCallback = unsafe extern "C" fn(u16, u16, *mut *mut c_void, u16, *mut c_void) -> u16;

    extern "C" {
        pub fn rte_eth_add_rx_callback(
            port: u16,
            queue: u16,
            f: RxCallback,
            param: *mut c_void,
        ) -> *const c_void;
        pub fn rte_eth_add_tx_callback(
            port: u16,
            queue: u16,
            f: TxCallback,
            param: *mut c_void,
        ) -> *const c_void;
    }

    /// Counts what the driver received (the counter is `param`).
    pub unsafe extern "C" fn count_rx(
        _port: u16,
        _queue: u16,
        _pkts: *mut *mut c_void,
        n: u16,
        _max: u16,
        param: *mut c_void,
    ) -> u16 {
        // SAFETY: param is the test's AtomicUsize, which outlives the port.
        let seen = unsafe { &*param.cast::<std::sync::atomic::AtomicUsize>() };
        seen.fetch_add(n as usize, std::sync::atomic::Ordering::Relaxed);
        n
    }

    /// Counts what is offered and holds the last packet of each burst back
    /// (the caller keeps it: TX returns fewer than it was given).
    pub unsafe extern "C" fn hold_last_tx(
        _port: u16,
        _queue: u16,
        _pkts: *mut *mut c_void,
        n: u16,
        param: *mut c_void,
    ) -> u16 {
        // SAFETY: as in count_rx.
        let seen = unsafe { &*param.cast::<std::sync::atomic::AtomicUsize>() };
        seen.fetch_add(n as usize, std::sync::atomic::Ordering::Relaxed);
        n.saturating_sub(1)
    }
}

#[test]
fn queue_callbacks_run_and_mbufs_cross_threads() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    in_child!("queue_callbacks_run_and_mbufs_cross_threads", {
        let eal = base_builder().no_pci().vdev("net_ring0").init().unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("callbacks", 4095)).unwrap();
        let before = pool.available();
        let mut port = Port::by_name(&eal, "net_ring0").unwrap();
        started(&mut port, &pool);
        let (rx_seen, tx_seen) = (AtomicUsize::new(0), AtomicUsize::new(0));
        // SAFETY: a started port and its queue 0; the counters live until the
        // process ends (the callbacks are never removed).
        unsafe {
            let param = std::ptr::from_ref(&rx_seen).cast_mut().cast();
            assert!(
                !callbacks::rte_eth_add_rx_callback(port.id(), 0, callbacks::count_rx, param)
                    .is_null()
            );
            let param = std::ptr::from_ref(&tx_seen).cast_mut().cast();
            assert!(!callbacks::rte_eth_add_tx_callback(
                port.id(),
                0,
                callbacks::hold_last_tx,
                param
            )
            .is_null());
        }
        let mut rx = port.rx_queue(0).unwrap();
        let mut tx = port.tx_queue(0).unwrap();
        let mut out = Burst::new(32).unwrap();
        let mut back = Burst::new(32).unwrap();
        for seq in 0..5 {
            let mut m = pool.alloc().unwrap();
            fill(&mut m, 64, seq);
            out.push(m).unwrap();
        }
        assert_eq!(tx.tx_burst(&mut out), 4, "the TX callback held one back");
        assert_eq!(out.len(), 1, "the held packet stays the caller's");
        check_frame(&out.as_slice()[0], 64, 4);
        assert_eq!(rx.rx_burst(&mut back), 4);
        for (i, m) in back.as_slice().iter().enumerate() {
            check_frame(m, 64, i as u32);
        }
        assert_eq!(
            (
                rx_seen.load(Ordering::Relaxed),
                tx_seen.load(Ordering::Relaxed)
            ),
            (4, 5)
        );
        back.clear();
        out.clear();

        // Mbufs taken on a thread that is not an lcore (no mempool cache)
        // and freed on this lcore (into its cache), and the other way round.
        let foreign: Vec<Mbuf<'_>> = std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(current_lcore(), None);
                (0..300).map(|_| pool.alloc().unwrap()).collect()
            })
            .join()
            .unwrap()
        });
        assert_eq!(pool.in_use(), 300);
        drop(foreign);
        let local: Vec<Mbuf<'_>> = (0..300).map(|_| pool.alloc().unwrap()).collect();
        std::thread::scope(|s| {
            s.spawn(move || drop(local));
        });
        assert_eq!(pool.in_use(), 0);
        drop((rx, tx));
        assert_eq!(pool.available(), before, "pool count before = after");
        println!(
            "callbacks: RX saw 4, TX was offered 5 and held 1 back; 600 mbufs crossed threads"
        );
    });
}

/// A started port whose table entry has no burst function (a driver that
/// never set one: DPDK's inline burst would call null) gives no queue handle.
/// The entry is cleared by hand, as such a driver would leave it, and put back.
#[cfg(dpdk_eth_fast_path)]
#[test]
fn a_driver_without_a_burst_function_gives_no_queue() {
    in_child!("a_driver_without_a_burst_function_gives_no_queue", {
        let eal = base_builder().no_pci().vdev("net_null0").init().unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("noburst", 1023)).unwrap();
        let mut port = Port::by_name(&eal, "net_null0").unwrap();
        started(&mut port, &pool);
        let id = port.id();
        // SAFETY: the entry of a valid port, written by this thread only, with
        // no queue handle taken; both functions are put back below.
        let entry = unsafe {
            std::ptr::addr_of_mut!(dpdk_sys::eth_fast_path::rte_eth_fp_ops)
                .cast::<dpdk_sys::eth_fast_path::rte_eth_fp_ops>()
                .add(id as usize)
        };
        // SAFETY: as above.
        let (rx, tx) = unsafe { ((*entry).rx_pkt_burst, (*entry).tx_pkt_burst) };
        assert!(rx.is_some() && tx.is_some(), "net_null sets both");
        // SAFETY: as above.
        unsafe { (*entry).rx_pkt_burst = None };
        match port.rx_queue(0) {
            Err(e @ PortError::NoBurstFunction { kind: "RX", .. }) => {
                assert_eq!(
                    e.to_string(),
                    format!("port {id}: the driver has no RX burst function")
                )
            }
            other => panic!("expected NoBurstFunction for RX, got {other:?}"),
        }
        // SAFETY: as above.
        unsafe { ((*entry).rx_pkt_burst, (*entry).tx_pkt_burst) = (rx, None) };
        assert!(port.rx_queue(0).is_ok(), "RX is back");
        assert!(matches!(
            port.tx_queue(0),
            Err(PortError::NoBurstFunction { kind: "TX", .. })
        ));
        // SAFETY: as above.
        unsafe { (*entry).tx_pkt_burst = tx };
        let mut txq = port.tx_queue(0).unwrap();
        let mut burst = Burst::new(4).unwrap();
        burst.push(pool.alloc().unwrap()).unwrap();
        assert_eq!(
            txq.tx_burst(&mut burst),
            1,
            "net_null takes what it is given"
        );
    });
}

/// Bulk allocations of every count from 1 to 9 (the four-at-a-time part and
/// the rest) out of a warm per-lcore cache hand out distinct mbufs, each reset
/// as a fresh one, although each went back dirty.
#[test]
fn bulk_allocation_resets_every_mbuf() {
    in_child!("bulk_allocation_resets_every_mbuf", {
        let eal = base_builder().no_pci().init().unwrap();
        let pool = Mempool::new(&eal, &MempoolConfig::new("bulkreset", 1023)).unwrap();
        let headroom = Mbuf::headroom(&pool.alloc().unwrap());
        let mut burst = Burst::new(64).unwrap();
        for count in 1..=9 {
            // Dirty mbufs into this lcore's cache: data appended and trimmed
            // from the front, so every length and the data offset moved.
            pool.alloc_bulk(&mut burst, 16).unwrap();
            for m in burst.as_mut_slice() {
                m.append(200).unwrap().fill(0xa5);
                m.adj(10).unwrap();
            }
            burst.clear();
            pool.alloc_bulk(&mut burst, count).unwrap();
            assert_eq!(burst.len(), count);
            let mut seen: Vec<usize> = burst
                .as_slice()
                .iter()
                .map(|m| m.as_ptr() as usize)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), count, "count {count}: an mbuf handed out twice");
            for (i, m) in burst.as_slice().iter().enumerate() {
                assert_eq!(
                    (m.pkt_len(), m.data_len(), m.segments(), m.headroom()),
                    (0, 0, 1, headroom),
                    "count {count}, mbuf {i}"
                );
                assert_eq!(
                    m.port(),
                    u16::MAX,
                    "count {count}, mbuf {i}: RTE_MBUF_PORT_INVALID"
                );
                assert_eq!(m.packet_type().0, 0, "count {count}, mbuf {i}");
            }
            burst.clear();
        }
        assert_eq!(pool.in_use(), 0);
        println!("bulk allocation: counts 1..=9, every mbuf reset");
    });
}
