//! A minimal loader for the relocatable ELF object LLVM emits for one
//! kernel: lays its code and constant sections out in one mapping, applies
//! the x86-64 relocations a leaf kernel can contain, and makes the mapping
//! executable. Owning the mapping (instead of MCJIT's) means the LLVM
//! context can be dropped right after compilation, the code's exact size is
//! known, and the bytes that run are the bytes `hektor ir` disassembles.

use object::elf;
use object::read::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget};
use object::SectionKind;
use std::collections::HashMap;

/// Executable memory holding one loaded object; unmapped on drop.
pub struct LoadedCode {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is immutable (read + execute) after loading and owned
// exclusively by this value; any thread may execute or read it.
unsafe impl Send for LoadedCode {}
// SAFETY: as above.
unsafe impl Sync for LoadedCode {}

impl Drop for LoadedCode {
    fn drop(&mut self) {
        // SAFETY: `base..base+len` is the mapping made in `load`, unmapped
        // exactly once; the last kernel handle using it is gone.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// Where the kernel landed.
pub struct Loaded {
    pub code: LoadedCode,
    pub entry: *const u8,
    pub size: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Loads `bytes` (an ELF64 x86-64 relocatable object) and returns the
/// function `symbol`.
pub fn load(bytes: &[u8], symbol: &str) -> Result<Loaded, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an object file: {e}"))?;
    // Lay out every section that occupies memory at run time.
    let mut offsets: HashMap<object::SectionIndex, usize> = HashMap::new();
    let mut total = 0usize;
    for s in file.sections() {
        let loaded = matches!(
            s.kind(),
            SectionKind::Text
                | SectionKind::ReadOnlyData
                | SectionKind::ReadOnlyString
                | SectionKind::Data
                | SectionKind::UninitializedData
        );
        if loaded && s.size() > 0 {
            let align = s.align().max(1) as usize;
            total = total.div_ceil(align) * align;
            offsets.insert(s.index(), total);
            total += s.size() as usize;
        }
    }
    let len = total.max(1).div_ceil(page_size()) * page_size();
    // SAFETY: an anonymous private mapping with no address hint; the result
    // is checked against MAP_FAILED before use.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err("mmap of code memory failed".into());
    }
    let code = LoadedCode {
        base: base as *mut u8,
        len,
    };
    // SAFETY: the mapping is `len` bytes, writable, and exclusively ours
    // until it is made executable below.
    let memory = unsafe { std::slice::from_raw_parts_mut(code.base, len) };
    for s in file.sections() {
        if let Some(&off) = offsets.get(&s.index()) {
            if s.kind() != SectionKind::UninitializedData {
                let data = s.data().map_err(|e| e.to_string())?;
                memory[off..off + data.len()].copy_from_slice(data);
            }
        }
    }
    let address_of_section =
        |i: object::SectionIndex| offsets.get(&i).map(|&o| code.base as u64 + o as u64);
    let address_of_symbol = |i: object::SymbolIndex| -> Result<u64, String> {
        let sym = file.symbol_by_index(i).map_err(|e| e.to_string())?;
        match sym.section_index() {
            Some(si) => address_of_section(si)
                .map(|a| a + sym.address())
                .ok_or_else(|| {
                    format!(
                        "symbol {} lives in a section that is not loaded",
                        sym.name().unwrap_or("?")
                    )
                }),
            None => Err(format!(
                "unresolved symbol `{}`: kernels must not call out",
                sym.name().unwrap_or("?")
            )),
        }
    };
    for s in file.sections() {
        let Some(&section_off) = offsets.get(&s.index()) else {
            continue;
        };
        for (offset, reloc) in s.relocations() {
            let target = match reloc.target() {
                RelocationTarget::Symbol(i) => address_of_symbol(i)?,
                RelocationTarget::Section(i) => address_of_section(i)
                    .ok_or("relocation against a section that is not loaded")?,
                _ => return Err("unsupported relocation target".into()),
            };
            let RelocationFlags::Elf { r_type } = reloc.flags() else {
                return Err("not an ELF relocation".into());
            };
            let at = section_off + offset as usize;
            let place = code.base as u64 + at as u64;
            let value = target.wrapping_add(reloc.addend() as u64);
            match r_type {
                elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                    let rel = value.wrapping_sub(place) as i64;
                    let rel =
                        i32::try_from(rel).map_err(|_| "PC-relative relocation out of range")?;
                    memory[at..at + 4].copy_from_slice(&rel.to_le_bytes());
                }
                elf::R_X86_64_64 => memory[at..at + 8].copy_from_slice(&value.to_le_bytes()),
                other => return Err(format!("unsupported x86-64 relocation type {other}")),
            }
        }
    }
    let sym = file
        .symbols()
        .find(|s| {
            s.name() == Ok(symbol) && s.kind() == object::SymbolKind::Text && s.is_definition()
        })
        .ok_or_else(|| format!("symbol `{symbol}` not in the object"))?;
    let entry = address_of_symbol(sym.index())? as *const u8;
    // SAFETY: the mapping is ours; after this call it is read + execute and
    // nothing writes it again.
    if unsafe {
        libc::mprotect(
            code.base as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_EXEC,
        )
    } != 0
    {
        return Err("mprotect(PROT_EXEC) of code memory failed".into());
    }
    Ok(Loaded {
        code,
        entry,
        size: sym.size() as usize,
    })
}
