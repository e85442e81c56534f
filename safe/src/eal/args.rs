//! Building the EAL's command line from typed settings.

use std::ffi::{c_char, c_int, CString, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::eal::{argparse, EalError};
use crate::pci::address::PciAddress;
use crate::pci::interrupt::IrqKind;

/// DPDK log levels (`RTE_LOG_*`), lowest number = most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// `RTE_LOG_EMERG` (1): the system is unusable.
    Emergency = 1,
    /// `RTE_LOG_ALERT` (2): action must be taken immediately.
    Alert = 2,
    /// `RTE_LOG_CRIT` (3): critical conditions.
    Critical = 3,
    /// `RTE_LOG_ERR` (4): error conditions.
    Error = 4,
    /// `RTE_LOG_WARNING` (5): warning conditions.
    Warning = 5,
    /// `RTE_LOG_NOTICE` (6): normal but significant conditions.
    Notice = 6,
    /// `RTE_LOG_INFO` (7): informational messages.
    Info = 7,
    /// `RTE_LOG_DEBUG` (8): debug-level messages.
    Debug = 8,
}

/// How DPDK gives addresses to devices for DMA (`--iova-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IovaMode {
    /// `--iova-mode=pa`: devices are given physical addresses.
    PhysicalAddress,
    /// `--iova-mode=va`: devices are given the process's virtual addresses (needs an IOMMU, e.g.
    /// VFIO).
    VirtualAddress,
}

/// Who opens VFIO devices for [`Eal::vfio_open`](crate::Eal::vfio_open)
/// ([`EalBuilder::vfio_backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VfioBackend {
    /// DPDK's `rte_vfio_setup_device`: the device joins DPDK's default
    /// container, whose IOMMU mappings DPDK's own drivers share. Only where the
    /// installed DPDK has that API in public (up to 26.07; DPDK makes it
    /// internal in 26.11); elsewhere `vfio_open` gives
    /// [`OpenError::BackendUnavailable`](crate::OpenError::BackendUnavailable).
    Dpdk,
    /// The crate's own: it opens the IOMMU group, attaches it to a VFIO
    /// container of its own and maps DPDK's memory there (every memory segment,
    /// then each one DPDK allocates or frees later), so DMA buffers' IOVAs are
    /// valid for the device. Needs no `rte_vfio_*` call, so it works with every
    /// DPDK release.
    Crate,
}

impl VfioBackend {
    /// [`Dpdk`](Self::Dpdk) where the installed DPDK has `rte_vfio_setup_device`
    /// in public, [`Crate`](Self::Crate) otherwise.
    pub const fn default_for_this_dpdk() -> Self {
        if cfg!(dpdk_rte_vfio) {
            VfioBackend::Dpdk
        } else {
            VfioBackend::Crate
        }
    }
}

/// The arguments for `rte_eal_init`, built with typed setters.
///
/// Arguments are kept as [`OsString`]s and reach DPDK byte for byte, so a path
/// that is not UTF-8 is passed as it is.
///
/// ```
/// use dpdk_safe::{EalBuilder, LogLevel};
/// let builder = EalBuilder::new()
///     .lcores([0])
///     .no_huge(64 << 20)
///     .no_pci()
///     .vdev("net_null0")
///     .log_level(LogLevel::Warning);
/// assert_eq!(builder.args()[1..], ["-l", "0", "--no-huge", "-m", "64", "--no-pci", "--vdev", "net_null0", "--log-level", "5"]);
/// ```
///
/// No safe method makes DPDK load a shared object: [`arg`](Self::arg) refuses
/// the options that would (at [`init`](Self::init) or [`c_args`](Self::c_args),
/// with [`EalError::LoadsCode`]), and the methods that load code,
/// [`driver_path`](Self::driver_path) and [`unchecked_arg`](Self::unchecked_arg),
/// are `unsafe`.
#[derive(Debug, Clone)]
pub struct EalBuilder {
    args: Vec<OsString>,
    /// Parallel to `args`: true for an argument an `unsafe` method added, which
    /// the code-loading check skips.
    unchecked: Vec<bool>,
    pub(crate) log_level: Option<LogLevel>,
    /// DPDK's log to the `log` crate ([`log_to_rust`](Self::log_to_rust)).
    pub(crate) log_to_rust: bool,
    /// Who opens VFIO devices ([`vfio_backend`](Self::vfio_backend)).
    pub(crate) vfio_backend: VfioBackend,
}

