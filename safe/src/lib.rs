//! Safe API over DPDK (work in progress).
