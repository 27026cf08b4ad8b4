//! Machine code to text, for `hektor ir --emit asm`.

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};
use std::fmt::Write;

/// Disassembles x86-64 `code` loaded at `address`, one instruction a line:
/// address, bytes, Intel-syntax text.
pub fn disassemble(code: &[u8], address: u64) -> String {
    let mut decoder = Decoder::with_ip(64, code, address, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(10);
    let mut out = String::new();
    let mut text = String::new();
    let mut inst = Instruction::default();
    while decoder.can_decode() {
        decoder.decode_out(&mut inst);
        text.clear();
        formatter.format(&inst, &mut text);
        let start = (inst.ip() - address) as usize;
        let bytes: String = code[start..start + inst.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        writeln!(out, "{:8x}  {:<24} {}", inst.ip() - address, bytes, text).unwrap();
    }
    out
}

/// How many instructions use each mnemonic, e.g. to check that a kernel
/// contains `vfmadd231ps` on `xmm` registers.
pub fn count_matching(listing: &str, needle: &str) -> usize {
    listing.lines().filter(|l| l.contains(needle)).count()
}