impl Default for EalBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Letters of DPDK's short options that take a value, `d` aside
/// (`eal_short_options` in `lib/eal/common/eal_common_options.c`, the same in
/// DPDK 22.11 and 24.11: `a: b: c: s: d: h l: S: m: n: r: v`). getopt reads the
/// rest of a cluster after one of these as its value, so no option follows.
const SHORT_WITH_VALUE: &[u8] = b"abcslSmnr";

/// The one long option that loads code: `--driver-path`, the long name of `-d`
/// since DPDK 25.11 (22.11 and 24.11 have no long option that loads code).
const LONG_LOADS_CODE: &[u8] = b"driver-path";

/// Whether DPDK would load a shared object if it read `arg` as an option.
///
/// Conservative, and independent of the argument's position: any argument may
/// be read as an option (the one before it may be an option without a value,
/// or one that consumed what was meant as its option). A short-option cluster
/// is walked as getopt walks it: `d` loads code; a letter that takes a value
/// ends the cluster; any other letter (`h`, `v`, or one DPDK rejects, which
/// getopt steps over) goes on to the next. A long option loads code if its
/// name is a prefix of `driver-path` (getopt_long accepts unambiguous
/// prefixes).
pub(crate) fn loads_code(arg: &[u8]) -> bool {
    argparse::getopt_reads(arg, b'd', LONG_LOADS_CODE, SHORT_WITH_VALUE)
}

impl EalBuilder {
    /// Starts with only the program name (`dpdk-rs`).
    pub fn new() -> Self {
        EalBuilder {
            args: vec![OsString::from("dpdk-rs")],
            unchecked: vec![false],
            log_level: None,
            log_to_rust: true,
            vfio_backend: VfioBackend::default_for_this_dpdk(),
        }
    }

