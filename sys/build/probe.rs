//! Finding DPDK through pkg-config, with one clear message when that fails.
//!
//! This file is also compiled into `tests/probe_messages.rs`, so the messages a user
//! sees are tested against a real pkg-config.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The oldest DPDK these bindings support (the 22.11 LTS line).
pub const MIN_VERSION: (u32, u32) = (22, 11);

/// The DPDK installation found by pkg-config.
#[derive(Debug, Clone)]
pub struct Dpdk {
    /// Full version string, e.g. `22.11.11`.
    pub version: String,
    /// `prefix` variable of `libdpdk.pc`.
    pub prefix: PathBuf,
    /// `-I` directories, already prefixed with `PKG_CONFIG_SYSROOT_DIR` by pkg-config.
    pub include_paths: Vec<PathBuf>,
    /// `-L` directories plus the `libdir` variable.
    pub link_paths: Vec<PathBuf>,
    /// Libraries for dynamic linking (`-l` names).
    pub libs: Vec<String>,
    /// Every token of `pkg-config --cflags libdpdk`, for bindgen and the C compiler
    /// (it carries `-include rte_config.h`, which the pkg-config crate would drop).
    pub cflags: Vec<String>,
    /// Where this DPDK comes from, for the build log and `DEP_DPDK_ORIGIN`.
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Installed under `/usr`, by the distribution's packages.
    Distribution,
    /// Anywhere else: a hand-built or patched DPDK found through `PKG_CONFIG_PATH`.
    CustomPrefix,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Distribution => "distribution",
            Origin::CustomPrefix => "custom-prefix",
        })
    }
}

impl Dpdk {
    /// Version as `YYMMPP` digits like `RTE_VERSION_NUM` without the release field.
    pub fn version_number(&self) -> u32 {
        let (y, m, p) = parse_version(&self.version).unwrap_or((0, 0, 0));
        y * 10000 + m * 100 + p
    }

    pub fn prefix_description(&self) -> String {
        self.prefix.display().to_string()
    }

    /// Looks a header up in the include directories.
    pub fn find_header(&self, name: &str) -> Option<PathBuf> {
        self.include_paths
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    }

    /// `bus_pci_driver.h` is installed only by DPDK builds with the driver SDK enabled.
    pub fn driver_sdk_header(&self) -> Option<PathBuf> {
        self.find_header("bus_pci_driver.h")
    }
}

/// Why DPDK could not be used.
#[derive(Debug)]
pub enum ProbeError {
    /// pkg-config itself is not installed.
    NoPkgConfig(String),
    /// pkg-config runs but knows no `libdpdk`.
    NotFound(String),
    /// Cross-compiling without telling pkg-config where the target's files are.
    CrossNotConfigured(String),
    /// Found, but older than [`MIN_VERSION`].
    TooOld(String),
    /// pkg-config answered something we cannot use.
    Unusable(String),
}

const INSTALL_HINT: &str = "\
  Install DPDK's development files (version 22.11 or newer):
    Debian, Ubuntu:       apt install libdpdk-dev
    Fedora, RHEL, CentOS: dnf install dpdk-devel
  For a DPDK installed under a custom prefix, point pkg-config at its libdpdk.pc:
    PKG_CONFIG_PATH=<prefix>/lib/<multiarch>/pkgconfig cargo build";

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NoPkgConfig(detail) => write!(
                f,
                "dpdk-sys: pkg-config is not installed, so DPDK cannot be found.\n  \
                 Install it (Debian, Ubuntu: apt install pkg-config; Fedora: dnf install pkgconf-pkg-config)\n  \
                 or set PKG_CONFIG to its path.\n  ({detail})"
            ),
            ProbeError::NotFound(detail) => write!(
                f,
                "dpdk-sys: DPDK (pkg-config package `libdpdk`) was not found.\n{INSTALL_HINT}\n  \
                 pkg-config said: {}",
                detail.trim()
            ),
            ProbeError::CrossNotConfigured(detail) => write!(
                f,
                "dpdk-sys: cross-compiling, and pkg-config is not set up for the target.\n  \
                 Set PKG_CONFIG_ALLOW_CROSS=1, PKG_CONFIG_SYSROOT_DIR=<target root> and\n  \
                 PKG_CONFIG_LIBDIR=<target root>/usr/lib/<multiarch>/pkgconfig.\n  ({})",
                detail.trim()
            ),
            ProbeError::TooOld(found) => write!(
                f,
                "dpdk-sys: DPDK {found} was found, but these bindings need {}.{} or newer.\n{INSTALL_HINT}",
                MIN_VERSION.0, MIN_VERSION.1
            ),
            ProbeError::Unusable(detail) => {
                write!(f, "dpdk-sys: pkg-config's answer for libdpdk is unusable: {detail}")
            }
        }
    }
}

