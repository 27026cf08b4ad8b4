//! The index file: one file, loaded by mapping it, verified before use.
//!
//! ```text
//! offset 0     header (4096 bytes, little-endian; see `Header`)
//!              magic "HEKTORIX", format version, byte-order tag, header
//!              checksum, parameters, node count, entry point, WAL
//!              checkpoint and lineage, label offset, and a table of six
//!              sections (offset, length, xxh3 checksum each)
//! page-aligned vectors   count × stride f32 (f16 in f16 indexes), the kernels' row layout
//! page-aligned level0    count × (1 + 2m) u32: count word, then ids
//! page-aligned levels    count u8
//! page-aligned upper     for each node above level 0, in id order,
//!                        level × (1 + m) u32
//! page-aligned flags     count u8 (1 = linked, 2 = deleted)
//! page-aligned labels    count u32, strictly increasing
//! ```
//!
//! Vectors and level 0, nearly all the bytes, are read straight into the
//! index's regions (huge-page memory): the file is the in-memory layout, so
//! there is no parsing pass, and inserts after loading write to memory,
//! never to the file (see `IndexFile::read_into` for why this reads rather
//! than maps).
//! Every section's checksum is verified, and then the graph itself: every
//! link names an existing node at a level it has, so that a file that is
//! corrupt (or made to crash us) is an error, never an out-of-bounds read.
//! Files are written to a temporary name, synced, and renamed over the
//! old one, so an index file is always either the old or the new one.

use super::graph::MAX_LEVEL;
use super::{
    EntryPoint, HnswIndex, IndexError, IndexKernels, IndexParams, Traversal, DELETED, LINKED,
};
use hektor_kernels::Metric;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use thiserror::Error;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

pub const MAGIC: [u8; 8] = *b"HEKTORIX";
pub const FORMAT_VERSION: u32 = 2;
/// Written as a little-endian u32; read back on a big-endian machine it
/// would be 0x0D0C0B0A.
const BYTE_ORDER_TAG: u32 = 0x0A0B_0C0D;
const HEADER_BYTES: usize = 4096;
/// Sections start on a page boundary (so that a later version may map
/// them, and so that reads are page-aligned).
const ALIGN: u64 = 4096;
const SECTION_NAMES: [&str; SECTIONS] = ["vectors", "level0", "levels", "upper", "flags", "labels"];
const SECTIONS: usize = 6;
const CHECKSUM_AT: usize = 16;
const SECTIONS_AT: usize = 80;
const LINEAGE_AT: usize = SECTIONS_AT + 24 * SECTIONS;
const LABEL_OFFSET_AT: usize = LINEAGE_AT + 8;
const COMPACTED_AT: usize = LABEL_OFFSET_AT + 8;

#[derive(Debug, Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a Hektor index (the file does not start with the HEKTORIX magic)")]
    Foreign { path: PathBuf },
    #[error(
        "{path}: index format version {found}; this Hektor reads version {FORMAT_VERSION}: rebuild the index"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("{path}: written with a different byte order than this machine's")]
    ByteOrder { path: PathBuf },
    #[error("{path}: truncated: {what} needs {need} bytes, the file has {have}")]
    Truncated {
        path: PathBuf,
        what: String,
        need: u64,
        have: u64,
    },
    #[error("{path}: the {section} checksum does not match: the file is corrupt")]
    Checksum {
        path: PathBuf,
        section: &'static str,
    },
    #[error("{path}: corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error("{path}: {source}")]
    Index { path: PathBuf, source: IndexError },
}

#[derive(Debug, Clone, Copy, Default)]
struct Section {
    offset: u64,
    len: u64,
    checksum: u64,
}

#[derive(Debug, Clone)]
struct Header {
    metric: Metric,
    /// Codes are not stored: they are encoded again from the vectors on
    /// load (deterministic, and a fraction of a pass over the f32 rows).
    traversal: Traversal,
    dim: usize,
    stride: usize,
    m: usize,
    ef_construction: usize,
    seed: u64,
    count: usize,
    entry: Option<EntryPoint>,
    checkpoint: u64,
    /// Random, fixed when an index is created: ties its write-ahead log
    /// to it, so a log is never replayed onto another index.
    lineage: u64,
    /// `label - id` for nodes inserted since the last compaction.
    label_offset: u64,
    /// Nodes whose labels come from before the last compaction.
    compacted: usize,
    sections: [Section; SECTIONS],
}