    fn push<I, S>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        for item in items {
            self.args.push(item.into());
            self.unchecked.push(false);
        }
        self
    }

    /// Adds an argument the code-loading check skips: only for `unsafe` methods.
    fn push_unchecked(mut self, item: impl Into<OsString>) -> Self {
        self.args.push(item.into());
        self.unchecked.push(true);
        self
    }

    /// The program name DPDK sees as `argv[0]` (used in its log lines).
    pub fn program_name(mut self, name: &str) -> Self {
        self.args[0] = name.into();
        self
    }

    /// Run on these logical cores (`-l 0,2,3`); the first is the main lcore unless
    /// [`main_lcore`](Self::main_lcore) says otherwise.
    pub fn lcores(self, cores: impl IntoIterator<Item = u32>) -> Self {
        let list: Vec<String> = cores.into_iter().map(|c| c.to_string()).collect();
        self.push(["-l".to_owned(), list.join(",")])
    }

    /// The lcore that runs `main` (`--main-lcore`).
    pub fn main_lcore(self, core: u32) -> Self {
        self.push(["--main-lcore".to_owned(), core.to_string()])
    }

    /// Run without hugepages, from `bytes` of ordinary memory (`--no-huge -m MB`,
    /// rounded up to whole megabytes).
    pub fn no_huge(self, bytes: u64) -> Self {
        let mb = bytes.div_ceil(1 << 20).max(1);
        self.push(["--no-huge".to_owned(), "-m".to_owned(), mb.to_string()])
    }

    /// Memory to preallocate, in megabytes (`-m`).
    pub fn memory_mb(self, mb: u32) -> Self {
        self.push(["-m".to_owned(), mb.to_string()])
    }

    /// Use only these PCI devices (`-a ADDR`, repeatable): the scan ignores all others.
    pub fn allow(self, address: PciAddress) -> Self {
        self.push(["-a".to_owned(), address.to_string()])
    }

    /// Never use this PCI device (`-b ADDR`, repeatable).
    pub fn block(self, address: PciAddress) -> Self {
        self.push(["-b".to_owned(), address.to_string()])
    }

    /// Create a virtual device (`--vdev net_null0,param=value`).
    pub fn vdev(self, spec: &str) -> Self {
        self.push(["--vdev", spec])
    }

    /// Do not scan or probe the PCI bus at all.
    pub fn no_pci(self) -> Self {
        self.push(["--no-pci"])
    }

    /// Keep no shared files: one process, no multi-process support.
    pub fn no_shconf(self) -> Self {
        self.push(["--no-shconf"])
    }

    /// Keep everything in memory (`--in-memory`); DPDK 22.11 refuses it with `--no-huge`.
    pub fn in_memory(self) -> Self {
        self.push(["--in-memory"])
    }

    /// Name of the shared runtime files (`--file-prefix`).
    pub fn file_prefix(self, prefix: &str) -> Self {
        self.push(["--file-prefix", prefix])
    }

    /// Whether DPDK's log becomes records of the `log` crate (the default:
    /// `true`), with DPDK's log type as the target and its level mapped
    /// (see [`route_dpdk_log`](super::route_dpdk_log)). With `false`, DPDK
    /// writes to its own default stream, as a C application's would. Once
    /// routed, DPDK's log stays routed for the process.
    pub fn log_to_rust(mut self, on: bool) -> Self {
        self.log_to_rust = on;
        self
    }

    /// Global log level (`--log-level N`). At [`LogLevel::Debug`] the EAL's own
    /// output, usage text included, is shown even when `init` fails.
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = Some(level);
        self.push(["--log-level".to_owned(), (level as u32).to_string()])
    }

    /// Log level of the log types matching `pattern` (`--log-level lib.eal:debug`).
    pub fn log_level_for(self, pattern: &str, level: LogLevel) -> Self {
        self.push([
            "--log-level".to_owned(),
            format!("{pattern}:{}", level as u32),
        ])
    }

    /// Who opens devices for [`Eal::vfio_open`](crate::Eal::vfio_open):
    /// DPDK's VFIO layer or the crate's own (see [`VfioBackend`]); by default
    /// [`VfioBackend::default_for_this_dpdk`]. Adds no EAL argument.
    pub fn vfio_backend(mut self, backend: VfioBackend) -> Self {
        self.vfio_backend = backend;
        self
    }

    /// IOVA mode (`--iova-mode pa|va`).
    pub fn iova_mode(self, mode: IovaMode) -> Self {
        let mode = match mode {
            IovaMode::PhysicalAddress => "pa",
            IovaMode::VirtualAddress => "va",
        };
        self.push(["--iova-mode", mode])
    }

    /// The interrupt kind DPDK sets up for each device it probes through
    /// vfio-pci (`--vfio-intr legacy|msi|msix`), the one
    /// `BoundDevice::enable_interrupts` then enables. Without it DPDK takes MSI-X whenever vfio-pci offers an
    /// eventfd for it, which vfio-pci does for a device without MSI-X too.
    pub fn vfio_interrupt_kind(self, kind: IrqKind) -> Self {
        self.push(["--vfio-intr", kind.eal_option()])
    }

    /// Load a driver shared object, or every driver in a directory (`-d PATH`),
    /// when the EAL starts. The path reaches DPDK byte for byte.
    ///
    /// # Safety
    ///
    /// DPDK `dlopen`s the file (each file of the directory) inside
    /// `rte_eal_init`: its constructors and the driver's callbacks run in this
    /// process with all of its privileges and may do anything to its memory.
    /// The caller guarantees that every shared object at `path`, when
    /// [`init`](Self::init) runs, is a DPDK driver built for the DPDK this
    /// process runs, whose code is sound (as any C library this crate links), and
    /// that nobody can replace it in between (keep it in a directory only
    /// trusted users can write).
    ///
    /// The `-d` is not checked; `path` is, like every safe argument: should an
    /// earlier argument consume `-d` as its value, DPDK would read `path` as
    /// options of its own, so a path that would then load code (`-d...`) gives
    /// [`EalError::LoadsCode`]: write it as `./-d...`.
    pub unsafe fn driver_path(self, path: &Path) -> Self {
        self.push_unchecked("-d")
            .push([path.as_os_str().to_owned()])
    }

    /// Any EAL option, passed through byte for byte, as long as it cannot make
    /// DPDK load a shared object.
    ///
    /// An argument DPDK could read as `-d` (`-d`, `-dPATH`, a cluster such as
    /// `-vd...` whose letters before `d` take no value) or as `--driver-path`
    /// (or a prefix of it) makes [`init`](Self::init) and
    /// [`c_args`](Self::c_args) fail with [`EalError::LoadsCode`]; use
    /// [`driver_path`](Self::driver_path) or [`unchecked_arg`](Self::unchecked_arg)
    /// for that. The check looks at each argument alone, so a value that looks
    /// like such an option (`--vdev -dx`) is refused too.
    pub fn arg(self, arg: impl AsRef<OsStr>) -> Self {
        self.push([arg.as_ref().to_owned()])
    }

    /// Escape hatch: any EAL argument, passed through byte for byte and
    /// unchecked for code loading, including those that load code (`-d PATH`).
    /// It is still read with the others for what would end the process (see
    /// [`c_args`](Self::c_args)).
    ///
    /// # Safety
    ///
    /// If DPDK reads `arg` as an option that loads shared objects (`-d`, `-dPATH`,
    /// `-vdPATH`, `--driver-path` in later DPDK releases), the caller takes on
    /// [`driver_path`](Self::driver_path)'s obligations for every object it
    /// names, including the next argument when `arg` leaves its value to it
    /// (`unchecked_arg("-d")` followed by `arg(PATH)` loads `PATH`).
    pub unsafe fn unchecked_arg(self, arg: impl AsRef<OsStr>) -> Self {
        self.push_unchecked(arg.as_ref())
    }

    /// The command line as it will be passed, `argv[0]` included.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Refuses what must never reach DPDK: NUL bytes anywhere, safe arguments
    /// that would make it load code, and arguments it would end the process on.
    fn check(&self) -> Result<(), EalError> {
        if let Some(bad) = self.args.iter().find(|a| a.as_bytes().contains(&0)) {
            return Err(EalError::NulInArgument(bad.to_string_lossy().into_owned()));
        }
        // argv[0] is never read as an option: getopt starts at optind 1.
        let checked = self.args.iter().zip(&self.unchecked).skip(1);
        if let Some((bad, _)) = checked
            .filter(|(_, u)| !**u)
            .find(|(a, _)| loads_code(a.as_bytes()))
        {
            return Err(EalError::LoadsCode {
                arg: bad.to_string_lossy().into_owned(),
            });
        }
        if let Some(message) = self.exit_refusal() {
            return Err(EalError::InvalidArguments {
                args: self.to_string(),
                message,
            });
        }
        Ok(())
    }

    /// Why DPDK would end the process on these arguments instead of failing
    /// `rte_eal_init` (see `argparse`), unchecked ones included: on 25.11 and
    /// later any argument it cannot parse, on every line `-h`/`--help`.
    fn exit_refusal(&self) -> Option<String> {
        let options = self.args.iter().skip(1).map(|a| a.as_bytes());
        if cfg!(dpdk_eal_argparse) {
            argparse::argparse_refusal(options).map(|m| {
                format!("{m} (DPDK 25.11 and later exit the process on it, so it was refused before rte_eal_init)")
            })
        } else {
            options
                .into_iter()
                .find(|a| argparse::getopt_reads(a, b'h', b"help", SHORT_WITH_VALUE))
                .map(argparse::help_refusal)
        }
    }

    /// The arguments as the C strings `rte_eal_init` receives (copies: see
    /// [`c_argv`](Self::c_argv) for memory to pass to C). An interior NUL byte
    /// gives [`EalError::NulInArgument`] with the offending argument, an argument
    /// that loads code [`EalError::LoadsCode`], and an argument list DPDK would
    /// end the process on instead of returning an error
    /// [`EalError::InvalidArguments`]: `-h`/`--help` on every line and, from
    /// DPDK 25.11 (whose option parser exits on any error), an unknown option,
    /// a missing value, a value given to a flag, or a repeated option that may
    /// appear once.
    pub fn c_args(&self) -> Result<Vec<CString>, EalError> {
        self.check()?;
        self.args
            .iter()
            .map(|a| {
                CString::new(a.as_bytes())
                    .map_err(|_| EalError::NulInArgument(a.to_string_lossy().into_owned()))
            })
            .collect()
    }

    /// The `argc`/`argv` that [`init`](Self::init) passes to `rte_eal_init`:
    /// writable buffers of their own, after the same checks as
    /// [`c_args`](Self::c_args). More than `c_int::MAX` arguments give
    /// [`EalError::InvalidArguments`].
    pub fn c_argv(&self) -> Result<CArgv, EalError> {
        self.check()?;
        CArgv::new(self.args.iter().map(|a| a.as_bytes())).ok_or_else(|| {
            EalError::InvalidArguments {
                args: self.to_string(),
                message: "too many arguments".to_owned(),
            }
        })
    }
}

