//! EAL argument building: any setter input either becomes C strings or gives
//! the NUL-byte error naming the argument; nothing panics.
#![no_main]

use dpdk_safe::eal::{EalBuilder, EalError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, u64, Vec<u32>)| {
    let (spec, raw, bytes, cores) = input;
    let builder = EalBuilder::new()
        .vdev(&spec)
        .arg(&raw)
        .no_huge(bytes)
        .lcores(cores)
        .file_prefix(&spec);
    match builder.c_args() {
        Ok(args) => assert_eq!(args.len(), builder.args().len()),
        Err(EalError::NulInArgument(arg)) => assert!(arg.contains('\0')),
        Err(other) => panic!("unexpected {other}"),
    }
});
