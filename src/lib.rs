pub use dpdk_safe::*; pub use dpdk_sys as sys;
