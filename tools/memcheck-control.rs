//! The positive control of tools/memcheck.sh: one byte written just past the
//! end of a 16-byte heap block. valgrind memcheck must report it as an invalid
//! write and the AddressSanitizer build as a heap-buffer-overflow; a pass whose
//! tool does not is not checking, and fails.
fn main() {
    let mut block: Vec<u8> = Vec::with_capacity(16);
    let end = block.as_mut_ptr().wrapping_add(16);
    // SAFETY: none, on purpose: `end` is one past the block, and this write is
    // the out-of-bounds access the checkers must report.
    unsafe { end.write_volatile(0x5a) };
    std::hint::black_box(&mut block);
    println!("control: wrote one byte past a 16-byte heap block");
}
