//! DMA, interrupts and reset on QEMU's edu (and MSI-X on its e1000e), inside the test VM
//! (`tools/vm-tests.sh` runs these with `--ignored`, as x86_64 and as i686).
//! Register access is mapped on x86_64 and goes through `pread64`/`pwrite64`
//! on i686 (see `edu_bar`). edu (0000:00:03.0) has MSI with one vector, INTx, no MSI-X, a DMA
//! engine (BAR0 0x80 source, 0x88 destination, 0x90 count, 0x98 command) and a
//! 4 KiB buffer at device address 0x40000; tools/vm/run.sh raises its
//! `dma_mask` to 64 bits.

mod common;

use std::time::{Duration, Instant};

use common::{base_builder, in_vm_child};
use dpdk_safe::{
    DmaBuffer, DmaError, Eal, Interrupts, IrqError, IrqKind, RegionIndex, Registers, ResetError,
    VfioDevice,
};

const EDU: &str = "0000:00:03.0";
const FACTORIAL_IRQ: u32 = 0x1;
const DMA_IRQ: u32 = 0x100;
const EDU_BUFFER: u64 = 0x40000;
/// Bytes per transfer: QEMU's edu aborts QEMU on a transfer that reaches the
/// last byte of its buffer (an exclusive end compared as inclusive).
const LEN: usize = 4000;

fn eal() -> Eal {
    base_builder()
        .allow(EDU.parse().unwrap())
        .init()
        .expect("EAL with edu allowlisted")
}

/// Waits for edu's interrupt, checks the status bits and acknowledges them.
fn take_irq(
    bar: &impl Registers,
    irqs: &mut Interrupts<'_>,
    bits: u32,
    start: Instant,
) -> Duration {
    let n = irqs.wait(0, Some(Duration::from_secs(10))).unwrap();
    let latency = start.elapsed();
    assert!(n >= 1, "no interrupt within 10 s");
    let status = bar.read32(0x24).unwrap();
    assert_eq!(status & bits, bits, "interrupt status {status:#x}");
    bar.write32(0x64, status).unwrap();
    assert_eq!(bar.read32(0x24).unwrap(), 0, "acknowledged");
    if irqs.automasked() {
        irqs.unmask(0).unwrap();
    }
    latency
}

fn factorial_with_irq(bar: &impl Registers, irqs: &mut Interrupts<'_>, n: u32) -> (u32, Duration) {
    bar.write32(0x20, 0x80).unwrap();
    let start = Instant::now();
    bar.write32(0x08, n).unwrap();
    let latency = take_irq(bar, irqs, FACTORIAL_IRQ, start);
    bar.write32(0x20, 0).unwrap();
    (bar.read32(0x08).unwrap(), latency)
}

fn dma(
    bar: &impl Registers,
    irqs: &mut Interrupts<'_>,
    src: u64,
    dst: u64,
    len: u64,
    to_ram: bool,
) -> Duration {
    bar.write64(0x80, src).unwrap();
    bar.write64(0x88, dst).unwrap();
    bar.write64(0x90, len).unwrap();
    let start = Instant::now();
    bar.write64(0x98, 0b101 | if to_ram { 0b10 } else { 0 })
        .unwrap();
    let latency = take_irq(bar, irqs, DMA_IRQ, start);
    assert_eq!(bar.read64(0x98).unwrap() & 1, 0, "the transfer finished");
    latency
}

/// edu's BAR0: mapped on 64-bit targets, `pread64`/`pwrite64` on 32-bit ones.
/// The DMA address registers are 64 bits wide, and vfio-pci before Linux 6.10
/// splits an 8-byte `pwrite` into two 4-byte writes, of which edu keeps only
/// the first (it has no register at 0x84): an IOVA above 4 GiB, as DPDK gives
/// a 64-bit process, is then cut to 32 bits. The mapping stores 8 bytes at
/// once; a 32-bit process's IOVAs lie below 4 GiB.
#[cfg(target_pointer_width = "64")]
fn edu_bar<'d>(dev: &'d VfioDevice<'_>) -> dpdk_safe::MappedRegion<'d> {
    dev.map_bar(RegionIndex::BAR0).unwrap()
}