/// An index file whose header has been read and verified; [`load`] maps
/// the rest.
///
/// [`load`]: IndexFile::load
pub struct IndexFile {
    path: PathBuf,
    file: File,
    file_len: u64,
    header: Header,
}

fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::L2 => 0,
        Metric::Ip => 1,
        _ => 2,
    }
}

fn metric_from_code(c: u8) -> Option<Metric> {
    [Metric::L2, Metric::Ip, Metric::Cosine]
        .get(c as usize)
        .copied()
}

/// Little-endian field access into the header page.
struct Fields<'a>(&'a [u8]);
impl Fields<'_> {
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("4 bytes"))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }
}

fn header_checksum(page: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(&page[..CHECKSUM_AT]);
    h.update(&[0; 8]);
    h.update(&page[CHECKSUM_AT + 8..]);
    h.digest()
}

impl Header {
    fn encode(&self) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_BYTES];
        let mut put = |at: usize, bytes: &[u8]| p[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &MAGIC);
        put(8, &FORMAT_VERSION.to_le_bytes());
        put(12, &BYTE_ORDER_TAG.to_le_bytes());
        let traversal = match self.traversal {
            Traversal::F32 => 0,
            Traversal::Sq8 => 1,
            Traversal::F16 => 2,
            Traversal::Bit => 3,
        };
        put(24, &[metric_code(self.metric), traversal, 0, 0]);
        put(28, &(self.dim as u32).to_le_bytes());
        put(32, &(self.stride as u32).to_le_bytes());
        put(36, &(self.m as u32).to_le_bytes());
        put(40, &(self.ef_construction as u32).to_le_bytes());
        let (entry_id, entry_level) = self.entry.map_or((u64::MAX, u32::MAX), |e| {
            (u64::from(e.id), u32::from(e.level))
        });
        put(44, &entry_level.to_le_bytes());
        put(48, &self.seed.to_le_bytes());
        put(56, &(self.count as u64).to_le_bytes());
        put(64, &entry_id.to_le_bytes());
        put(72, &self.checkpoint.to_le_bytes());
        put(LINEAGE_AT, &self.lineage.to_le_bytes());
        put(LABEL_OFFSET_AT, &self.label_offset.to_le_bytes());
        put(COMPACTED_AT, &(self.compacted as u64).to_le_bytes());
        for (i, s) in self.sections.iter().enumerate() {
            let at = SECTIONS_AT + 24 * i;
            put(at, &s.offset.to_le_bytes());
            put(at + 8, &s.len.to_le_bytes());
            put(at + 16, &s.checksum.to_le_bytes());
        }
        let sum = header_checksum(&p);
        p[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        p
    }

    fn decode(path: &Path, page: &[u8]) -> Result<Header, FileError> {
        let f = Fields(page);
        let corrupt = |what: String| FileError::Corrupt {
            path: path.into(),
            what,
        };
        if page[..8] != MAGIC {
            return Err(FileError::Foreign { path: path.into() });
        }
        if f.u32(12) != BYTE_ORDER_TAG {
            return Err(FileError::ByteOrder { path: path.into() });
        }
        if f.u32(8) != FORMAT_VERSION {
            return Err(FileError::Version {
                path: path.into(),
                found: f.u32(8),
            });
        }
        if f.u64(CHECKSUM_AT) != header_checksum(page) {
            return Err(FileError::Checksum {
                path: path.into(),
                section: "header",
            });
        }
        let metric = metric_from_code(page[24])
            .ok_or_else(|| corrupt(format!("unknown metric code {}", page[24])))?;
        let traversal = match page[25] {
            0 => Traversal::F32,
            1 => Traversal::Sq8,
            2 => Traversal::F16,
            3 => Traversal::Bit,
            t => return Err(corrupt(format!("unknown traversal code {t}"))),
        };
        let dim = f.u32(28) as usize;
        let stride = f.u32(32) as usize;
        let m = f.u32(36) as usize;
        let count = f.u64(56);
        if !(1..=hektor_kernels::MAX_DIM).contains(&dim) {
            return Err(corrupt(format!("dimension {dim}")));
        }
        let (dtype, kernel_metric) = super::row_format(metric, traversal);
        let extra = kernel_metric.extra_slots();
        let line = 64 / dtype.size_bytes();
        if stride < dim + extra || !stride.is_multiple_of(line) || stride > dim + extra + 4096 {
            return Err(corrupt(format!("row stride {stride} for dimension {dim}")));
        }
        if count > u64::from(u32::MAX) {
            return Err(corrupt(format!("{count} nodes")));
        }
        let count = count as usize;
        let entry = match (f.u64(64), f.u32(44)) {
            (u64::MAX, u32::MAX) if count == 0 => None,
            (id, level) if id < count as u64 && level <= u32::from(MAX_LEVEL) => Some(EntryPoint {
                id: id as u32,
                level: level as u8,
            }),
            (id, level) => {
                return Err(corrupt(format!(
                    "entry point {id} at level {level} in an index of {count}"
                )))
            }
        };
        let compacted = f.u64(COMPACTED_AT);
        if compacted > count as u64 {
            return Err(corrupt(format!("{compacted} compacted nodes of {count}")));
        }
        let mut sections = [Section::default(); SECTIONS];
        for (i, s) in sections.iter_mut().enumerate() {
            let at = SECTIONS_AT + 24 * i;
            *s = Section {
                offset: f.u64(at),
                len: f.u64(at + 8),
                checksum: f.u64(at + 16),
            };
        }
        Ok(Header {
            metric,
            traversal,
            dim,
            stride,
            m,
            ef_construction: f.u32(40) as usize,
            seed: f.u64(48),
            count,
            entry,
            checkpoint: f.u64(72),
            lineage: f.u64(LINEAGE_AT),
            label_offset: f.u64(LABEL_OFFSET_AT),
            compacted: compacted as usize,
            sections,
        })
    }

    /// Bytes each section must hold, given the count (upper's is checked
    /// once the levels are known).
    fn expected_lengths(&self) -> Option<[u64; SECTIONS]> {
        let n = self.count as u64;
        Some([
            n.checked_mul(self.stride as u64)?.checked_mul(
                super::row_format(self.metric, self.traversal)
                    .0
                    .size_bytes() as u64,
            )?,
            n.checked_mul(1 + 2 * self.m as u64)?.checked_mul(4)?,
            n,
            self.sections[3].len,
            n,
            n.checked_mul(4)?,
        ])
    }
}

