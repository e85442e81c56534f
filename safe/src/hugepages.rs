//! Hugepages: which sizes the kernel offers, how many pages are reserved and
//! free (in all and per NUMA node), and where hugetlbfs is mounted.
//!
//! DPDK's EAL backs its memory with hugepages unless started with `--no-huge`
//! ([`EalBuilder::no_huge`](crate::eal::EalBuilder::no_huge)); without free
//! pages in a mounted hugetlbfs it fails with a terse "Cannot get hugepage
//! information" or "Cannot init memory". The EAL's errors carry
//! [`HugepageStatus::advice`] in that case, which says how to reserve them.
//!
//! Read from sysfs and procfs, the same files `dpdk-hugepages.py` reads:
//! `/sys/kernel/mm/hugepages/hugepages-<kB>kB/{nr,free,resv,surplus}_hugepages`,
//! `/sys/devices/system/node/node<N>/hugepages/hugepages-<kB>kB/{nr,free}_hugepages`,
//! `/proc/mounts` (type `hugetlbfs`, option `pagesize=`) and `Hugepagesize:` of
//! `/proc/meminfo` (the size of a mount without `pagesize=`). [`HugepageRoots`]
//! points elsewhere for tests.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where the status is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugepageRoots {
    /// `/sys/kernel/mm/hugepages`.
    pub hugepages: PathBuf,
    /// `/sys/devices/system/node`.
    pub nodes: PathBuf,
    /// `/proc/mounts`.
    pub mounts: PathBuf,
    /// `/proc/meminfo`.
    pub meminfo: PathBuf,
}

impl Default for HugepageRoots {
    fn default() -> Self {
        HugepageRoots {
            hugepages: "/sys/kernel/mm/hugepages".into(),
            nodes: "/sys/devices/system/node".into(),
            mounts: "/proc/mounts".into(),
            meminfo: "/proc/meminfo".into(),
        }
    }
}

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HugepageError {
    /// A file or directory could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// A file held something other than what the kernel writes there.
    #[error("{path}: unexpected contents {text:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held (the start of it).
        text: String,
    },
}

/// Pages of one size on one NUMA node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePages {
    /// The NUMA node's number.
    pub node: u32,
    /// Reserved (`nr_hugepages`).
    pub total: u64,
    /// Not in use (`free_hugepages`).
    pub free: u64,
}

/// One page size the kernel offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSize {
    /// The page size in KiB (2048, 1048576...).
    pub size_kib: u64,
    /// Reserved pages (`nr_hugepages`).
    pub total: u64,
    /// Pages not in use (`free_hugepages`).
    pub free: u64,
    /// Pages promised to mappings but not yet faulted in (`resv_hugepages`).
    pub reserved: u64,
    /// Pages above `total` (`surplus_hugepages`).
    pub surplus: u64,
    /// Per NUMA node, where the kernel reports nodes.
    pub nodes: Vec<NodePages>,
}

/// A mounted hugetlbfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugetlbfsMount {
    /// The mount point.
    pub path: PathBuf,
    /// Its page size in KiB (`pagesize=`, else the default size).
    pub page_size_kib: Option<u64>,
}

/// What the kernel offers and what is mounted; see [`hugepage_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HugepageStatus {
    /// By size, smallest first; empty when the kernel has no hugetlb support.
    pub sizes: Vec<PageSize>,
    /// Every mounted hugetlbfs, from `/proc/mounts`.
    pub mounts: Vec<HugetlbfsMount>,
    /// `Hugepagesize:` of `/proc/meminfo`, in KiB.
    pub default_size_kib: Option<u64>,
}

/// The machine's hugepage status.
pub fn hugepage_status() -> Result<HugepageStatus, HugepageError> {
    hugepage_status_at(&HugepageRoots::default())
}

/// The hugepage status read under `roots`.
pub fn hugepage_status_at(roots: &HugepageRoots) -> Result<HugepageStatus, HugepageError> {
    let default_size_kib = match read_optional(&roots.meminfo)? {
        Some(text) => parse_meminfo_size(&text),
        None => None,
    };
    let mounts = match read_optional(&roots.mounts)? {
        Some(text) => parse_mounts(&text, default_size_kib),
        None => Vec::new(),
    };
    let mut sizes = Vec::new();
    for (size_kib, dir) in size_dirs(&roots.hugepages)? {
        let mut nodes = Vec::new();
        for (node, node_dir) in node_dirs(&roots.nodes)? {
            let dir = node_dir.join(format!("hugepages/hugepages-{size_kib}kB"));
            if dir.is_dir() {
                nodes.push(NodePages {
                    node,
                    total: read_count(&dir.join("nr_hugepages"))?,
                    free: read_count(&dir.join("free_hugepages"))?,
                });
            }
        }
        sizes.push(PageSize {
            size_kib,
            total: read_count(&dir.join("nr_hugepages"))?,
            free: read_count(&dir.join("free_hugepages"))?,
            reserved: read_count_or_zero(&dir.join("resv_hugepages"))?,
            surplus: read_count_or_zero(&dir.join("surplus_hugepages"))?,
            nodes,
        });
    }
    sizes.sort_by_key(|s| s.size_kib);
    Ok(HugepageStatus {
        sizes,
        mounts,
        default_size_kib,
    })
}

