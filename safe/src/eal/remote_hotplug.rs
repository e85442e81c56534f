//! Device hotplug requests from other DPDK processes are refused.
//!
//! With multi-process support on (DPDK's default, unless `--no-shconf` or
//! `--in-memory`), a secondary process's `rte_dev_probe`/`rte_dev_remove` is
//! sent to the primary over DPDK's IPC channel, under the action name
//! `eal_dev_mp_request`; the primary then attaches or detaches the device on
//! its interrupt thread and asks every secondary to do the same, through the
//! same action name. Those probes and removes would run this crate's driver
//! callbacks and change DPDK's device list outside the bus lock and behind
//! every borrow of [`Eal`](super::Eal): a [`PciDevices`](crate::PciDevices)
//! iterator would hold a device DPDK frees, a driver registration could be
//! freed while DPDK still uses it.
//!
//! So right after `rte_eal_init` succeeds, the crate replaces DPDK's handler
//! for that action with one that answers every request with `-EACCES`: other
//! processes may still attach as secondaries and share memory, rings and
//! ports, but devices are attached and detached only by this process's own
//! calls. The Rust drivers' trampolines also refuse any callback that arrives
//! on a thread which does not hold the bus lock (`pci::driver`), so the rule
//! holds for them even for a request that was already in flight.
//!
//! What is left: a request that DPDK's interrupt thread had already begun
//! between the end of `rte_eal_init` and the replacement (a few microseconds,
//! before which no secondary can have finished attaching) would still detach
//! a device of one of DPDK's own C drivers.

use std::ffi::{c_char, c_int, c_void, CStr};

use crate::errno::last_rte_errno;

/// DPDK's name for the hotplug action (`EAL_DEV_MP_ACTION_REQUEST`, the same in
/// 22.11, 24.11 and main).
const HOTPLUG_ACTION: &CStr = c"eal_dev_mp_request";

/// The request and answer DPDK sends under that name (`struct eal_dev_mp_req`
/// in `lib/eal/common/hotplug_mp.h`: request type, device arguments, result).
#[repr(C)]
#[derive(Clone, Copy)]
struct HotplugMessage {
    kind: c_int,
    devargs: [c_char; 128],
    result: c_int,
}

/// What happened to DPDK's hotplug action at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// DPDK's handler was replaced by the refusing one.
    Replaced,
    /// No IPC channel (`--no-shconf`, `--in-memory`): nothing can arrive.
    NoChannel,
    /// DPDK had no handler under that name (a DPDK that renamed it): the
    /// refusing one is registered anyway, and the trampolines' check remains.
    NotFound,
}

/// Replaces DPDK's hotplug action with the refusing one. Called once, after a
/// successful `rte_eal_init`, with the bus lock held.
pub(crate) fn refuse_remote_hotplug() -> Result<Outcome, i32> {
    match register() {
        Ok(()) => return Ok(Outcome::NotFound),
        Err(libc::ENOTSUP) => return Ok(Outcome::NoChannel),
        Err(libc::EEXIST) => {}
        Err(errno) => return Err(errno),
    }
    // SAFETY: a valid action name; DPDK removes its handler under its own lock.
    unsafe { dpdk_sys::rte_mp_action_unregister(HOTPLUG_ACTION.as_ptr()) };
    register().map(|()| Outcome::Replaced)
}

fn register() -> Result<(), i32> {
    // SAFETY: a valid action name and a handler that stays valid for the
    // process's life (a function); DPDK copies the name.
    let ret =
        unsafe { dpdk_sys::rte_mp_action_register(HOTPLUG_ACTION.as_ptr(), Some(refuse_request)) };
    if ret == 0 {
        Ok(())
    } else {
        Err(last_rte_errno())
    }
}

/// Answers a hotplug request with `-EACCES` (the peer's `rte_dev_probe` or
/// `rte_dev_remove` fails at once; not `-EPERM`, which is -1, DPDK's "no error
/// code"); a message of another layout is not answered, and the peer gives up
/// after DPDK's IPC timeout.
unsafe extern "C" fn refuse_request(
    msg: *const dpdk_sys::rte_mp_msg,
    peer: *const c_void,
) -> c_int {
    // SAFETY: DPDK passes the message it received, valid for this call.
    let msg = unsafe { &*msg };
    let len = std::mem::size_of::<HotplugMessage>();
    if usize::try_from(msg.len_param) != Ok(len) {
        return -1;
    }
    // SAFETY: param holds len_param (checked) initialised bytes, and
    // HotplugMessage is plain integers; read_unaligned because param is a byte
    // array.
    let mut answer: HotplugMessage =
        unsafe { std::ptr::read_unaligned(msg.param.as_ptr().cast::<HotplugMessage>()) };
    answer.result = -libc::EACCES;
    let mut reply = *msg;
    reply.num_fds = 0;
    // SAFETY: param has room for `len` bytes (256 >= 136, checked at compile
    // time below); write_unaligned for the same reason as above.
    unsafe { std::ptr::write_unaligned(reply.param.as_mut_ptr().cast(), answer) };
    log_refusal(&answer);
    // SAFETY: `reply` is a complete message with the request's name; `peer` is
    // the address DPDK gave this call for the answer.
    unsafe { dpdk_sys::rte_mp_reply(&mut reply, peer.cast()) }
}

const _: () = assert!(std::mem::size_of::<HotplugMessage>() == 136);
const _: () = assert!(std::mem::size_of::<HotplugMessage>() <= 256);

fn log_refusal(request: &HotplugMessage) {
    let devargs: Vec<u8> = request
        .devargs
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c.to_ne_bytes()[0]) // c_char: i8 on x86, u8 on aarch64
        .collect();
    let text = format!(
        "dpdk-rs: refused a device hotplug request (type {}) for {:?} from another \
         DPDK process: this process attaches and detaches devices only through its \
         own calls\n",
        request.kind,
        String::from_utf8_lossy(&devargs)
    );
    if let Ok(text) = std::ffi::CString::new(text) {
        // SAFETY: "%s" with one valid C string argument.
        unsafe { dpdk_sys::rte_log(dpdk_sys::RTE_LOG_WARNING, 0, c"%s".as_ptr(), text.as_ptr()) };
    }
}
