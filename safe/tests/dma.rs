//! DMA memory from a live EAL: buffers know their IOVA, size and alignment,
//! refuse bad sizes and out-of-range accesses with typed errors, and go back
//! to DPDK on drop; application memory registers and unregisters.

mod common;

use common::{base_builder, child_passes, is_child};
use dpdk_safe::{iova_of, DmaBuffer, DmaError, ExternalMemory};

macro_rules! in_child {
    ($name:literal, $body:block) => {
        if is_child($name) {
            $body
        } else {
            child_passes($name, &[]);
        }
    };
}

fn free_heap() -> usize {
    let mut stats = dpdk_sys::rte_malloc_socket_stats::default();
    // SAFETY: fills the live local `stats`.
    let ret = unsafe { dpdk_sys::rte_malloc_get_socket_stats(0, &mut stats) };
    assert_eq!(ret, 0);
    stats.heap_freesz_bytes
}

#[test]
fn memzone_buffers_know_their_iova_and_go_back_on_drop() {
    in_child!("memzone_buffers_know_their_iova_and_go_back_on_drop", {
        let eal = base_builder().no_pci().init().expect("init");
        let before = free_heap();
        let buf = DmaBuffer::new(&eal, 8192, 4096).expect("buffer");
        assert!(free_heap() <= before - 8192, "the memzone took heap memory");
        assert_eq!(buf.len(), 8192);
        assert_eq!(buf.align(), 4096);
        assert_eq!(buf.as_ptr() as usize % 4096, 0);
        assert_eq!(buf.iova() % 4096, 0);
        assert_eq!(iova_of(buf.as_ptr()).unwrap(), buf.iova());
        // SAFETY: in bounds of the buffer; only the address is computed.
        let end = unsafe { buf.as_ptr().add(8191) };
        assert_eq!(iova_of(end).unwrap(), buf.iova() + 8191);
        assert_eq!(buf.iova_at(100).unwrap(), buf.iova() + 100);
        assert!(buf.to_vec().iter().all(|&b| b == 0), "zeroed");

        buf.write::<u32>(4, 0xdead_beef).unwrap();
        buf.write::<u64>(8, 0x0102_0304_0506_0708).unwrap();
        buf.write::<u16>(2, 0xa55a).unwrap();
        assert_eq!(buf.read::<u32>(4).unwrap(), 0xdead_beef);
        assert_eq!(buf.read::<u8>(8).unwrap(), 0x08, "little-endian");
        assert_eq!(buf.read::<u16>(2).unwrap(), 0xa55a);
        let atomic = buf.atomic_u32(4).unwrap();
        assert_eq!(
            atomic.fetch_add(1, std::sync::atomic::Ordering::AcqRel),
            0xdead_beef
        );
        assert_eq!(buf.read::<u32>(4).unwrap(), 0xdead_bef0);
        let pattern: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        buf.copy_from_slice(4096, &pattern).unwrap();
        let mut back = vec![0; 4096];
        buf.copy_to_slice(4096, &mut back).unwrap();
        assert_eq!(back, pattern);

        // Bad accesses.
        assert!(matches!(
            buf.read::<u32>(8190),
            Err(DmaError::OutOfBounds {
                offset: 8190,
                width: 4,
                size: 8192
            })
        ));
        assert!(matches!(
            buf.read::<u32>(2),
            Err(DmaError::Unaligned {
                offset: 2,
                width: 4
            })
        ));
        assert!(matches!(buf.atomic_u64(4), Err(DmaError::Unaligned { .. })));
        assert!(matches!(
            buf.iova_at(8192),
            Err(DmaError::OutOfBounds { .. })
        ));
        assert!(matches!(
            buf.copy_from_slice(8000, &pattern),
            Err(DmaError::OutOfBounds { .. })
        ));
        assert!(matches!(
            buf.write::<u64>(usize::MAX - 3, 1),
            Err(DmaError::OutOfBounds { .. })
        ));

        let taken = free_heap();
        let addr = buf.as_ptr();
        drop(buf);
        assert!(free_heap() >= taken + 8192, "freed on drop");
        let _ = addr;
        eal.cleanup().unwrap();
    });
}