impl fmt::Display for EalBuilder {
    /// The arguments separated by spaces; bytes that are not UTF-8 show as U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&arg.to_string_lossy())?;
        }
        Ok(())
    }
}

/// `argc` and `argv` for `rte_eal_init`, in memory the C side may write.
///
/// DPDK writes into its argument strings (`--socket-mem 512,512` and
/// `--socket-limit` are split with `rte_strsplit`, which overwrites each `,`
/// with a NUL in place) and permutes the pointer array (getopt, and
/// `argv[optind-1] = prgname`). So every argument, with its NUL, is copied back
/// to back into one byte buffer this value owns, and each pointer of the array
/// (`argc` of them, then NULL) is derived from that buffer's own pointer: what C
/// writes lands in memory that is writable and nobody else's. The caller's
/// strings (an [`EalBuilder`]'s) are never seen by C.
///
/// After `rte_eal_init` returns, DPDK may still hold pointers into the strings
/// (glibc's getopt keeps one into the last option it read; see
/// [`EalBuilder::init`]): once C has seen an `argv`, keep the value alive for the
/// rest of the process (`init` does; with your own call, `std::mem::forget` it).
pub struct CArgv {
    /// Every argument with its NUL, back to back. Never resized after the
    /// pointers were derived, so they stay valid as long as the value lives.
    strings: Vec<u8>,
    /// Where each argument starts in `strings`.
    starts: Vec<usize>,
    /// `argc` pointers into `strings`, then NULL.
    pointers: Vec<*mut c_char>,
}