impl HugepageStatus {
    /// Free pages of `size_kib` in a mounted hugetlbfs of that size.
    pub fn usable_pages(&self, size_kib: u64) -> u64 {
        let mounted = self
            .mounts
            .iter()
            .any(|m| m.page_size_kib == Some(size_kib));
        match self.sizes.iter().find(|s| s.size_kib == size_kib) {
            Some(size) if mounted => size.free,
            _ => 0,
        }
    }

    /// Whether DPDK can get hugepage memory: some size has free pages and a
    /// hugetlbfs mount.
    pub fn usable(&self) -> bool {
        self.sizes.iter().any(|s| self.usable_pages(s.size_kib) > 0)
    }

    /// What to do when no hugepage memory is usable; `None` when some is.
    pub fn advice(&self) -> Option<String> {
        if self.usable() {
            return None;
        }
        if self.sizes.is_empty() {
            return Some(
                "this kernel offers no hugepages (no /sys/kernel/mm/hugepages): \
                 start the EAL with EalBuilder::no_huge, or use a kernel built with \
                 CONFIG_HUGETLBFS"
                    .to_owned(),
            );
        }
        let size = self
            .sizes
            .iter()
            .find(|s| Some(s.size_kib) == self.default_size_kib)
            .unwrap_or(&self.sizes[0]);
        let kib = size.size_kib;
        let mut steps = Vec::new();
        if size.free == 0 {
            // 1 GiB worth of pages, at least one.
            let count = ((1 << 20) / kib).max(1);
            steps.push(format!(
                "reserve {} pages as root: echo {count} > /sys/kernel/mm/hugepages/hugepages-{kib}kB/nr_hugepages \
                 (per NUMA node: /sys/devices/system/node/nodeN/hugepages/hugepages-{kib}kB/nr_hugepages)",
                human_kib(kib)
            ));
        }
        if !self.mounts.iter().any(|m| m.page_size_kib == Some(kib)) {
            steps.push(format!(
                "mount hugetlbfs for them: mkdir -p /dev/hugepages && mount -t hugetlbfs -o pagesize={} nodev /dev/hugepages",
                mount_size(kib)
            ));
        }
        Some(format!(
            "no usable hugepages ({self}): {}; dpdk-hugepages.py --setup 1G does both; \
             or start the EAL without hugepages (EalBuilder::no_huge)",
            steps.join(", then ")
        ))
    }
}

impl fmt::Display for HugepageStatus {
    /// One line: `2 MiB: 0 of 0 free, 1 GiB: 0 of 0 free; hugetlbfs: none mounted`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sizes.is_empty() {
            f.write_str("no hugepage sizes")?;
        }
        for (i, size) in self.sizes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{}: {} of {} free",
                human_kib(size.size_kib),
                size.free,
                size.total
            )?;
            if size.nodes.len() > 1 || size.nodes.iter().any(|n| n.total > 0) {
                let nodes: Vec<String> = size
                    .nodes
                    .iter()
                    .map(|n| format!("node {} {}/{}", n.node, n.free, n.total))
                    .collect();
                write!(f, " ({})", nodes.join(", "))?;
            }
        }
        f.write_str("; hugetlbfs: ")?;
        if self.mounts.is_empty() {
            return f.write_str("none mounted");
        }
        let mounts: Vec<String> = self
            .mounts
            .iter()
            .map(|m| match m.page_size_kib {
                Some(kib) => format!("{} ({})", m.path.display(), human_kib(kib)),
                None => m.path.display().to_string(),
            })
            .collect();
        f.write_str(&mounts.join(", "))
    }
}

/// For the EAL's errors: DPDK's `message`, plus what to do, when it is about
/// hugepage memory and none is usable.
pub(crate) fn explain_eal_failure(message: String) -> String {
    let lower = message.to_ascii_lowercase();
    if !(lower.contains("hugepage") || lower.contains("cannot init memory")) {
        return message;
    }
    match hugepage_status().map(|s| s.advice()) {
        Ok(Some(advice)) => format!("{message}; {advice}"),
        _ => message,
    }
}

fn human_kib(kib: u64) -> String {
    if kib >= 1 << 20 && kib % (1 << 20) == 0 {
        format!("{} GiB", kib >> 20)
    } else if kib >= 1 << 10 && kib % (1 << 10) == 0 {
        format!("{} MiB", kib >> 10)
    } else {
        format!("{kib} KiB")
    }
}

