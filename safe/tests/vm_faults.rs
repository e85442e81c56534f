//! Faults around VFIO devices, inside the test VM (`tools/vm-faults.sh` boots
//! it with the extra devices these need and sets `DPDK_RS_VM_FAULTS=1`):
//!
//! * hot-unplug: QEMU's `device_del` of an opened, mapped device reaches the
//!   process as a VFIO removal request; the process releases the device and
//!   carries on with its others;
//! * 1000 open → region info → map / pread → release cycles leave no file
//!   descriptor or mapping behind;
//! * a user without root: with the group node and a memlock limit it opens a
//!   device, without them it gets typed errors with their hints;
//! * a device whose IOMMU group holds a device bound to another kernel driver
//!   gives `GroupNotViable` naming that device.
//!
//! Without `DPDK_RS_VM_FAULTS` (on the host) every test says why it skips and
//! passes. Each test starts its EAL in a child process of its own, whose output
//! is forwarded line by line as it comes (the host watches the console for
//! `DPDKRS-VM-MONITOR:` requests).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{base_builder, child_command, is_child};
use dpdk_safe::PciAddress;
use dpdk_safe::{ConfigRegisters, OpenError, RegionIndex, RegionIo, Registers};
use dpdk_safe::{Eal, EalBuilder};

const VM_VAR: &str = "DPDK_RS_VM_FAULTS";
const EDU: &str = "0000:00:03.0";
const IVSHMEM: &str = "0000:00:04.0";
const EDU_ID: u32 = 0x010000ed;
/// The unprivileged user of the privilege test (nobody:nogroup).
const NOBODY: u32 = 65534;

fn addr(s: &str) -> PciAddress {
    s.parse().unwrap()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn eal_with(builder: EalBuilder, devices: &[&str]) -> Eal {
    let mut builder = builder;
    for d in devices {
        builder = builder.allow(addr(d));
    }
    let start = Instant::now();
    let eal = builder
        .init()
        .expect("EAL with the VM's devices allowlisted");
    say(&format!(
        "vm-faults: EAL started in {:.1} s",
        start.elapsed().as_secs_f64()
    ));
    eal
}

/// Runs `body` in a child process (the test binary again, filtered to `name`),
/// started through `wrapper` (a command and its arguments, which end with the
/// program to run) when given. The child's output is forwarded as it comes.
/// On the host, without `DPDK_RS_VM_FAULTS`, says so and returns.
fn in_vm_process(name: &str, wrapper: &[&str], envs: &[(&str, &str)], body: impl FnOnce()) {
    if is_child(name) {
        body();
        return;
    }
    if std::env::var_os(VM_VAR).is_none() {
        println!("skipped {name}: needs the test VM with its fault devices (tools/vm-faults.sh sets {VM_VAR})");
        return;
    }
    let mut cmd = child_command(name, wrapper);
    cmd.env("SYSFS_PCI_DEVICES", "/sys/bus/pci/devices")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("starting the child");
    let forward = |stream: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut passed = false;
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                passed |= line.contains("test result: ok. 1 passed");
                // Past the test harness's capture: the console sees it now.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            passed
        })
    };
    let stdout = forward(Box::new(child.stdout.take().unwrap()));
    let stderr = forward(Box::new(child.stderr.take().unwrap()));
    let status = child.wait().expect("waiting for the child");
    let passed = stdout.join().unwrap() | stderr.join().unwrap();
    assert!(status.success() && passed, "child {name} failed ({status})");
}

/// Prints a line to the console at once (the host acts on some of them).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn edu_liveness(bar: &impl Registers) {
    for v in [0u32, 0x1234_5678, 0xffff_ffff] {
        bar.write32(0x04, v).unwrap();
        assert_eq!(bar.read32(0x04).unwrap(), !v);
    }
}

fn sysfs_device(address: &str) -> std::path::PathBuf {
    Path::new("/sys/bus/pci/devices").join(address)
}