// SAFETY: the raw pointers point only into `strings`, a heap buffer this value
// owns and moves with it; no method reads or writes through them, so moving the
// whole to another thread is moving a `Vec<u8>`. (Not `Sync`.)
unsafe impl Send for CArgv {}

impl CArgv {
    /// Copies `args` into one buffer; `None` if there are more than `c_int::MAX`.
    /// The caller has checked that no argument contains a NUL byte.
    fn new<'a>(args: impl Iterator<Item = &'a [u8]>) -> Option<CArgv> {
        let mut strings = Vec::new();
        let mut starts = Vec::new();
        for arg in args {
            starts.push(strings.len());
            strings.extend_from_slice(arg);
            strings.push(0);
        }
        c_int::try_from(starts.len()).ok()?;
        // From here on `strings` is never resized: the pointers below stay valid.
        let base = strings.as_mut_ptr();
        let mut pointers: Vec<*mut c_char> = starts
            .iter()
            .map(|&start| base.wrapping_add(start).cast::<c_char>())
            .collect();
        pointers.push(std::ptr::null_mut());
        Some(CArgv {
            strings,
            starts,
            pointers,
        })
    }

    /// `argc`: the number of arguments.
    pub fn argc(&self) -> c_int {
        c_int::try_from(self.starts.len()).expect("checked when built")
    }

    /// `argv`: `argc` pointers to NUL-terminated strings in this value's own
    /// buffer, then NULL. C may write through them (and permute the array) as
    /// long as this value lives and nothing else uses it meanwhile.
    pub fn argv(&mut self) -> *mut *mut c_char {
        self.pointers.as_mut_ptr()
    }

    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no arguments (never, for an [`EalBuilder`]'s).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Argument `index` as it is now in the buffer, from where it started up to
    /// the first NUL: after `rte_strsplit` split `512,512` in place, `512`.
    pub fn arg_bytes(&self, index: usize) -> Option<&[u8]> {
        let rest = &self.strings[*self.starts.get(index)?..];
        rest.split(|&b| b == 0).next()
    }
}