/// A size as hugetlbfs's `pagesize=` option takes it.
fn mount_size(kib: u64) -> String {
    if kib % (1 << 20) == 0 {
        format!("{}G", kib >> 20)
    } else if kib % (1 << 10) == 0 {
        format!("{}M", kib >> 10)
    } else {
        format!("{kib}K")
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, HugepageError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HugepageError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_count(path: &Path) -> Result<u64, HugepageError> {
    let text = std::fs::read_to_string(path).map_err(|source| HugepageError::Read {
        path: path.to_owned(),
        source,
    })?;
    text.trim().parse().map_err(|_| HugepageError::Parse {
        path: path.to_owned(),
        text,
    })
}

fn read_count_or_zero(path: &Path) -> Result<u64, HugepageError> {
    if path.exists() {
        read_count(path)
    } else {
        Ok(0)
    }
}

/// `hugepages-<kB>kB` directories under `dir` (none if `dir` is absent).
fn size_dirs(dir: &Path) -> Result<Vec<(u64, PathBuf)>, HugepageError> {
    list(dir, |name| {
        name.strip_prefix("hugepages-")?
            .strip_suffix("kB")?
            .parse()
            .ok()
    })
}

/// `node<N>` directories under `dir` (none if `dir` is absent).
fn node_dirs(dir: &Path) -> Result<Vec<(u32, PathBuf)>, HugepageError> {
    let mut nodes = list(dir, |name| name.strip_prefix("node")?.parse().ok())?;
    nodes.sort_by_key(|(n, _)| *n);
    Ok(nodes)
}

fn list<T>(
    dir: &Path,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(T, PathBuf)>, HugepageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HugepageError::Read {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| HugepageError::Read {
            path: dir.to_owned(),
            source,
        })?;
        if let Some(value) = entry.file_name().to_str().and_then(&parse) {
            found.push((value, entry.path()));
        }
    }
    Ok(found)
}

/// `Hugepagesize:       2048 kB` of `/proc/meminfo`.
pub(crate) fn parse_meminfo_size(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Hugepagesize:"))?;
    let mut words = line["Hugepagesize:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        _ => None,
    }
}

/// hugetlbfs lines of `/proc/mounts`.
pub(crate) fn parse_mounts(text: &str, default_size_kib: Option<u64>) -> Vec<HugetlbfsMount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (_source, path, fstype, options) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            if fstype != "hugetlbfs" {
                return None;
            }
            let page_size_kib = match options.split(',').find_map(|o| o.strip_prefix("pagesize=")) {
                Some(size) => parse_size_kib(size),
                None => default_size_kib,
            };
            Some(HugetlbfsMount {
                path: PathBuf::from(unescape_mount_path(path)),
                page_size_kib,
            })
        })
        .collect()
}

/// `2M`, `1G`, `2048k` as hugetlbfs prints `pagesize=`, in KiB.
fn parse_size_kib(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let value: u64 = digits.parse().ok()?;
    match unit {
        "K" | "k" => Some(value),
        "M" | "m" => value.checked_mul(1 << 10),
        "G" | "g" => value.checked_mul(1 << 20),
        _ => None,
    }
}

/// `/proc/mounts` writes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_with_and_without_pagesize() {
        let text = "sysfs /sys sysfs rw 0 0\n\
                    hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n\
                    nodev /mnt/huge\\0401G hugetlbfs rw,pagesize=1024M 0 0\n\
                    none /mnt/plain hugetlbfs rw 0 0\n\
                    nodev /mnt/odd hugetlbfs rw,pagesize=12Q 0 0\n\
                    short line\n";
        let mounts = parse_mounts(text, Some(2048));
        let got: Vec<_> = mounts
            .iter()
            .map(|m| (m.path.to_str().unwrap(), m.page_size_kib))
            .collect();
        assert_eq!(
            got,
            [
                ("/dev/hugepages", Some(2048)),
                ("/mnt/huge 1G", Some(1 << 20)),
                ("/mnt/plain", Some(2048)),
                ("/mnt/odd", None)
            ]
        );
    }

    #[test]
    fn meminfo_default_size() {
        assert_eq!(
            parse_meminfo_size("MemTotal: 1 kB\nHugepagesize:       2048 kB\n"),
            Some(2048)
        );
        assert_eq!(parse_meminfo_size("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_meminfo_size("Hugepagesize: lots\n"), None);
        assert_eq!(parse_meminfo_size("Hugepagesize: 2 MB\n"), None);
    }

    #[test]
    fn unescaping_stops_at_bad_escapes() {
        assert_eq!(unescape_mount_path("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_path("/a\\04"), "/a\\04");
        assert_eq!(unescape_mount_path("/a\\999"), "/a\\999");
        assert_eq!(unescape_mount_path("/a\\777"), "/a\\777");
    }
}