#[test]
#[ignore = "needs the VM: tools/vm-faults.sh"]
fn hot_unplug_is_requested_released_and_the_rest_carries_on() {
    let name = "hot_unplug_is_requested_released_and_the_rest_carries_on";
    in_vm_process(name, &[], &[], || {
        let hp = env_or("DPDK_RS_HOTPLUG_ADDR", "0000:01:00.0");
        let qemu_id = env_or("DPDK_RS_HOTPLUG_ID", "hp1");
        assert!(
            sysfs_device(&hp).exists(),
            "no hot-pluggable device at {hp}"
        );
        let eal = eal_with(base_builder(), &[EDU, &hp]);

        // A device that stays: opened before, used after the removal.
        let other = eal.vfio_open(addr(EDU)).unwrap();
        let other_bar = other.region(RegionIndex::BAR0).unwrap();
        assert_eq!(other_bar.read32(0).unwrap(), EDU_ID);

        let dev = eal.vfio_open(addr(&hp)).unwrap();
        // The notification path, without removing anything: VFIO's loopback.
        {
            let probe = dev.removal_requests().unwrap();
            assert!(!probe.is_requested());
            probe.loopback().unwrap();
            assert!(
                probe.wait(Some(Duration::from_secs(5))),
                "loopback not seen"
            );
            say(&format!(
                "vm-faults: loopback request on {hp} seen ({} signal)",
                probe.signals()
            ));
        }
        let requests = dev.removal_requests().unwrap();
        assert!(!requests.is_requested(), "a new subscription starts clear");
        let bar = dev.region(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.read32(0).unwrap(), EDU_ID);
        edu_liveness(&bar);
        #[cfg(target_pointer_width = "64")]
        let mapped = dev.map_bar(RegionIndex::BAR0).unwrap();
        #[cfg(target_pointer_width = "64")]
        assert_eq!(mapped.read32(0).unwrap(), EDU_ID);

        // The host reads this line on the console and sends device_del.
        say(&format!("DPDKRS-VM-MONITOR: device_del {qemu_id}"));
        let asked = Instant::now();
        let mut polls = 0u64;
        // Keep working while waiting, as an application would.
        while !requests.wait(Some(Duration::from_millis(200))) {
            polls += 1;
            assert_eq!(other_bar.read32(0).unwrap(), EDU_ID);
            assert!(
                asked.elapsed() < Duration::from_secs(120),
                "no removal request for {hp} within 120 s"
            );
        }
        say(&format!(
            "vm-faults: removal request for {hp} after {:.3} s ({} signal(s), {polls} polls of 200 ms)",
            asked.elapsed().as_secs_f64(),
            requests.signals()
        ));
        assert!(sysfs_device(&hp).exists(), "still there until released");
        #[cfg(target_pointer_width = "64")]
        drop(mapped);
        // `bar` (a RegionIo) owns nothing: its borrow of `dev` ended at its last use.
        drop(requests);
        drop(dev);
        let released = Instant::now();
        say(&format!(
            "vm-faults: released {hp} (mapping, region, requests, device)"
        ));
        while sysfs_device(&hp).exists() {
            assert!(
                released.elapsed() < Duration::from_secs(30),
                "{hp} still in sysfs 30 s after the release"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        say(&format!(
            "vm-faults: {hp} gone from sysfs {:.3} s after the release, {:.3} s after device_del was asked for",
            released.elapsed().as_secs_f64(),
            asked.elapsed().as_secs_f64()
        ));

        // The rest carries on: the device that stayed, a new one, typed errors.
        assert_eq!(other_bar.read32(0).unwrap(), EDU_ID);
        edu_liveness(&other_bar);
        let err = eal.vfio_open(addr(&hp)).unwrap_err();
        assert!(matches!(err, OpenError::NoSuchDevice(..)), "{err}");
        let ivshmem = eal.vfio_open(addr(IVSHMEM)).unwrap();
        assert_eq!(ivshmem.config().unwrap().read16(0).unwrap(), 0x1af4);
        say(&format!(
            "vm-faults: after the unplug {EDU} still answers {:#010x}, {IVSHMEM} opens; {hp}: {err}",
            other_bar.read32(0).unwrap()
        ));
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-faults.sh"]
#[cfg(dpdk_pci_driver)]
fn a_driver_s_device_is_revoked_after_a_hot_unplug() {
    use dpdk_safe::{register, BarIndex, DeviceEventKind, DriverFlags, PciIdPattern, Revoked};
    let name = "a_driver_s_device_is_revoked_after_a_hot_unplug";
    in_vm_process(name, &[], &[], || {
        let hp = env_or("DPDK_RS_HOTPLUG2_ADDR", "0000:02:00.0");
        let qemu_id = env_or("DPDK_RS_HOTPLUG2_ID", "hp2");
        assert!(
            sysfs_device(&hp).exists(),
            "no hot-pluggable device at {hp}"
        );
        let hp = addr(&hp);
        // INTR_RMV: DPDK's PCI bus listens for VFIO's removal request.
        let driver = register(
            "rs_unplugged",
            &[PciIdPattern::new(0x1234, 0x11e8)],
            DriverFlags::NEED_MAPPING.union(DriverFlags::INTR_RMV),
            common::Keeper,
        )
        .unwrap();
        let mut eal = eal_with(base_builder(), &[&hp.to_string()]);
        assert_eq!(driver.devices(), [hp]);
        let handle = driver.with_device(hp, |h| h.clone()).unwrap();
        let events = eal.device_events().unwrap();
        let id = |h: &dpdk_safe::BoundDevice| {
            h.with(|dev| {
                dev.bar_registers(BarIndex::BAR0)
                    .unwrap()
                    .read32(0)
                    .unwrap()
            })
        };
        assert_eq!(id(&handle), Ok(EDU_ID));

        say(&format!("DPDKRS-VM-MONITOR: device_del {qemu_id}"));
        let asked = Instant::now();
        let event = loop {
            match events.next_timeout(Duration::from_millis(200)) {
                Some(e) if e.pci_address() == Some(hp) => break e,
                Some(other) => say(&format!("vm-faults: event {other:?}")),
                None => {
                    // The device works until the application lets it go.
                    assert_eq!(id(&handle), Ok(EDU_ID));
                    assert!(
                        asked.elapsed() < Duration::from_secs(120),
                        "no removal event for {hp} within 120 s"
                    );
                }
            }
        };
        assert_eq!(event.kind, DeviceEventKind::Removed, "{event:?}");
        say(&format!(
            "vm-faults: removal event for {hp} after {:.3} s: {event:?}",
            asked.elapsed().as_secs_f64()
        ));
        assert!(
            !handle.is_revoked(),
            "revoked only once the device is detached"
        );
        eal.remove(hp).unwrap();
        assert!(handle.is_revoked());
        assert_eq!(id(&handle), Err(Revoked(hp)));
        assert_eq!(driver.devices(), []);
        let released = Instant::now();
        while sysfs_device(&hp.to_string()).exists() {
            assert!(
                released.elapsed() < Duration::from_secs(30),
                "{hp} still in sysfs 30 s after the detach"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        say(&format!(
            "vm-faults: {hp} detached, its handle revoked ({}), gone from sysfs {:.3} s later",
            Revoked(hp),
            released.elapsed().as_secs_f64()
        ));
        drop(events);
        drop(eal);
    });
}

/// Open descriptors and mapping lines of this process.
fn fds_and_maps() -> (usize, usize) {
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count();
    (fds, maps)
}

/// One cycle: open, region info, removal subscription, map (64-bit) and pread,
/// release.
fn open_use_release(eal: &Eal, address: PciAddress) {
    let dev = eal.vfio_open(address).unwrap();
    let info = dev.region_info(RegionIndex::BAR0).unwrap();
    assert_eq!(info.size, 1 << 20);
    let requests = dev.removal_requests().unwrap();
    assert!(!requests.is_requested());
    #[cfg(target_pointer_width = "64")]
    {
        let bar = dev.map_bar(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.read32(0).unwrap(), EDU_ID);
    }
    let io: RegionIo<'_> = dev.region(RegionIndex::BAR0).unwrap();
    assert_eq!(io.read32(0).unwrap(), EDU_ID);
}

#[test]
#[ignore = "needs the VM: tools/vm-faults.sh"]
fn open_map_release_cycles_leave_nothing_behind() {
    let name = "open_map_release_cycles_leave_nothing_behind";
    in_vm_process(name, &[], &[], || {
        let cycles: u32 = env_or("DPDK_RS_LEAK_CYCLES", "1000").parse().unwrap();
        let cold: u32 = env_or("DPDK_RS_LEAK_COLD_CYCLES", "100").parse().unwrap();
        let eal = eal_with(base_builder(), &[EDU, IVSHMEM]);
        let edu = addr(EDU);
        // Warm-up: DPDK's and std's lazily made state exists from here on.
        open_use_release(&eal, edu);

        // Cold: edu is the container's only device, so each cycle also sets up
        // and tears down DPDK's group and container (DMA mapping included).
        let (fds0, maps0) = fds_and_maps();
        let start = Instant::now();
        for _ in 0..cold {
            open_use_release(&eal, edu);
        }
        let cold_time = start.elapsed();
        let (fds1, maps1) = fds_and_maps();
        say(&format!(
            "vm-faults: {cold} cold cycles (group and container set up each time) in {:.2} s ({:.1} ms each): fds {fds0} -> {fds1}, mappings {maps0} -> {maps1}",
            cold_time.as_secs_f64(),
            cold_time.as_secs_f64() * 1000.0 / f64::from(cold.max(1))
        ));
        assert_eq!((fds0, maps0), (fds1, maps1), "cold cycles leaked");

        // Warm: ivshmem keeps the container alive; edu's group comes and goes.
        let keep = eal.vfio_open(addr(IVSHMEM)).unwrap();
        open_use_release(&eal, edu);
        let (fds0, maps0) = fds_and_maps();
        let start = Instant::now();
        for _ in 0..cycles {
            open_use_release(&eal, edu);
        }
        let warm_time = start.elapsed();
        let (fds1, maps1) = fds_and_maps();
        say(&format!(
            "vm-faults: {cycles} cycles of vfio_open -> region_info -> removal_requests -> {} -> release in {:.2} s ({:.2} ms each): open fds before {fds0} after {fds1}; /proc/self/maps lines before {maps0} after {maps1}",
            if cfg!(target_pointer_width = "64") { "map_bar + read32 + pread" } else { "pread" },
            warm_time.as_secs_f64(),
            warm_time.as_secs_f64() * 1000.0 / f64::from(cycles.max(1))
        ));
        assert_eq!(fds0, fds1, "file descriptors leaked");
        assert_eq!(maps0, maps1, "mappings leaked");
        drop(keep);
    });
}

fn iommu_group(address: &str) -> u32 {
    let link = std::fs::read_link(sysfs_device(address).join("iommu_group")).unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

fn set_memlock(soft: libc::rlim_t) -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        // SAFETY: getrlimit writes into the live local.
        unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) },
        0
    );
    let old = limit.rlim_cur;
    limit.rlim_cur = soft.min(limit.rlim_max);
    // SAFETY: setrlimit reads the live local.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) }, 0);
    old
}

/// The EAL options a user without root needs here (see the privilege test).
fn unprivileged_builder() -> EalBuilder {
    base_builder().iova_mode(dpdk_safe::IovaMode::VirtualAddress)
}

#[test]
#[ignore = "needs the VM: tools/vm-faults.sh"]
fn a_user_without_root_needs_the_group_node_and_memlock() {
    let name = "a_user_without_root_needs_the_group_node_and_memlock";
    if !is_child(name) && std::env::var_os(VM_VAR).is_some() {
        // As root, in the VM: hand edu's group node to nobody, then run the
        // child as nobody with a memlock limit, and give the node back.
        let node = format!("/dev/vfio/{}", iommu_group(EDU));
        std::os::unix::fs::chown(&node, Some(NOBODY), Some(NOBODY)).unwrap();
        let memlock = format!("--memlock={0}:{0}", 256u64 << 20);
        let uid = format!("--reuid={NOBODY}");
        let gid = format!("--regid={NOBODY}");
        let result = std::panic::catch_unwind(|| {
            in_vm_process(
                name,
                &[
                    "prlimit",
                    &memlock,
                    "--",
                    "setpriv",
                    &uid,
                    &gid,
                    "--clear-groups",
                    "--",
                ],
                &[("XDG_RUNTIME_DIR", "/run/tmp"), ("HOME", "/run/tmp")],
                || unreachable!(),
            )
        });
        std::os::unix::fs::chown(&node, Some(0), Some(0)).unwrap();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
        return;
    }
    in_vm_process(name, &[], &[], || {
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        assert_eq!(uid, NOBODY, "the child runs as nobody");
        let eal = eal_with(unprivileged_builder(), &[EDU, IVSHMEM]);
        say("vm-faults: EAL started as uid 65534 (--no-huge -m 64 --no-shconf --iova-mode va, XDG_RUNTIME_DIR=/run/tmp)");

        // ivshmem's group node is still root's.
        let err = eal.vfio_open(addr(IVSHMEM)).unwrap_err();
        say(&format!("vm-faults: as nobody, {IVSHMEM}: {err}"));
        assert!(matches!(err, OpenError::PermissionDenied { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("chown") && text.contains("ulimit -l"),
            "{text}"
        );

        // edu's node is ours, but 1 MiB of memlock cannot pin DPDK's 64 MiB.
        let full = set_memlock(1 << 20);
        let err = eal.vfio_open(addr(EDU)).unwrap_err();
        say(&format!(
            "vm-faults: as nobody with memlock 1 MiB, {EDU}: {err}"
        ));
        assert!(matches!(err, OpenError::SetupFailed { .. }), "{err}");
        assert!(err.to_string().contains("1024 KiB"), "{err}");

        // With both: the device opens and reads.
        set_memlock(full);
        let dev = eal.vfio_open(addr(EDU)).unwrap();
        let bar = dev.region(RegionIndex::BAR0).unwrap();
        assert_eq!(bar.read32(0).unwrap(), EDU_ID);
        edu_liveness(&bar);
        #[cfg(target_pointer_width = "64")]
        {
            let mapped = dev.map_bar(RegionIndex::BAR0).unwrap();
            assert_eq!(mapped.read32(0).unwrap(), EDU_ID);
        }
        say(&format!(
            "vm-faults: as nobody with the node and memlock {} MiB, {EDU} BAR0[0] = {:#010x}",
            full >> 20,
            bar.read32(0).unwrap()
        ));
    });
}

#[test]
#[ignore = "needs the VM: tools/vm-faults.sh"]
fn a_group_shared_with_another_driver_is_not_viable() {
    let name = "a_group_shared_with_another_driver_is_not_viable";
    in_vm_process(name, &[], &[], || {
        let bridged = env_or("DPDK_RS_BRIDGED_ADDR", "0000:03:01.0");
        assert!(
            sysfs_device(&bridged).exists(),
            "no bridged device at {bridged}"
        );
        let eal = eal_with(base_builder(), &[EDU]);
        let err = eal.vfio_open(addr(&bridged)).unwrap_err();
        say(&format!("vm-faults: {bridged}: {err}"));
        match &err {
            OpenError::GroupNotViable { others, group, .. } => {
                assert_eq!(*group, iommu_group(&bridged));
                assert!(
                    others.contains(" (") && !others.contains("none found"),
                    "{others}"
                );
            }
            other => panic!("expected GroupNotViable, got {other}"),
        }
        // The EAL is unharmed: another device still opens.
        let dev = eal.vfio_open(addr(EDU)).unwrap();
        assert_eq!(
            dev.region(RegionIndex::BAR0).unwrap().read32(0).unwrap(),
            EDU_ID
        );
    });
}
