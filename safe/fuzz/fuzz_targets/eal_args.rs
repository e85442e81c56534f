//! EAL argument building: any setter input either becomes C strings, byte for
//! byte, or gives a typed error naming the argument (a NUL byte, or an option
//! that would load code, or one DPDK would end the process on, such as a
//! getopt reading of `-h`); nothing panics.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use dpdk_safe::{EalBuilder, EalError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, Vec<u8>, u64, Vec<u32>)| {
    let (spec, raw, bytes, cores) = input;
    let raw = OsStr::from_bytes(&raw);
    let builder = EalBuilder::new()
        .vdev(&spec)
        .arg(raw)
        .no_huge(bytes)
        .lcores(cores)
        .file_prefix(&spec);
    match builder.c_args() {
        Ok(args) => {
            assert_eq!(args.len(), builder.args().len());
            let argv = builder.c_argv().expect("the same checks as c_args");
            for (i, (c, arg)) in args.iter().zip(builder.args()).enumerate() {
                assert_eq!(c.as_bytes(), arg.as_bytes());
                assert_eq!(argv.arg_bytes(i), Some(arg.as_bytes()));
            }
        }
        Err(EalError::NulInArgument(arg)) => assert!(arg.contains('\0')),
        Err(EalError::LoadsCode { arg }) => assert!(arg.starts_with('-'), "{arg}"),
        // DPDK would exit the process: -h/--help on every line (here, 22.11:
        // a cluster or prefix getopt reads as help), any bad option on 25.11.
        Err(EalError::InvalidArguments { message, .. }) => {
            assert!(message.contains("exit the process"), "{message}")
        }
        Err(other) => panic!("unexpected {other}"),
    }
});