impl fmt::Debug for CArgv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                (0..self.len())
                    .filter_map(|i| self.arg_bytes(i))
                    .map(String::from_utf8_lossy),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    /// Every supported DPDK (22.11 to 25.11) has `rte_vfio_setup_device` in
    /// public, so the default is DPDK's container, unless the build pretends
    /// otherwise (as a 26.11 build will be); the option adds no EAL argument.
    #[test]
    fn vfio_backend_default_follows_the_installed_dpdk() {
        let pretend = option_env!("DPDK_RS_PRETEND_NO_RTE_VFIO") == Some("1");
        let builder = EalBuilder::new();
        let want = if pretend {
            VfioBackend::Crate
        } else {
            VfioBackend::Dpdk
        };
        assert_eq!(builder.vfio_backend, want);
        assert_eq!(VfioBackend::default_for_this_dpdk(), want);
        let chosen = builder.clone().vfio_backend(VfioBackend::Crate);
        assert_eq!(chosen.vfio_backend, VfioBackend::Crate);
        assert_eq!(chosen.args(), builder.args());
    }

    /// Splits the C string at `s` on `,` in place, as DPDK's `rte_strsplit`
    /// does: each separator becomes a NUL. Only raw pointer accesses, no C.
    ///
    /// # Safety
    ///
    /// `s` points to a NUL-terminated string that may be written.
    unsafe fn strsplit_in_place(s: *mut c_char) -> usize {
        let mut pieces = 1;
        let mut i = 0;
        // SAFETY: the caller's string is NUL-terminated; i stays before its NUL.
        while unsafe { *s.add(i) } != 0 {
            // SAFETY: as above, and the caller's memory is writable.
            unsafe {
                if *s.add(i) == b',' as c_char {
                    *s.add(i) = 0;
                    pieces += 1;
                }
            }
            i += 1;
        }
        pieces
    }

    /// Runs under Miri (no C call): the argv `init` passes to DPDK is memory
    /// DPDK may write. With the old `CString::as_ptr().cast_mut()` argv the
    /// writes below are undefined behaviour (a write through a pointer derived
    /// from a shared reference), which Miri reports.
    #[test]
    fn argv_is_writable_and_the_builder_keeps_its_strings() {
        let builder = EalBuilder::new()
            .program_name("app")
            .arg("--socket-mem")
            .arg("512,512,1024")
            .arg("--socket-limit")
            .arg("1,2");
        let before = (builder.args().to_vec(), builder.to_string());
        let mut argv = builder.c_argv().unwrap();
        assert_eq!(argv.argc(), 5);
        let array = argv.argv();
        // SAFETY: array holds argc pointers into argv's buffer, then NULL; argv
        // lives until the end of the test and nothing else uses it meanwhile.
        unsafe {
            assert!((*array.add(5)).is_null());
            assert_eq!(strsplit_in_place(*array.add(2)), 3);
            assert_eq!(strsplit_in_place(*array.add(4)), 2);
            // getopt permutes the array, and DPDK writes argv[optind-1] = prgname.
            array.add(1).swap(array.add(2));
            *array.add(4) = *array;
        }
        assert_eq!(argv.arg_bytes(2), Some(&b"512"[..]));
        assert_eq!(argv.arg_bytes(4), Some(&b"1"[..]));
        assert_eq!(argv.arg_bytes(1), Some(&b"--socket-mem"[..]));
        // The builder's own strings are untouched, for a second init or a message.
        assert_eq!((builder.args().to_vec(), builder.to_string()), before);
        assert_eq!(builder.args()[2], "512,512,1024");
        let again = builder.c_argv().unwrap();
        assert_eq!(again.arg_bytes(2), Some(&b"512,512,1024"[..]));
    }

    #[test]
    fn argv_bytes_are_the_arguments_bytes() {
        let path = OsStr::from_bytes(b"/tmp/dr\xffv\x80.so");
        // SAFETY: nothing is loaded: the builder is only turned into bytes.
        let builder = unsafe { EalBuilder::new().driver_path(Path::new(path)) };
        let mut argv = builder.c_argv().unwrap();
        assert_eq!(argv.arg_bytes(1), Some(&b"-d"[..]));
        assert_eq!(argv.arg_bytes(2), Some(path.as_bytes()));
        assert_eq!(argv.arg_bytes(3), None);
        let array = argv.argv();
        // SAFETY: pointer 2 of argv's array points to a NUL-terminated string in
        // its live buffer.
        let seen = unsafe { std::ffi::CStr::from_ptr(*array.add(2)) };
        assert_eq!(seen.to_bytes(), path.as_bytes());
    }

    #[test]
    fn what_loads_code() {
        for refused in [
            "-d",
            "-d/tmp/x.so",
            "-dx",
            "-d=x",
            "-vd/tmp/x",
            "-hd",
            "-vvd",
            "-vhvd/x",
            "-xd",
            "-?d",
            "--driver-path",
            "--driver-path=/x",
            "--d",
            "--dri",
            "--driver-p=x",
        ] {
            assert!(loads_code(refused.as_bytes()), "{refused}");
        }
        for accepted in [
            "-l",
            "-ld",
            "-l0",
            "-md",
            "-vl0d",
            "-ad/x",
            "d",
            "/tmp/x.so",
            "",
            "-",
            "--",
            "--=d",
            "--vdev",
            "--vdev=-d",
            "--driver-paths",
            "--no-huge",
            "--log-level=d",
            "-v",
            "-h",
        ] {
            assert!(!loads_code(accepted.as_bytes()), "{accepted}");
        }
        assert!(loads_code(b"-v\xffd"));
    }

    #[test]
    fn refusals_are_typed_and_unsafe_methods_pass() {
        let err = EalBuilder::new().arg("-vd/tmp/x").c_args().unwrap_err();
        assert!(
            matches!(err, EalError::LoadsCode { ref arg } if arg == "-vd/tmp/x"),
            "{err}"
        );
        let err = EalBuilder::new().vdev("-dx").c_argv().unwrap_err();
        assert!(
            matches!(err, EalError::LoadsCode { ref arg } if arg == "-dx"),
            "{err}"
        );
        // The program name is never read as an option.
        assert!(EalBuilder::new().program_name("-d").c_args().is_ok());
        // SAFETY: nothing is loaded: the builder is only turned into C strings.
        let unchecked = unsafe {
            EalBuilder::new()
                .unchecked_arg("-d")
                .unchecked_arg("/x.so")
                .driver_path(Path::new("/y.so"))
        };
        let args = unchecked.c_args().unwrap();
        assert_eq!(args.len(), 5);
        // SAFETY: as above.
        let hidden = unsafe { EalBuilder::new().driver_path(Path::new("-d/evil.so")) };
        assert!(matches!(hidden.c_args(), Err(EalError::LoadsCode { .. })));
    }
}
