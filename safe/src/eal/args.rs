//! Building the EAL's command line from typed settings.

use std::ffi::CString;
use std::fmt;
use std::path::Path;

use crate::eal::EalError;
use crate::pci::PciAddress;

/// DPDK log levels (`RTE_LOG_*`), lowest number = most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Emergency = 1,
    Alert = 2,
    Critical = 3,
    Error = 4,
    Warning = 5,
    Notice = 6,
    Info = 7,
    Debug = 8,
}

/// How DPDK gives addresses to devices for DMA (`--iova-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IovaMode {
    PhysicalAddress,
    VirtualAddress,
}

/// The arguments for `rte_eal_init`, built with typed setters.
///
/// ```
/// use dpdk_safe::eal::{EalBuilder, LogLevel};
/// let builder = EalBuilder::new()
///     .lcores([0])
///     .no_huge(64 << 20)
///     .no_pci()
///     .vdev("net_null0")
///     .log_level(LogLevel::Warning);
/// assert_eq!(builder.args()[1..], ["-l", "0", "--no-huge", "-m", "64", "--no-pci", "--vdev", "net_null0", "--log-level", "5"]);
/// ```
#[derive(Debug, Clone)]
pub struct EalBuilder {
    args: Vec<String>,
    pub(crate) log_level: Option<LogLevel>,
}

impl Default for EalBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EalBuilder {
    /// Starts with only the program name (`dpdk-rs`).
    pub fn new() -> Self {
        EalBuilder {
            args: vec!["dpdk-rs".to_owned()],
            log_level: None,
        }
    }

    fn push<I, S>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(items.into_iter().map(Into::into));
        self
    }

    /// The program name DPDK sees as `argv[0]` (used in its log lines).
    pub fn program_name(mut self, name: &str) -> Self {
        self.args[0] = name.to_owned();
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

    /// IOVA mode (`--iova-mode pa|va`).
    pub fn iova_mode(self, mode: IovaMode) -> Self {
        let mode = match mode {
            IovaMode::PhysicalAddress => "pa",
            IovaMode::VirtualAddress => "va",
        };
        self.push(["--iova-mode", mode])
    }

    /// Load a driver shared object or every driver in a directory (`-d PATH`).
    pub fn driver_path(self, path: &Path) -> Self {
        self.push(["-d".to_owned(), path.display().to_string()])
    }

    /// Escape hatch: any EAL option, passed through as it is.
    pub fn arg(self, arg: &str) -> Self {
        self.push([arg])
    }

    /// The command line as it will be passed, `argv[0]` included.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The arguments as the C strings `rte_eal_init` receives; an interior NUL
    /// byte gives [`EalError::NulInArgument`] with the offending argument.
    pub fn c_args(&self) -> Result<Vec<CString>, EalError> {
        self.args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| EalError::NulInArgument(a.clone())))
            .collect()
    }
}

impl fmt::Display for EalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.args.join(" "))
    }
}