#[test]
fn bad_sizes_and_unknown_memory_are_typed_errors() {
    in_child!("bad_sizes_and_unknown_memory_are_typed_errors", {
        let eal = base_builder().no_pci().init().expect("init");
        assert!(matches!(
            DmaBuffer::new(&eal, 0, 64),
            Err(DmaError::ZeroSize)
        ));
        assert!(matches!(
            DmaBuffer::malloc(&eal, 0, 64, None),
            Err(DmaError::ZeroSize)
        ));
        assert!(matches!(
            DmaBuffer::new(&eal, usize::MAX, 64),
            Err(DmaError::TooLarge {
                size: usize::MAX,
                ..
            })
        ));
        assert!(matches!(
            DmaBuffer::new(&eal, 64, 3),
            Err(DmaError::BadAlignment(3))
        ));
        assert!(matches!(
            DmaBuffer::new(&eal, 64, 0),
            Err(DmaError::BadAlignment(0))
        ));
        // 64 MiB of memory in all: 256 MiB cannot be had.
        let err = DmaBuffer::new(&eal, 256 << 20, 64).unwrap_err();
        assert!(
            matches!(err, DmaError::NoMemory { size, .. } if size == 256 << 20),
            "{err}"
        );
        let err = DmaBuffer::malloc(&eal, 256 << 20, 64, None).unwrap_err();
        assert!(matches!(err, DmaError::NoMemory { .. }), "{err}");
        // A socket this machine does not have: no memory there.
        let err = DmaBuffer::on_socket(&eal, 4096, 64, Some(100)).unwrap_err();
        assert!(
            matches!(&err, DmaError::NoMemory { socket: 100, errno, .. } if errno.code() == libc::ENOMEM),
            "{err}"
        );
        // Without hugepages DPDK places memory on socket 0 whatever was asked;
        // the buffer says where it really is.
        let placed = DmaBuffer::on_socket(&eal, 4096, 64, Some(0)).unwrap();
        assert_eq!(placed.socket(), 0);

        // Memory DPDK does not know has no IOVA.
        let local = 5u64;
        let err = iova_of(&local).unwrap_err();
        assert!(
            matches!(err, DmaError::IovaUnknown { addr } if addr == &local as *const u64 as usize),
            "{err}"
        );
        let heap = vec![0u8; 4096];
        assert!(matches!(
            iova_of(heap.as_ptr()),
            Err(DmaError::IovaUnknown { .. })
        ));

        // rte_malloc memory: contiguous in this IOVA-as-VA EAL, freed on drop.
        let before = free_heap();
        let buf = DmaBuffer::malloc(&eal, 20000, 128, None).expect("malloc");
        assert_eq!(buf.as_ptr() as usize % 128, 0);
        assert_eq!(iova_of(buf.as_ptr()).unwrap(), buf.iova());
        assert!(buf.to_vec().iter().all(|&b| b == 0));
        assert!(free_heap() < before);
        drop(buf);
        assert_eq!(free_heap(), before);

        // Many buffers, each with its own memzone, all given back.
        let many: Vec<_> = (0..100)
            .map(|_| DmaBuffer::new(&eal, 64, 64).unwrap())
            .collect();
        let iovas: std::collections::HashSet<u64> = many.iter().map(|b| b.iova()).collect();
        assert_eq!(iovas.len(), 100);
        drop(many);
        drop(placed);
        eal.cleanup().unwrap();
    });
}

#[test]
fn external_memory_registers_and_unregisters() {
    in_child!("external_memory_registers_and_unregisters", {
        let eal = base_builder().no_pci().init().expect("init");
        assert!(matches!(
            ExternalMemory::new(&eal, 0),
            Err(DmaError::ZeroSize)
        ));
        assert!(matches!(
            ExternalMemory::new(&eal, 4097),
            Err(DmaError::NotPageAligned { len: 4097, .. })
        ));
        let memory = ExternalMemory::new(&eal, 16 << 10).expect("register");
        assert_eq!(memory.len(), 16 << 10);
        // DPDK knows it now (IOVA = VA in this IOVA-as-VA EAL).
        assert_eq!(iova_of(memory.as_ptr()).unwrap(), memory.as_ptr() as u64);
        memory.write::<u32>(16, 77).unwrap();
        assert_eq!(memory.read::<u32>(16).unwrap(), 77);
        assert!(matches!(
            memory.read::<u32>(16 << 10),
            Err(DmaError::OutOfBounds { .. })
        ));
        // An IOVA that is not page-aligned; no such device on the (empty) bus.
        let err = memory
            .map_for_at(&eal, "0000:00:1f.0".parse().unwrap(), 123)
            .unwrap_err();
        assert!(
            matches!(err, DmaError::NotPageAligned { addr: 123, .. }),
            "{err}"
        );
        let err = memory
            .map_for(&eal, "0000:00:1f.0".parse().unwrap())
            .unwrap_err();
        assert!(matches!(err, DmaError::NoSuchDevice(_)), "{err}");
        // An IOVA DPDK's own memory has (a DMA buffer's), and one in the
        // range DPDK reserved for later allocations: refused before any device
        // is looked up, as DPDK would take the kernel's EEXIST as done.
        let buffer = DmaBuffer::new(&eal, 4096, 4096).unwrap();
        let taken = buffer.iova() & !4095;
        let err = memory
            .map_for_at(&eal, "0000:00:1f.0".parse().unwrap(), taken)
            .unwrap_err();
        assert!(
            matches!(err, DmaError::IovaInUse { iova, len } if iova == taken && len == 16 << 10),
            "{err}"
        );
        assert!(err.to_string().contains("meets DPDK's own memory"), "{err}");
        let below = taken.saturating_sub(8 << 10);
        assert!(
            matches!(
                memory.map_for_at(&eal, "0000:00:1f.0".parse().unwrap(), below),
                Err(DmaError::IovaInUse { .. })
            ),
            "a range ending inside DPDK's memory"
        );
        drop(buffer);
        let addr = memory.as_ptr();
        drop(memory);
        // Unregistered: unknown again (the address is only compared).
        assert!(matches!(iova_of(addr), Err(DmaError::IovaUnknown { .. })));
        eal.cleanup().unwrap();
    });
}
