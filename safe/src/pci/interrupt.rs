//! The kinds of interrupt a PCI device raises. A leaf: the EAL's options
//! (`--vfio-intr`), VFIO's eventfds and DPDK's interrupt handles all name them.

/// An interrupt index of a PCI device under vfio-pci.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IrqKind {
    /// The legacy pin interrupt (one vector, level-triggered, shared).
    Intx,
    /// Message-signalled interrupts (1 to 32 vectors).
    Msi,
    /// MSI-X (up to 2048 vectors, each with its own table entry).
    Msix,
}

impl IrqKind {
    /// vfio-pci's index for it.
    pub fn index(self) -> u32 {
        match self {
            IrqKind::Intx => dpdk_sys::VFIO_PCI_INTX_IRQ_INDEX,
            IrqKind::Msi => dpdk_sys::VFIO_PCI_MSI_IRQ_INDEX,
            IrqKind::Msix => dpdk_sys::VFIO_PCI_MSIX_IRQ_INDEX,
        }
    }

    /// The value of the EAL's `--vfio-intr` option that selects it.
    pub(crate) fn eal_option(self) -> &'static str {
        match self {
            IrqKind::Intx => "legacy",
            IrqKind::Msi => "msi",
            IrqKind::Msix => "msix",
        }
    }
}

impl std::fmt::Display for IrqKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IrqKind::Intx => "INTx",
            IrqKind::Msi => "MSI",
            IrqKind::Msix => "MSI-X",
        })
    }
}