#[cfg(not(target_pointer_width = "64"))]
fn edu_bar<'d>(dev: &'d VfioDevice<'_>) -> dpdk_safe::RegionIo<'d> {
    dev.region(RegionIndex::BAR0).unwrap()
}

fn interrupt_kind(dev: &VfioDevice<'_>) -> IrqKind {
    assert_eq!(
        dev.irq_count(IrqKind::Msi).unwrap(),
        1,
        "edu has one MSI vector"
    );
    assert_eq!(dev.irq_count(IrqKind::Intx).unwrap(), 1, "edu has a pin");
    assert_eq!(dev.irq_count(IrqKind::Msix).unwrap(), 0, "edu has no MSI-X");
    IrqKind::Msi
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn edu_dma_to_the_device_and_back_with_interrupts() {
    in_vm_child("edu_dma_to_the_device_and_back_with_interrupts", || {
        let eal = eal();
        let dev = eal.vfio_open(EDU.parse().unwrap()).unwrap();
        let bar = edu_bar(&dev);
        dev.set_bus_master(true).unwrap();
        let kind = interrupt_kind(&dev);
        let mut irqs = dev.enable_interrupts(kind, 1).unwrap();
        assert_eq!(
            (irqs.kind(), irqs.count(), irqs.available()),
            (IrqKind::Msi, 1, 1)
        );
        assert!(!irqs.automasked(), "MSI is edge-triggered");

        let mut factorial = Vec::new();
        for (n, want) in [(5, 120), (10, 3_628_800), (12, 479_001_600)] {
            let (got, latency) = factorial_with_irq(&bar, &mut irqs, n);
            assert_eq!(got, want, "{n}!");
            factorial.push(latency);
        }

        let out = DmaBuffer::new(&eal, 4096, 4096).unwrap();
        let back = DmaBuffer::new(&eal, 4096, 4096).unwrap();
        let pattern: Vec<u8> = (0..LEN as u32).map(|i| (i * 31 + 7) as u8).collect();
        out.copy_from_slice(0, &pattern).unwrap();
        back.fill(0xee);
        let mut to_device = Vec::new();
        let mut to_ram = Vec::new();
        for round in 0..3u8 {
            let shifted: Vec<u8> = pattern.iter().map(|b| b.wrapping_add(round)).collect();
            out.copy_from_slice(0, &shifted).unwrap();
            to_device.push(dma(
                &bar,
                &mut irqs,
                out.iova(),
                EDU_BUFFER,
                LEN as u64,
                false,
            ));
            to_ram.push(dma(
                &bar,
                &mut irqs,
                EDU_BUFFER,
                back.iova(),
                LEN as u64,
                true,
            ));
            assert!(
                back.to_vec()[..LEN] == shifted[..],
                "round {round}: the bytes came back unchanged"
            );
            // A part of the buffer, at an offset, into the middle of `back`.
            back.fill(0);
            dma(
                &bar,
                &mut irqs,
                EDU_BUFFER + 256,
                back.iova_at(1024).unwrap(),
                512,
                true,
            );
            let got = back.to_vec();
            assert!(
                got[1024..1536] == shifted[256..768],
                "round {round}: partial copy"
            );
            assert!(
                got[..1024].iter().chain(&got[1536..]).all(|&b| b == 0),
                "nothing else written"
            );
        }
        let fmt = |v: &[Duration]| {
            format!(
                "min {:?} max {:?} over {}",
                v.iter().min().unwrap(),
                v.iter().max().unwrap(),
                v.len()
            )
        };
        println!("latency: factorial interrupt {}", fmt(&factorial));
        println!("latency: DMA to device (interrupt) {}", fmt(&to_device));
        println!("latency: DMA to RAM (interrupt) {}", fmt(&to_ram));
        drop(irqs);
        drop(out);
        drop(back);
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn edu_interrupt_bad_input_mask_and_loopback() {
    in_vm_child("edu_interrupt_bad_input_mask_and_loopback", || {
        let eal = eal();
        let dev = eal.vfio_open(EDU.parse().unwrap()).unwrap();
        let bar = edu_bar(&dev);
        dev.set_bus_master(true).unwrap();
        let err = dev.enable_interrupts(IrqKind::Msi, 2).unwrap_err();
        assert!(
            matches!(
                err,
                IrqError::TooManyVectors {
                    asked: 2,
                    available: 1,
                    kind: IrqKind::Msi,
                    ..
                }
            ),
            "{err}"
        );
        let err = dev.enable_interrupts(IrqKind::Msi, 0).unwrap_err();
        assert!(matches!(err, IrqError::ZeroVectors { .. }), "{err}");
        let err = dev.enable_interrupts(IrqKind::Msix, 1).unwrap_err();
        assert!(
            matches!(err, IrqError::Unsupported { count: 0, .. }),
            "{err}"
        );

        let mut irqs = dev.enable_interrupts(IrqKind::Msi, 1).unwrap();
        let err = dev.enable_interrupts(IrqKind::Intx, 1).unwrap_err();
        assert!(matches!(err, IrqError::AlreadyEnabled { .. }), "{err}");
        assert!(matches!(
            irqs.wait(1, None),
            Err(IrqError::NoSuchVector {
                vector: 1,
                enabled: 1,
                ..
            })
        ));
        assert!(matches!(irqs.fd(3), Err(IrqError::NoSuchVector { .. })));
        // Nothing pending, and a short wait times out.
        assert_eq!(irqs.pending(0).unwrap(), 0);
        let start = Instant::now();
        assert_eq!(irqs.wait(0, Some(Duration::from_millis(50))).unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_millis(50));
        // The kernel's loopback signals the eventfd.
        irqs.loopback(0).unwrap();
        assert_eq!(irqs.wait(0, Some(Duration::from_secs(5))).unwrap(), 1);
        // Masked: waiting is refused; the device's interrupt does not arrive.
        irqs.mask(0).unwrap();
        assert!(irqs.is_masked(0).unwrap());
        assert!(matches!(
            irqs.wait(0, None),
            Err(IrqError::Masked { vector: 0, .. })
        ));
        bar.write32(0x60, 0x4).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(irqs.pending(0).unwrap(), 0, "masked: no signal");
        bar.write32(0x64, 0x4).unwrap();
        irqs.unmask(0).unwrap();
        // Unmasked: a raised interrupt is seen through the eventfd.
        let start = Instant::now();
        bar.write32(0x60, 0x8).unwrap();
        let latency = take_irq(&bar, &mut irqs, 0x8, start);
        println!("latency: raised interrupt {latency:?}");
        drop(irqs);

        // INTx, after MSI was disabled: level-triggered, masked by the kernel
        // on each interrupt and unmasked after the acknowledgement.
        let mut intx = dev.enable_interrupts(IrqKind::Intx, 1).unwrap();
        assert!(intx.automasked());
        let (got, latency) = factorial_with_irq(&bar, &mut intx, 6);
        assert_eq!(got, 720);
        let (got, _) = factorial_with_irq(&bar, &mut intx, 7);
        assert_eq!(got, 5040, "a second INTx after the unmask");
        println!("latency: factorial INTx {latency:?}");
        drop(intx);

        // Reset: as the kernel reports it for this device.
        match dev.reset() {
            Ok(()) => {
                assert_ne!(dev.flags() & 1, 0);
                println!("reset: done");
            }
            Err(ResetError::Unsupported { .. }) => {
                assert_eq!(dev.flags() & 1, 0);
                println!("reset: edu offers none (typed error)");
            }
            Err(e) => panic!("reset failed: {e}"),
        }
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn dma_buffers_have_iovas_the_device_reaches() {
    in_vm_child("dma_buffers_have_iovas_the_device_reaches", || {
        let eal = eal();
        // A buffer from rte_malloc works as well as a memzone.
        let heap = DmaBuffer::malloc(&eal, 8192, 4096, None).unwrap();
        // Twice: closing the device takes its group out of the container (the
        // crate's container then drops its IOMMU and mappings), and the
        // second open must make DPDK's memory reachable again.
        for round in ["first", "second"] {
            let dev = eal.vfio_open(EDU.parse().unwrap()).unwrap();
            let bar = edu_bar(&dev);
            dev.set_bus_master(true).unwrap();
            let mut irqs = dev.enable_interrupts(IrqKind::Msi, 1).unwrap();
            let text = format!("{round:>8} open, through edu");
            heap.copy_from_slice(0, &[0; 26]).unwrap();
            heap.copy_from_slice(4096, text.as_bytes()).unwrap();
            dma(
                &bar,
                &mut irqs,
                heap.iova_at(4096).unwrap(),
                EDU_BUFFER,
                26,
                false,
            );
            dma(&bar, &mut irqs, EDU_BUFFER, heap.iova(), 26, true);
            let mut got = [0u8; 26];
            heap.copy_to_slice(0, &mut got).unwrap();
            assert_eq!(&got, text.as_bytes(), "{round} open");
            drop(irqs);
            dev.set_bus_master(false).unwrap();
        }
        assert!(matches!(
            DmaBuffer::new(&eal, 0, 64),
            Err(DmaError::ZeroSize)
        ));
    });
}

/// One edu DMA transfer, polled to completion.
#[cfg(dpdk_pci_driver)]
fn poll_dma(bar: &impl Registers, src: u64, dst: u64, len: u64, to_ram: bool) {
    bar.write64(0x80, src).unwrap();
    bar.write64(0x88, dst).unwrap();
    bar.write64(0x90, len).unwrap();
    bar.write64(0x98, 1 | if to_ram { 2 } else { 0 }).unwrap();
    let start = Instant::now();
    while bar.read64(0x98).unwrap() & 1 != 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "DMA timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// edu probed by DPDK for a Rust driver (BARs mapped by DPDK, bus mastering
/// set by DPDK): after init, the application drives DMA through the kept
/// handle, from a DMA buffer and from application memory mapped with
/// `rte_dev_dma_map`; after `Eal::remove` the same handle is revoked.
#[cfg(dpdk_pci_driver)]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_probed_device_does_dma_through_its_kept_handle_until_removed() {
    in_vm_child(
        "a_probed_device_does_dma_through_its_kept_handle_until_removed",
        || {
            use dpdk_safe::{
                register, BarIndex, DriverFlags, ExternalMemory, PciIdPattern, Revoked,
            };
            let edu: dpdk_safe::PciAddress = EDU.parse().unwrap();
            let driver = register(
                "rs_keeper",
                &[PciIdPattern::new(0x1234, 0x11e8)],
                DriverFlags::NEED_MAPPING,
                common::Keeper,
            )
            .unwrap();
            let mut eal = base_builder().allow(edu).init().unwrap();
            assert_eq!(driver.devices(), [edu]);
            let handle = driver.with_device(edu, |h| h.clone()).unwrap();

            let buffer = DmaBuffer::new(&eal, 4096, 4096).unwrap();
            buffer
                .copy_from_slice(0, b"probed: from a DMA buffer")
                .unwrap();
            let external = ExternalMemory::new(&eal, 16 << 10).unwrap();
            // The emulated IOMMU takes 39-bit IOVAs, fewer bits than user
            // addresses have: IOVA = VA is refused there, so the memory goes
            // at 384 GiB, far above DPDK's own (IOVA = VA from 4 GiB up).
            match external.map_for(&eal, edu) {
                Ok(at_va) => assert_eq!(at_va.iova(), external.as_ptr() as u64),
                Err(e) => assert!(matches!(e, DmaError::Map { .. }), "{e}"),
            }
            // On i686 edu's address registers are written through pwrite64,
            // split into two 4-byte writes of which edu keeps the low one
            // (see `edu_bar`): there the IOVA stays below 4 GiB, at 256 MiB,
            // away from DPDK's (its virtual addresses, near 4 GiB).
            let iova: u64 = if cfg!(target_pointer_width = "64") {
                384 << 30
            } else {
                256 << 20
            };
            let mapping = external.map_for_at(&eal, edu, iova).unwrap();
            assert_eq!(mapping.iova(), iova);

            // Polls edu's DMA command register until the transfer is done;
            // DPDK's mapping on 64-bit targets (8-byte stores, see `edu_bar`).
            let transfer = |src: u64, dst: u64, len: u64, to_ram: bool| {
                handle
                    .with(|dev| {
                        #[cfg(target_pointer_width = "64")]
                        let bar = dev.bar(BarIndex::BAR0).expect("DPDK mapped BAR0");
                        #[cfg(not(target_pointer_width = "64"))]
                        let bar = dev.bar_registers(BarIndex::BAR0).unwrap();
                        poll_dma(&bar, src, dst, len, to_ram);
                    })
                    .expect("bound until removed")
            };
            transfer(buffer.iova(), EDU_BUFFER, 25, false);
            transfer(EDU_BUFFER, mapping.iova() + 100, 25, true);
            let got: Vec<u8> = (100..125)
                .map(|i| external.read::<u8>(i).unwrap())
                .collect();
            assert_eq!(&got, b"probed: from a DMA buffer");
            drop(mapping);
            drop(external);

            // From another thread, through the same handle.
            let id = std::thread::scope(|s| {
                s.spawn(|| {
                    handle.with(|dev| {
                        dev.bar_registers(BarIndex::BAR0)
                            .unwrap()
                            .read32(0)
                            .unwrap()
                    })
                })
                .join()
                .unwrap()
            });
            assert_eq!(id, Ok(0x010000ed));

            // Removed while another thread is inside `with` and uses the
            // handle again in there: the removal waits for it, and the nested
            // use does not queue behind the waiting removal. Then DPDK unmaps
            // the BARs and frees its device; the kept handle is revoked, a
            // typed error.
            drop(buffer);
            std::thread::scope(|s| {
                let (inside, entered) = std::sync::mpsc::channel();
                let handle = &handle;
                let holder = s.spawn(move || {
                    handle.with(|_| {
                        inside.send(()).unwrap();
                        std::thread::sleep(Duration::from_millis(300));
                        (handle.with(|_| 7), handle.is_revoked())
                    })
                });
                entered.recv().unwrap();
                eal.remove(edu).unwrap();
                assert_eq!(holder.join().unwrap(), Ok((Ok(7), false)));
            });
            assert_eq!(handle.with(|_| ()), Err(Revoked(edu)));
            assert!(driver.devices().is_empty());
        },
    );
}

/// Application memory mapped for a device opened with `Eal::vfio_open`, in
/// whichever container the EAL's backend put it: edu copies a DMA buffer's
/// bytes into it and back out of it; an IOVA of DPDK's own memory is refused.
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn external_memory_mapped_for_a_vfio_opened_device() {
    in_vm_child("external_memory_mapped_for_a_vfio_opened_device", || {
        use dpdk_safe::ExternalMemory;
        let eal = eal();
        let dev = eal.vfio_open(EDU.parse().unwrap()).unwrap();
        let bar = edu_bar(&dev);
        dev.set_bus_master(true).unwrap();
        let buffer = DmaBuffer::new(&eal, 4096, 4096).unwrap();
        buffer
            .copy_from_slice(0, b"vfio-opened: from a DMA buffer")
            .unwrap();
        let external = ExternalMemory::new(&eal, 16 << 10).unwrap();
        // The IOVAs of `a_probed_device_does_dma_through_its_kept_handle_until_removed`
        // (the emulated IOMMU's 39 bits; edu's 32-bit writes on i686).
        let iova: u64 = if cfg!(target_pointer_width = "64") {
            384 << 30
        } else {
            256 << 20
        };
        assert!(matches!(
            external.map_for_vfio(&dev, buffer.iova() & !4095),
            Err(DmaError::IovaInUse { .. })
        ));
        let mapping = external.map_for_vfio(&dev, iova).unwrap();
        assert_eq!(mapping.iova(), iova);
        poll_dma(&bar, buffer.iova(), EDU_BUFFER, 30, false);
        poll_dma(&bar, EDU_BUFFER, mapping.iova() + 200, 30, true);
        let got: Vec<u8> = (200..230)
            .map(|i| external.read::<u8>(i).unwrap())
            .collect();
        assert_eq!(&got, b"vfio-opened: from a DMA buffer");
        // And out of it: written by the CPU, read by the device.
        for (i, b) in b"back from external memory".iter().enumerate() {
            external.write::<u8>(4096 + i, *b).unwrap();
        }
        buffer.fill(0);
        poll_dma(&bar, mapping.iova() + 4096, EDU_BUFFER + 512, 25, false);
        poll_dma(&bar, EDU_BUFFER + 512, buffer.iova(), 25, true);
        assert_eq!(&buffer.to_vec()[..25], b"back from external memory");
        println!("external memory: mapped at {iova:#x} for a vfio_open device, DMA both ways");
        drop(mapping);
        drop(external);
    });
}

/// Registers a Rust driver (NEED_MAPPING, keeps a `BoundDevice`) for
/// `vendor:device`, starts the EAL on `address` with DPDK's interrupt kind
/// `kind` (`None`: DPDK's default) and returns the kept handle.
#[cfg(dpdk_pci_driver)]
fn probed_for_interrupts(
    name: &str,
    id: (u16, u16),
    address: &str,
    kind: Option<IrqKind>,
) -> (
    dpdk_safe::Registered<common::Keeper>,
    Eal,
    dpdk_safe::BoundDevice,
) {
    use dpdk_safe::{register, DriverFlags, PciIdPattern};
    let address: dpdk_safe::PciAddress = address.parse().unwrap();
    let driver = register(
        name,
        &[PciIdPattern::new(id.0, id.1)],
        DriverFlags::NEED_MAPPING,
        common::Keeper,
    )
    .unwrap();
    let mut builder = base_builder().allow(address);
    if let Some(kind) = kind {
        builder = builder.vfio_interrupt_kind(kind);
    }
    let eal = builder.init().unwrap();
    assert_eq!(driver.devices(), [address], "the Rust driver probed it");
    let handle = driver.with_device(address, |h| h.clone()).unwrap();
    (driver, eal, handle)
}

/// edu probed by DPDK for a Rust driver, DPDK told to set up MSI: factorial
/// and DMA completions arrive through DPDK's interrupt handle; bad input is
/// refused; after `Eal::remove` a waiting thread and every later call get
/// `Revoked`.
#[cfg(dpdk_pci_driver)]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_probed_device_takes_interrupts_through_dpdks_handle() {
    in_vm_child(
        "a_probed_device_takes_interrupts_through_dpdks_handle",
        || {
            use dpdk_safe::BarIndex;
            let (_driver, mut eal, handle) =
                probed_for_interrupts("rs_irq_msi", (0x1234, 0x11e8), EDU, Some(IrqKind::Msi));
            let edu: dpdk_safe::PciAddress = EDU.parse().unwrap();
            let err = handle.enable_interrupts(2).unwrap_err();
            assert!(
                matches!(
                    err,
                    IrqError::TooManyVectors {
                        asked: 2,
                        available: 1,
                        kind: IrqKind::Msi,
                        ..
                    }
                ),
                "{err}"
            );
            let err = handle.enable_interrupts(0).unwrap_err();
            assert!(matches!(err, IrqError::ZeroVectors { .. }), "{err}");
            let mut irqs = handle.enable_interrupts(1).unwrap();
            assert_eq!(
                (irqs.kind(), irqs.count(), irqs.available(), irqs.address()),
                (IrqKind::Msi, 1, 1, edu)
            );
            let err = handle.enable_interrupts(1).unwrap_err();
            assert!(matches!(err, IrqError::AlreadyEnabled { .. }), "{err}");
            assert!(matches!(
                irqs.wait(1, None),
                Err(IrqError::NoSuchVector { vector: 1, .. })
            ));

            let buffer = DmaBuffer::new(&eal, 4096, 4096).unwrap();
            let back = DmaBuffer::new(&eal, 4096, 4096).unwrap();
            let pattern: Vec<u8> = (0..LEN as u32).map(|i| (i * 13 + 5) as u8).collect();
            buffer.copy_from_slice(0, &pattern).unwrap();
            back.fill(0);
            let (factorial, to_device, to_ram) = handle
                .with(|dev| {
                    #[cfg(target_pointer_width = "64")]
                    let bar = dev.bar(BarIndex::BAR0).expect("DPDK mapped BAR0");
                    #[cfg(not(target_pointer_width = "64"))]
                    let bar = dev.bar_registers(BarIndex::BAR0).unwrap();
                    let (got, factorial) = factorial_with_irq(&bar, &mut irqs, 9);
                    assert_eq!(got, 362_880, "9!");
                    bar.write32(0x20, 0).unwrap();
                    let to_device = dma(
                        &bar,
                        &mut irqs,
                        buffer.iova(),
                        EDU_BUFFER,
                        LEN as u64,
                        false,
                    );
                    let to_ram = dma(&bar, &mut irqs, EDU_BUFFER, back.iova(), LEN as u64, true);
                    (factorial, to_device, to_ram)
                })
                .expect("bound until removed");
            let mut got = vec![0u8; LEN];
            back.copy_to_slice(0, &mut got).unwrap();
            assert!(got == pattern, "edu copied the bytes back unchanged");
            println!(
            "probed: MSI through DPDK's handle: factorial {factorial:?}, dma to edu {to_device:?}, \
             from edu {to_ram:?}; {LEN} bytes identical"
        );

            // Mask and loopback on DPDK's VFIO file.
            irqs.loopback(0).unwrap();
            assert_eq!(irqs.wait(0, Some(Duration::from_secs(5))).unwrap(), 1);
            irqs.mask(0).unwrap();
            assert!(matches!(irqs.wait(0, None), Err(IrqError::Masked { .. })));
            irqs.unmask(0).unwrap();

            // Removal while another thread waits with no limit: the wait ends
            // with Revoked, and so does every later call.
            drop((buffer, back));
            std::thread::scope(|s| {
                let waiter = s.spawn(|| irqs.wait(0, None));
                std::thread::sleep(Duration::from_millis(200));
                eal.remove(edu).unwrap();
                let start = Instant::now();
                let waited = waiter.join().unwrap();
                assert!(
                    matches!(waited, Err(IrqError::Revoked { address }) if address == edu),
                    "{waited:?}"
                );
                assert!(start.elapsed() < Duration::from_secs(2));
            });
            let err = irqs.loopback(0).unwrap_err();
            assert!(matches!(err, IrqError::Revoked { .. }), "{err}");
            assert!(err.to_string().contains("removed"), "{err}");
            assert!(matches!(irqs.pending(0), Err(IrqError::Revoked { .. })));
            drop(irqs);
            let err = handle.enable_interrupts(1).unwrap_err();
            assert!(matches!(err, IrqError::Revoked { .. }), "{err}");
        },
    );
}

/// edu probed for a Rust driver with DPDK's default interrupt kind: DPDK set
/// up MSI-X, which edu lacks (a typed error naming the way out).
#[cfg(dpdk_pci_driver)]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn dpdks_default_interrupt_kind_on_a_device_without_it_is_a_typed_error() {
    in_vm_child(
        "dpdks_default_interrupt_kind_on_a_device_without_it_is_a_typed_error",
        || {
            let (_driver, _eal, handle) =
                probed_for_interrupts("rs_irq_default", (0x1234, 0x11e8), EDU, None);
            let err = handle.enable_interrupts(1).unwrap_err();
            assert!(
                matches!(
                    err,
                    IrqError::KindMissing {
                        kind: IrqKind::Msix,
                        count: 0,
                        ..
                    }
                ),
                "{err}"
            );
            assert!(err.to_string().contains("vfio_interrupt_kind"), "{err}");
        },
    );
}

/// edu probed for a Rust driver with INTx: the kernel masks the pin on each
/// interrupt and the unmask goes through DPDK's file; two in a row arrive.
#[cfg(dpdk_pci_driver)]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_probed_device_takes_intx_through_dpdks_handle() {
    in_vm_child("a_probed_device_takes_intx_through_dpdks_handle", || {
        use dpdk_safe::BarIndex;
        let (_driver, _eal, handle) =
            probed_for_interrupts("rs_irq_intx", (0x1234, 0x11e8), EDU, Some(IrqKind::Intx));
        let mut irqs = handle.enable_interrupts(1).unwrap();
        assert_eq!(irqs.kind(), IrqKind::Intx);
        assert!(irqs.automasked());
        let latency = handle
            .with(|dev| {
                let bar = dev.bar_registers(BarIndex::BAR0).unwrap();
                let (got, latency) = factorial_with_irq(&bar, &mut irqs, 6);
                assert_eq!(got, 720);
                let (got, _) = factorial_with_irq(&bar, &mut irqs, 8);
                assert_eq!(got, 40_320, "a second INTx after the unmask");
                latency
            })
            .unwrap();
        println!("probed: INTx through DPDK's handle: factorial {latency:?}");
    });
}

/// QEMU's e1000e (five MSI-X vectors) probed for a Rust driver: several
/// vectors through DPDK's handle (`rte_intr_efd_enable`), each its own
/// eventfd; a masked vector stays silent; enabled again after a drop.
#[cfg(dpdk_pci_driver)]
#[test]
#[ignore = "needs the VM: tools/vm-tests.sh"]
fn a_probed_msix_device_takes_several_vectors_through_dpdks_handle() {
    in_vm_child(
        "a_probed_msix_device_takes_several_vectors_through_dpdks_handle",
        || {
            let (_driver, _eal, handle) =
                probed_for_interrupts("rs_irq_msix", (0x8086, 0x10d3), "0000:00:05.0", None);
            let err = handle.enable_interrupts(6).unwrap_err();
            assert!(
                matches!(
                    err,
                    IrqError::TooManyVectors {
                        asked: 6,
                        available: 5,
                        kind: IrqKind::Msix,
                        ..
                    }
                ),
                "{err}"
            );
            let mut irqs = handle.enable_interrupts(3).unwrap();
            assert_eq!(
                (irqs.kind(), irqs.count(), irqs.available()),
                (IrqKind::Msix, 3, 5)
            );
            for vector in 0..3 {
                irqs.loopback(vector).unwrap();
                assert_eq!(
                    irqs.wait(vector, Some(Duration::from_secs(5))).unwrap(),
                    1,
                    "vector {vector}"
                );
                for other in (0..3).filter(|&o| o != vector) {
                    assert_eq!(irqs.pending(other).unwrap(), 0, "{other} after {vector}");
                }
            }
            irqs.mask(1).unwrap();
            irqs.loopback(1).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(irqs.pending(1).unwrap(), 0, "detached: no signal");
            irqs.unmask(1).unwrap();
            irqs.loopback(1).unwrap();
            assert_eq!(irqs.wait(1, Some(Duration::from_secs(5))).unwrap(), 1);
            drop(irqs);

            // Dropped: DPDK's extra eventfds are closed, and all five vectors
            // can be had afresh.
            let irqs = handle.enable_interrupts(5).unwrap();
            irqs.loopback(4).unwrap();
            assert_eq!(irqs.wait(4, Some(Duration::from_secs(5))).unwrap(), 1);
            println!("probed: MSI-X through DPDK's handle: 3 then 5 vectors of 5");
        },
    );
}