/// Parses `YY.MM[.PATCH][-rcN]` into numbers.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let core = text.trim().split(['-', '~', '+']).next()?;
    let mut parts = core.split('.');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    Some((year, month, patch))
}

fn pkg_config_binary() -> String {
    env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned())
}

/// Runs the pkg-config binary for one query; pkg-config reads `PKG_CONFIG_PATH`,
/// `PKG_CONFIG_LIBDIR` and `PKG_CONFIG_SYSROOT_DIR` from the environment itself.
fn query(args: &[&str]) -> Result<String, ProbeError> {
    let binary = pkg_config_binary();
    let output = Command::new(&binary)
        .args(args)
        .output()
        .map_err(|e| ProbeError::NoPkgConfig(format!("running `{binary}`: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        return Err(ProbeError::NotFound(if stderr.trim().is_empty() {
            format!("`{binary} {}` failed", args.join(" "))
        } else {
            stderr
        }));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| ProbeError::Unusable(format!("`{}` printed non-UTF-8", args.join(" "))))
}

/// Finds `libdpdk`. `cross` is true when the target differs from the host.
pub fn find_dpdk(cross: bool) -> Result<Dpdk, ProbeError> {
    if cross && env::var_os("PKG_CONFIG_ALLOW_CROSS").is_none_or(|v| v != "1") {
        return Err(ProbeError::CrossNotConfigured(
            "PKG_CONFIG_ALLOW_CROSS is not 1".to_owned(),
        ));
    }
    // The crate's probe gives the libraries and search paths in its parsed form.
    let library = pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(true)
        .probe("libdpdk")
        .map_err(|err| match err {
            pkg_config::Error::Command { command, cause } => {
                ProbeError::NoPkgConfig(format!("`{command}`: {cause}"))
            }
            pkg_config::Error::CrossCompilation => ProbeError::CrossNotConfigured(err.to_string()),
            other => ProbeError::NotFound(other.to_string()),
        })?;
    let version = library.version.clone();
    match parse_version(&version) {
        Some((y, m, _)) if (y, m) >= MIN_VERSION => {}
        Some(_) => return Err(ProbeError::TooOld(version)),
        None => return Err(ProbeError::Unusable(format!("version `{version}`"))),
    }
    let cflags: Vec<String> = query(&["--cflags", "libdpdk"])?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let prefix = PathBuf::from(query(&["--variable=prefix", "libdpdk"])?.trim());
    let mut link_paths = library.link_paths.clone();
    let libdir = query(&["--variable=libdir", "libdpdk"])?;
    let libdir = sysrooted(Path::new(libdir.trim()));
    if !link_paths.contains(&libdir) {
        link_paths.push(libdir);
    }
    let origin = if unsysrooted(&prefix) == Path::new("/usr") {
        Origin::Distribution
    } else {
        Origin::CustomPrefix
    };
    Ok(Dpdk {
        version,
        prefix,
        include_paths: library.include_paths.clone(),
        link_paths,
        libs: library.libs.clone(),
        cflags,
        origin,
    })
}

/// pkg-config prefixes `-I`/`-L` with the sysroot but not `--variable` answers.
fn sysrooted(path: &Path) -> PathBuf {
    match env::var_os("PKG_CONFIG_SYSROOT_DIR") {
        Some(root) if !root.is_empty() && path.is_absolute() => {
            Path::new(&root).join(path.strip_prefix("/").unwrap_or(path))
        }
        _ => path.to_path_buf(),
    }
}

/// `path` without the `PKG_CONFIG_SYSROOT_DIR` prefix pkg-config may have added.
fn unsysrooted(path: &Path) -> PathBuf {
    match env::var_os("PKG_CONFIG_SYSROOT_DIR") {
        Some(root) if !root.is_empty() => match path.strip_prefix(&root) {
            Ok(rest) => Path::new("/").join(rest),
            Err(_) => path.to_path_buf(),
        },
        _ => path.to_path_buf(),
    }
}

/// Raw `pkg-config --static --libs libdpdk`, for the static link recipe.
pub fn static_libs() -> Result<Vec<String>, ProbeError> {
    Ok(query(&["--static", "--libs", "libdpdk"])?
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}