impl IndexFile {
    /// Opens `path` and verifies its header; nothing else is read yet.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.into(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        if file_len < MAGIC.len() as u64 {
            return Err(if file_len == 0 {
                FileError::Corrupt {
                    path: path.into(),
                    what: "the file is empty".into(),
                }
            } else {
                FileError::Foreign { path: path.into() }
            });
        }
        let mut page = vec![0u8; HEADER_BYTES.min(file_len as usize)];
        file.read_exact_at(&mut page, 0).map_err(io)?;
        if page[..8] != MAGIC {
            return Err(FileError::Foreign { path: path.into() });
        }
        if page.len() < HEADER_BYTES {
            return Err(FileError::Truncated {
                path: path.into(),
                what: "the header".into(),
                need: HEADER_BYTES as u64,
                have: file_len,
            });
        }
        let header = Header::decode(path, &page)?;
        let expected = header
            .expected_lengths()
            .ok_or_else(|| FileError::Corrupt {
                path: path.into(),
                what: "section sizes overflow".into(),
            })?;
        let mut previous_end = HEADER_BYTES as u64;
        for (i, s) in header.sections.iter().enumerate() {
            let name = SECTION_NAMES[i];
            if s.len != expected[i] {
                return Err(FileError::Corrupt {
                    path: path.into(),
                    what: format!(
                        "the {name} section has {} bytes, expected {}",
                        s.len, expected[i]
                    ),
                });
            }
            if !s.offset.is_multiple_of(ALIGN) || s.offset < previous_end {
                return Err(FileError::Corrupt {
                    path: path.into(),
                    what: format!("the {name} section starts at {}", s.offset),
                });
            }
            let end = s.offset.saturating_add(s.len.next_multiple_of(ALIGN));
            if end > file_len {
                return Err(FileError::Truncated {
                    path: path.into(),
                    what: format!("the {name} section"),
                    need: end,
                    have: file_len,
                });
            }
            previous_end = end;
        }
        Ok(IndexFile {
            path: path.into(),
            file,
            file_len,
            header,
        })
    }

    pub fn metric(&self) -> Metric {
        self.header.metric
    }

    pub fn dim(&self) -> usize {
        self.header.dim
    }

    /// Nodes in the file (deleted ones included).
    pub fn len(&self) -> usize {
        self.header.count
    }

    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// The last write-ahead-log sequence number this file includes.
    pub fn checkpoint(&self) -> u64 {
        self.header.checkpoint
    }

    /// The identity the index's write-ahead log must carry.
    pub fn lineage(&self) -> u64 {
        self.header.lineage
    }

    pub fn file_bytes(&self) -> u64 {
        self.file_len
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> IndexParams {
        IndexParams {
            metric: self.header.metric,
            dim: self.header.dim,
            m: self.header.m,
            ef_construction: self.header.ef_construction,
            max_elements: self.header.count.max(1),
            seed: self.header.seed,
            traversal: self.header.traversal,
        }
    }

    fn corrupt(&self, what: String) -> FileError {
        FileError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }

    fn read_section(&self, i: usize) -> Result<Vec<u8>, FileError> {
        let s = self.header.sections[i];
        let mut bytes = vec![0u8; s.len as usize];
        self.file
            .read_exact_at(&mut bytes, s.offset)
            .map_err(|source| FileError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.check_sum(i, &bytes)?;
        Ok(bytes)
    }

    fn check_sum(&self, i: usize, bytes: &[u8]) -> Result<(), FileError> {
        if xxh3_64(bytes) == self.header.sections[i].checksum {
            Ok(())
        } else {
            Err(FileError::Checksum {
                path: self.path.clone(),
                section: SECTION_NAMES[i],
            })
        }
    }

    /// Reads section `i` into the start of `region` and verifies its
    /// checksum. The bytes go straight into the region's memory, with no
    /// parsing: the format is the in-memory layout.
    ///
    /// Why read rather than map: a writable private mapping is copied page
    /// by page anyway when it is populated (the kernel breaks COW for every
    /// page), into 4 KiB pages; reading into the region's anonymous memory
    /// gets transparent huge pages instead, which the random row accesses
    /// of search need. Measured on 1M × 128 (ef 32/64): p50 63/99 µs read
    /// into huge pages against 84/135 µs mapped.
    fn read_into<T: crate::memory::Zeroable>(
        &self,
        i: usize,
        region: &mut crate::memory::Region<T>,
    ) -> Result<(), FileError> {
        let s = self.header.sections[i];
        let len = s.len as usize;
        if len > region.capacity() * std::mem::size_of::<T>() {
            return Err(self.corrupt(format!(
                "the {} section is larger than its region",
                SECTION_NAMES[i]
            )));
        }
        // SAFETY: the region holds at least `len` bytes (checked above),
        // `&mut` makes the access unique, and every T is valid for any
        // bytes the file holds (u32 and f32 words; the graph is validated
        // before use).
        let dest = unsafe { std::slice::from_raw_parts_mut(region.as_ptr().cast::<u8>(), len) };
        self.file
            .read_exact_at(dest, s.offset)
            .map_err(|source| FileError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.check_sum(i, dest)
    }

    /// The index, on `kernels` (compiled for this file's metric and
    /// dimension), with room for `max_elements` vectors, and at least
    /// twice the file's (address space is reserved, not memory, so
    /// headroom for inserts is free).
    pub fn load(self, kernels: IndexKernels, max_elements: usize) -> Result<HnswIndex, FileError> {
        let h = self.header.clone();
        let headroom = h.count.saturating_mul(2).saturating_add(1024);
        let params = IndexParams {
            max_elements: max_elements.max(headroom).min(u32::MAX as usize),
            ..self.params()
        };
        let mut index = HnswIndex::with_stride(params, kernels, h.stride).map_err(|source| {
            FileError::Index {
                path: self.path.clone(),
                source,
            }
        })?;
        let n = h.count;
        if n > 0 {
            self.read_into(0, index.store.region_mut())?;
            self.read_into(1, index.graph.level0_mut())?;
        }
        let levels = self.read_section(2)?;
        let upper = self.read_section(3)?;
        let flags = self.read_section(4)?;
        let labels = self.read_section(5)?;

        let m = h.m;
        let words_per_level = 1 + m;
        let need: u64 = levels
            .iter()
            .map(|&l| l as u64 * words_per_level as u64 * 4)
            .sum();
        if let Some(bad) = levels.iter().position(|&l| l > MAX_LEVEL) {
            return Err(self.corrupt(format!("node {bad} has level {}", levels[bad])));
        }
        if need != upper.len() as u64 {
            return Err(self.corrupt(format!(
                "the upper section has {} bytes, the levels need {need}",
                upper.len()
            )));
        }
        let mut words = upper
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        for (id, &level) in levels.iter().enumerate() {
            index.graph.init_node(id as u32, level);
            for l in 1..=level {
                let list: Vec<u32> = words.by_ref().take(words_per_level).collect();
                let len = list[0] as usize;
                if len > m {
                    return Err(self.corrupt(format!("node {id} has {len} links at level {l}")));
                }
                for &nb in &list[1..=len] {
                    if nb as usize >= n || levels[nb as usize] < l {
                        return Err(self.corrupt(format!(
                            "node {id} links to {nb} at level {l}, which does not exist there"
                        )));
                    }
                }
                index.graph.links(id as u32, l).set(&list[1..=len]);
            }
        }
        for id in 0..n as u32 {
            let links = index.graph.links(id, 0);
            if links_count_word(&index, id) > links.capacity() {
                return Err(self.corrupt(format!("node {id} has too many level-0 links")));
            }
            if let Some(nb) = links.iter().find(|&nb| nb as usize >= n) {
                return Err(self.corrupt(format!("node {id} links to {nb}, past the last node")));
            }
        }
        let mut deleted = 0;
        for (id, &f) in flags.iter().enumerate() {
            if f & LINKED == 0 || f & !(LINKED | DELETED) != 0 {
                return Err(self.corrupt(format!("node {id} has flags {f:#x}")));
            }
            deleted += u32::from(f & DELETED != 0);
            index.flags[id].store(f, Ordering::Release);
        }
        let next_label = n as u64 + h.label_offset;
        let mut previous = None;
        for (id, bytes) in labels.chunks_exact(4).enumerate() {
            let label = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
            let in_order = previous.is_none_or(|p| label > p);
            let fresh = id >= h.compacted;
            if !in_order
                || u64::from(label) >= next_label
                || (fresh && u64::from(label) != id as u64 + h.label_offset)
            {
                return Err(self.corrupt(format!("node {id} has label {label}")));
            }
            previous = Some(label);
            index.set_label(id as u32, label);
        }
        index.label_offset = h.label_offset;
        index.compacted = h.compacted;
        if let Some(e) = h.entry {
            let top = levels.iter().copied().max().unwrap_or(0);
            if levels[e.id as usize] != e.level || e.level != top {
                return Err(self.corrupt(format!(
                    "entry point {} at level {} but the top level is {top}",
                    e.id, e.level
                )));
            }
            index.entry.store(e.pack(), Ordering::Release);
        }
        if let Some(codes) = &mut index.codes {
            // Bit codes centre on the mean of the vectors loaded (whatever
            // the build centred on: codes are derived, never stored).
            let store = &index.store;
            // SAFETY: rows `0..n` were just read; nothing writes them.
            codes.centre_on((0..n as u32).map(|id| unsafe { store.components(id) }));
        }
        if let Some(codes) = &index.codes {
            for id in 0..n as u32 {
                // SAFETY: the index is not shared yet, and row `id` was
                // just read; nothing else writes code rows.
                unsafe { codes.write(id, &index.store.components(id)) }.map_err(|source| {
                    FileError::Index {
                        path: self.path.clone(),
                        source,
                    }
                })?;
            }
        }
        index.allocated.store(n, Ordering::Release);
        index.linked.store(n, Ordering::Release);
        index.deleted_count.store(deleted, Ordering::Release);
        Ok(index)
    }
}

/// The raw count word of node `id`'s level-0 list (which `Links::len`
/// clamps to the capacity).
fn links_count_word(index: &HnswIndex, id: u32) -> usize {
    let start = id as usize * (1 + index.graph.m0());
    index.graph.level0()[start].load(Ordering::Acquire) as usize
}

/// Streams sections to the file, each page-aligned, hashing as it goes.
struct SectionWriter<W: Write> {
    out: W,
    offset: u64,
    hasher: Xxh3,
    start: u64,
}

impl<W: Write> SectionWriter<W> {
    fn begin(&mut self) {
        self.hasher = Xxh3::new();
        self.start = self.offset;
    }
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.offset += bytes.len() as u64;
        self.out.write_all(bytes)
    }
    fn end(&mut self) -> io::Result<Section> {
        let section = Section {
            offset: self.start,
            len: self.offset - self.start,
            checksum: self.hasher.digest(),
        };
        let pad = self.offset.next_multiple_of(ALIGN) - self.offset;
        self.out.write_all(&vec![0u8; pad as usize])?;
        self.offset += pad;
        Ok(section)
    }
}

impl HnswIndex {
    /// Writes the index to `path` atomically (a temporary file, synced,
    /// renamed over `path`, directory synced), recording that it includes
    /// the write-ahead log of `lineage` up to `checkpoint` (0 and any
    /// lineage for an index without a log). No insert may run meanwhile
    /// (the caller serialises them); searches may.
    pub fn save(&self, path: &Path, checkpoint: u64, lineage: u64) -> Result<(), FileError> {
        let io = |source| FileError::Io {
            path: path.into(),
            source,
        };
        let n = self.len();
        if self.allocated() != n {
            return Err(FileError::Index {
                path: path.into(),
                source: IndexError::Parameter("cannot save while inserts are running".into()),
            });
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| -> io::Result<()> {
            let file = File::create(&tmp)?;
            let mut w = SectionWriter {
                out: BufWriter::with_capacity(1 << 20, &file),
                offset: 0,
                hasher: Xxh3::new(),
                start: 0,
            };
            w.out.write_all(&[0u8; HEADER_BYTES])?;
            w.offset = HEADER_BYTES as u64;
            let mut sections = [Section::default(); SECTIONS];

            w.begin();
            let stride = self.store.stride();
            // SAFETY: rows 0..n are written and, with no insert running,
            // not being written.
            let rows = unsafe {
                std::slice::from_raw_parts(self.store.base().cast::<u8>(), self.store.bytes(n))
            };
            for chunk in rows.chunks(1 << 20) {
                w.write(chunk)?;
            }
            sections[0] = w.end()?;

            w.begin();
            let words = n * (1 + self.graph.m0());
            let mut buf = Vec::with_capacity(1 << 16);
            for chunk in self.graph.level0().as_slice()[..words].chunks(1 << 14) {
                buf.clear();
                for word in chunk {
                    buf.extend_from_slice(&word.load(Ordering::Acquire).to_le_bytes());
                }
                w.write(&buf)?;
            }
            sections[1] = w.end()?;

            w.begin();
            let levels: Vec<u8> = (0..n as u32).map(|id| self.graph.level(id)).collect();
            w.write(&levels)?;
            sections[2] = w.end()?;

            w.begin();
            for (id, &level) in levels.iter().enumerate() {
                for l in 1..=level {
                    let links = self.graph.links(id as u32, l);
                    let ids: Vec<u32> = links.iter().collect();
                    buf.clear();
                    buf.extend_from_slice(&(ids.len() as u32).to_le_bytes());
                    for i in 0..links.capacity() {
                        let id = ids.get(i).copied().unwrap_or(0);
                        buf.extend_from_slice(&id.to_le_bytes());
                    }
                    w.write(&buf)?;
                }
            }
            sections[3] = w.end()?;

            w.begin();
            let flags: Vec<u8> = (0..n)
                .map(|id| self.flags[id].load(Ordering::Acquire))
                .collect();
            w.write(&flags)?;
            sections[4] = w.end()?;

            w.begin();
            buf.clear();
            for id in 0..n as u32 {
                buf.extend_from_slice(&self.label_of(id).to_le_bytes());
            }
            w.write(&buf)?;
            sections[5] = w.end()?;
            w.out.flush()?;
            drop(w);

            let header = Header {
                metric: self.params.metric,
                traversal: self.params.traversal,
                dim: self.params.dim,
                stride,
                m: self.params.m,
                ef_construction: self.params.ef_construction,
                seed: self.params.seed,
                count: n,
                entry: self.entry_point(),
                checkpoint,
                lineage,
                label_offset: self.label_offset,
                compacted: self.compacted,
                sections,
            };
            file.write_all_at(&header.encode(), 0)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_and_its_checksum_guards_every_byte() {
        let h = Header {
            metric: Metric::Cosine,
            traversal: Traversal::Sq8,
            dim: 100,
            stride: 112,
            m: 16,
            ef_construction: 200,
            seed: 9,
            count: 3,
            entry: Some(EntryPoint { id: 2, level: 1 }),
            checkpoint: 77,
            lineage: 5,
            label_offset: 0,
            compacted: 0,
            sections: [Section::default(); SECTIONS],
        };
        let page = h.encode();
        let back = Header::decode(Path::new("x"), &page).unwrap();
        assert_eq!(
            (back.dim, back.stride, back.count, back.checkpoint),
            (100, 112, 3, 77)
        );
        assert_eq!(back.entry, h.entry);
        for at in [20, 28, 60, 100, 4000] {
            let mut bad = page.clone();
            bad[at] ^= 1;
            assert!(
                matches!(
                    Header::decode(Path::new("x"), &bad),
                    Err(FileError::Checksum { .. })
                ),
                "flipping byte {at}"
            );
        }
    }
}
