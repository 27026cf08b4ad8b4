//! Hektor's HNSW index (Malkov & Yashunin, 2016), on JIT kernels.
//!
//! - [`store`]: the vectors, one cache-line-aligned row per node, in the
//!   layout the kernels read.
//! - [`graph`]: adjacency; level 0 in one flat array of fixed-size slots.
//! - [`search`] and [`insert`]: the algorithms, every distance through the
//!   index's verified `gather` kernel.
//! - [`build`]: a parallel bulk build with progress.
//!
//! Searches and inserts run concurrently from any number of threads
//! (`&self` everywhere): rows and lists are published before they can be
//! reached, lists are atomics, and memory never moves (see
//! [`crate::memory`]). Deletes are tombstones: a deleted node still routes
//! searches but is never returned.

mod build;
mod codes;
mod file;
mod graph;
mod insert;
mod interleaved;
mod kernels;
mod rows;
mod search;
mod store;
mod visited;

pub use build::{BuildProgress, PROGRESS_EVERY};
pub use codes::code_kernel;
pub use file::{FileError, IndexFile, FORMAT_VERSION};
pub use interleaved::InterleavedIndex;
pub use kernels::IndexKernels;
use search::{Codes, Floats, Space};
pub use search::{Neighbor, Scratch};
pub use store::row_format;

use crate::memory::{MemoryError, Region};
use codes::CodeStore;
use graph::Graph;
use hektor_kernels::Metric;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use store::VectorStore;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IndexError {
    #[error("vector has {got} components, the index has dimension {want}")]
    Dimension { got: usize, want: usize },
    #[error(
        "component {index} of the vector is {value}: only finite values can be indexed or searched"
    )]
    NotFinite { index: usize, value: f32 },
    #[error("row {row}, component {index} is {value}: only finite values can be indexed")]
    RowNotFinite {
        row: usize,
        index: usize,
        value: f32,
    },
    #[error("the index is full ({max} vectors); create it with a larger max_elements")]
    Full { max: usize },
    #[error("an index of {rows} vectors does not fit in the address space")]
    TooLarge { rows: usize },
    #[error("no vector has id {id} (the index holds {len})")]
    UnknownId { id: u32, len: usize },
    #[error("vector {id} is already deleted")]
    AlreadyDeleted { id: u32 },
    #[error("cannot quantize the vector: {0}")]
    Quantize(String),
    #[error("invalid parameter: {0}")]
    Parameter(String),
    #[error("the index's kernels do not match it: {0}")]
    Kernels(String),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// A searchable view of an index: the index itself, or an interleaved
/// copy of its level 0 ([`InterleavedIndex`]). What a server's worker or a
/// benchmark loop is generic over.
pub trait Search {
    /// Working memory for one thread's searches.
    fn scratch(&self) -> Result<Scratch, IndexError>;
    /// The `k` nearest live vectors to `query`, nearest first, into `out`
    /// (see [`HnswIndex::search_into`]).
    fn search_into(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        s: &mut Scratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError>;
}

impl Search for HnswIndex {
    fn scratch(&self) -> Result<Scratch, IndexError> {
        HnswIndex::scratch(self)
    }
    fn search_into(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        s: &mut Scratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        HnswIndex::search_into(self, query, k, ef, s, out)
    }
}

/// What an index is built with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexParams {
    pub metric: Metric,
    pub dim: usize,
    /// Links per node above level 0 (2·m at level 0).
    pub m: usize,
    pub ef_construction: usize,
    /// Most vectors the index will ever hold: address space is reserved for
    /// it up front, memory is used only for what is inserted.
    pub max_elements: usize,
    /// Seeds the level draw.
    pub seed: u64,
    /// What graph search walks on.
    pub traversal: Traversal,
}

/// What graph search computes distances on. The graph is always built on
/// the f32 vectors, and results always carry exact f32 distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Traversal {
    /// The f32 rows.
    #[default]
    F32,
    /// SQ8 codes (`i8`, per-vector scale and offset) on the `i8` gather
    /// kernel; the `ef` best candidates are re-ranked with exact f32
    /// distances. A quarter of the bytes per visited node.
    Sq8,
    /// The rows themselves are `f16` (cosine rows normalized), walked on
    /// the `f16` gather kernel: half the memory and half the bytes per
    /// visited node. No f32 copy is kept, so distances are those of the
    /// f16 values (queries rounded to f16 too), and no re-rank happens.
    F16,
    /// One sign bit per component (around the data's mean) on the
    /// Hamming gather kernel, re-ranked like SQ8. A thirty-second of the
    /// bytes per visited node, and far less information.
    Bit,
}

impl Traversal {
    pub const ALL: [Traversal; 4] = [
        Traversal::F32,
        Traversal::Sq8,
        Traversal::F16,
        Traversal::Bit,
    ];

    /// The name `--dtype` takes.
    pub fn name(self) -> &'static str {
        match self {
            Traversal::F32 => "f32",
            Traversal::Sq8 => "sq8",
            Traversal::F16 => "f16",
            Traversal::Bit => "bit",
        }
    }
}

impl std::fmt::Display for Traversal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl IndexParams {
    pub fn new(metric: Metric, dim: usize) -> Self {
        IndexParams {
            metric,
            dim,
            m: 16,
            ef_construction: 200,
            max_elements: 1 << 20,
            seed: 1,
            traversal: Traversal::F32,
        }
    }

    fn check(&self) -> Result<(), IndexError> {
        let bad = |m: String| Err(IndexError::Parameter(m));
        if !(2..=256).contains(&self.m) {
            return bad(format!("m = {} (expected 2..=256)", self.m));
        }
        if self.ef_construction == 0 || self.ef_construction > 65_536 {
            return bad(format!(
                "ef_construction = {} (expected 1..=65536)",
                self.ef_construction
            ));
        }
        if self.max_elements == 0 || self.max_elements > u32::MAX as usize {
            return bad(format!(
                "max_elements = {} (expected 1..={})",
                self.max_elements,
                u32::MAX
            ));
        }
        if self.metric == Metric::CosineNorms {
            return bad("metric cosine_norms is a storage form; ask for cosine".into());
        }
        Ok(())
    }
}

const LINKED: u8 = 1;
const DELETED: u8 = 2;

/// The entry point: the node searches start from, and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntryPoint {
    id: u32,
    level: u8,
}

impl EntryPoint {
    /// Packed in one word so readers see id and level together; 0 = none.
    fn pack(self) -> u64 {
        (u64::from(self.level) + 1) << 32 | u64::from(self.id)
    }

    fn unpack(word: u64) -> Option<Self> {
        (word != 0).then(|| EntryPoint {
            id: word as u32,
            level: ((word >> 32) - 1) as u8,
        })
    }
}

pub struct HnswIndex {
    params: IndexParams,
    /// 1 / ln(m): the level distribution's scale.
    level_scale: f64,
    kernels: IndexKernels,
    store: VectorStore,
    /// Code rows, for every traversal but [`Traversal::F32`].
    codes: Option<CodeStore>,
    graph: Graph,
    /// Per node: [`LINKED`] once its row and lists are in place, then
    /// [`DELETED`] when deleted.
    flags: Region<AtomicU8>,
    /// Per node: the label users know it by. Labels increase with node
    /// ids; until a compaction removes nodes they equal the ids.
    labels: Region<AtomicU32>,
    /// `label - id` for every node inserted after the last compaction.
    label_offset: u64,
    /// Nodes `0..compacted` carry labels from before a compaction (sorted,
    /// with gaps), found by binary search.
    compacted: usize,
    /// Ids handed out (rows written or being written).
    allocated: AtomicUsize,
    /// Nodes fully linked.
    linked: AtomicUsize,
    deleted_count: AtomicU32,
    entry: AtomicU64,
    entry_lock: Mutex<()>,
}

impl HnswIndex {
    /// An empty index on `kernels`, which must be the index's metric and
    /// dimension (from [`IndexKernels::compile`]).
    pub fn new(params: IndexParams, kernels: IndexKernels) -> Result<Self, IndexError> {
        let (dtype, _) = row_format(params.metric, params.traversal);
        let stride = VectorStore::default_stride(kernels.row_len(), dtype);
        Self::with_stride(params, kernels, stride)
    }

    /// An empty index whose rows are `stride` elements apart (an index
    /// file's stride, which may exceed what these kernels would choose).
    fn with_stride(
        params: IndexParams,
        kernels: IndexKernels,
        stride: usize,
    ) -> Result<Self, IndexError> {
        params.check()?;
        let (dtype, want) = row_format(params.metric, params.traversal);
        for k in [&kernels.gather, &kernels.pair] {
            let spec = k.spec();
            if spec.metric != want || spec.dim != params.dim || spec.dtype != dtype {
                return Err(IndexError::Kernels(format!(
                    "kernel {spec} for an index of {want}.{dtype}.d{}",
                    params.dim
                )));
            }
        }
        let codes = match (codes::code_kernel(params.traversal, params.metric), &kernels.codes) {
            (None, _) => None,
            (Some((dtype, metric)), Some(k))
                if k.spec().dtype == dtype && k.spec().metric == metric && k.spec().dim == params.dim =>
            {
                Some(CodeStore::new(
                    params.traversal,
                    params.metric,
                    params.dim,
                    k.row_len(),
                    params.max_elements,
                )?)
            }
            (Some((dtype, metric)), _) => {
                return Err(IndexError::Kernels(format!(
                    "{} traversal needs the {metric}.{dtype}.d{} gather kernel (IndexKernels::compile_for)",
                    params.traversal, params.dim
                )))
            }
        };
        if stride < kernels.row_len() {
            return Err(IndexError::Kernels(format!(
                "kernels read {} elements per row, rows are {stride} apart",
                kernels.row_len()
            )));
        }
        let store = VectorStore::new(
            params.metric,
            params.traversal,
            params.dim,
            kernels.row_len(),
            stride,
            params.max_elements,
        )?;
        Ok(HnswIndex {
            level_scale: 1.0 / (params.m as f64).ln(),
            graph: Graph::new(params.m, params.max_elements)?,
            flags: Region::reserve(params.max_elements)?,
            labels: Region::reserve(params.max_elements)?,
            label_offset: 0,
            compacted: 0,
            store,
            codes,
            kernels,
            params,
            allocated: AtomicUsize::new(0),
            linked: AtomicUsize::new(0),
            deleted_count: AtomicU32::new(0),
            entry: AtomicU64::new(0),
            entry_lock: Mutex::new(()),
        })
    }

    pub fn params(&self) -> &IndexParams {
        &self.params
    }

    pub fn kernels(&self) -> &IndexKernels {
        &self.kernels
    }

    /// Vectors inserted (deleted ones included: ids are never reused).
    pub fn len(&self) -> usize {
        self.linked.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vectors not deleted.
    pub fn live(&self) -> usize {
        self.len() - self.deleted_count.load(Ordering::Acquire) as usize
    }

    fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Acquire)
    }

    /// Working memory for one thread's searches and inserts.
    pub fn scratch(&self) -> Result<Scratch, IndexError> {
        Ok(Scratch::new(
            self.store.bytes(1).div_ceil(8),
            self.codes.as_ref().map_or(0, |c| c.stride_bytes() / 8),
            self.params.max_elements,
            self.graph.m0() + 1,
        )?)
    }

    fn entry_point(&self) -> Option<EntryPoint> {
        EntryPoint::unpack(self.entry.load(Ordering::Acquire))
    }

    /// Checks that `v` could be inserted or searched: the index's
    /// dimension, finite values, and values its rows can hold (f16).
    pub fn check_vector(&self, v: &[f32]) -> Result<(), IndexError> {
        if v.len() != self.params.dim {
            return Err(IndexError::Dimension {
                got: v.len(),
                want: self.params.dim,
            });
        }
        if let Some(index) = v.iter().position(|x| !x.is_finite()) {
            return Err(IndexError::NotFinite {
                index,
                value: v[index],
            });
        }
        self.store.check(v)
    }

    /// Reserves `count` consecutive ids, or fails if the index is full.
    fn allocate(&self, count: usize) -> Result<u32, IndexError> {
        let max = self.params.max_elements;
        self.allocated
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                n.checked_add(count).filter(|&end| end <= max)
            })
            .map(|first| first as u32)
            .map_err(|_| IndexError::Full { max })
    }

    /// Inserts `vector`, returning its label (labels count up from 0 and
    /// are never reused). Safe to call from many threads, and while
    /// searches run.
    pub fn insert(&self, vector: &[f32], s: &mut Scratch) -> Result<u32, IndexError> {
        self.check_vector(vector)?;
        let id = self.allocate(1)?;
        let label = self.label_for_new(id)?;
        // SAFETY: `allocate` handed `id` to this call alone, and nothing
        // links to it yet.
        unsafe { self.write_rows(id, vector)? };
        self.set_label(id, label);
        self.link_node(id, s);
        self.mark_linked(id);
        Ok(label)
    }

    /// Writes node `id`'s f32 row and its codes (if it has them).
    ///
    /// # Safety
    /// As for [`VectorStore::write`].
    unsafe fn write_rows(&self, id: u32, vector: &[f32]) -> Result<(), IndexError> {
        // SAFETY: forwarded to the caller.
        unsafe {
            self.store.write(id, vector)?;
            match &self.codes {
                Some(codes) => codes.write(id, vector),
                None => Ok(()),
            }
        }
    }

    /// The label a node inserted now at `id` gets.
    fn label_for_new(&self, id: u32) -> Result<u32, IndexError> {
        u32::try_from(u64::from(id) + self.label_offset).map_err(|_| IndexError::Full {
            max: u32::MAX as usize,
        })
    }

    /// Written before the node is linked: a search that reaches the node
    /// reads its label after seeing its id (Acquire), so sees this.
    fn set_label(&self, id: u32, label: u32) {
        self.labels[id as usize].store(label, Ordering::Release);
    }

    #[inline]
    fn label_of(&self, id: u32) -> u32 {
        self.labels[id as usize].load(Ordering::Acquire)
    }

    /// The node labelled `label`, if it is fully inserted.
    fn node_of(&self, label: u32) -> Option<u32> {
        let id = u64::from(label)
            .checked_sub(self.label_offset)
            .filter(|&id| id < self.allocated() as u64)
            .map(|id| id as u32);
        let id = match id {
            Some(id) if id as usize >= self.compacted && self.label_of(id) == label => id,
            _ => {
                let prefix = &self.labels.as_slice()[..self.compacted];
                let i = prefix
                    .binary_search_by_key(&label, |l| l.load(Ordering::Acquire))
                    .ok()?;
                i as u32
            }
        };
        self.is_linked(id).then_some(id)
    }

    fn mark_linked(&self, id: u32) {
        self.flags[id as usize].fetch_or(LINKED, Ordering::AcqRel);
        self.linked.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `id` names a vector that is fully inserted.
    fn is_linked(&self, id: u32) -> bool {
        (id as usize) < self.allocated()
            && self.flags[id as usize].load(Ordering::Acquire) & LINKED != 0
    }

    fn unknown(&self, label: u32) -> IndexError {
        IndexError::UnknownId {
            id: label,
            len: self.len(),
        }
    }

    /// Whether [`HnswIndex::delete`] of `label` would succeed now.
    pub fn check_delete(&self, label: u32) -> Result<(), IndexError> {
        let id = self.node_of(label).ok_or_else(|| self.unknown(label))?;
        if self.is_deleted_node(id) {
            return Err(IndexError::AlreadyDeleted { id: label });
        }
        Ok(())
    }

    /// The label the next single insert gets (when no other insert races
    /// it).
    pub fn next_label(&self) -> u64 {
        self.allocated() as u64 + self.label_offset
    }

    /// Whether another vector fits.
    pub fn is_full(&self) -> bool {
        self.allocated() >= self.params.max_elements
    }

    /// Marks `label` deleted: searches stop returning it at once.
    pub fn delete(&self, label: u32) -> Result<(), IndexError> {
        let id = self.node_of(label).ok_or_else(|| self.unknown(label))?;
        if self.flags[id as usize].fetch_or(DELETED, Ordering::AcqRel) & DELETED != 0 {
            return Err(IndexError::AlreadyDeleted { id: label });
        }
        self.deleted_count.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Whether any vector was ever deleted.
    #[inline]
    fn has_deletes(&self) -> bool {
        self.deleted_count.load(Ordering::Relaxed) > 0
    }

    /// Whether `label` was deleted (false for labels not in the index).
    pub fn is_deleted(&self, label: u32) -> bool {
        self.node_of(label)
            .is_some_and(|id| self.is_deleted_node(id))
    }

    #[inline]
    fn is_deleted_node(&self, id: u32) -> bool {
        self.flags[id as usize].load(Ordering::Acquire) & DELETED != 0
    }

    /// The `k` nearest live vectors to `query`, nearest first, searching
    /// with a candidate list of `max(ef, k)`. Results go to `out`
    /// (cleared first), so a warm scratch and `out` make a query
    /// allocation-free.
    pub fn search_into(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        s: &mut Scratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        self.search_frame(query, k, s, out, |q, nearest, s| {
            let ef = ef.max(k);
            // SAFETY: the frame's contract: `q` is the prepared query and
            // `nearest` a written node.
            unsafe {
                match (&self.codes, &self.kernels.codes) {
                    (Some(store), Some(kernel)) => {
                        store.encode(query, &mut s.query_codes)?;
                        let query = s.query_codes.as_ptr();
                        match store.traversal() {
                            Traversal::Sq8 => {
                                let query = query.cast::<i8>();
                                self.search_codes(
                                    &Codes {
                                        store,
                                        kernel,
                                        query,
                                    },
                                    nearest,
                                    ef,
                                    s,
                                )
                            }
                            Traversal::Bit => self.search_codes(
                                &Codes {
                                    store,
                                    kernel,
                                    query,
                                },
                                nearest,
                                ef,
                                s,
                            ),
                            Traversal::F32 | Traversal::F16 => {
                                unreachable!("{} indexes have no code store", store.traversal())
                            }
                        }
                        self.rerank(q, s);
                    }
                    _ => {
                        let space = Floats {
                            index: self,
                            query: q,
                        };
                        self.search_layer(&space, nearest, ef, 0, true, s);
                    }
                }
            }
            Ok(())
        })
    }

    /// What every search does around its level-0 step: checks the query,
    /// prepares it, descends the upper levels to the node nearest it, calls
    /// `level0(prepared query, that node, scratch)`, which leaves its
    /// candidates in `s.top`, and turns the best `k` into labelled results.
    ///
    /// `level0` gets a pointer to the prepared f32 query (`row_len`
    /// elements, valid for the call) and a written node.
    pub(super) fn search_frame(
        &self,
        query: &[f32],
        k: usize,
        s: &mut Scratch,
        out: &mut Vec<Neighbor>,
        level0: impl FnOnce(*const f32, Neighbor, &mut Scratch) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        out.clear();
        self.check_vector(query)?;
        let Some(entry) = self.entry_point() else {
            return Ok(());
        };
        if k == 0 {
            return Ok(());
        }
        self.store.encode(query, &mut s.query)?;
        let q = s.query.as_ptr().cast::<f32>();
        // SAFETY: `q` is the prepared query of `row_len` elements, and every
        // id reached (entry point, links) is a written node.
        let nearest = unsafe {
            let mut nearest = Neighbor {
                id: entry.id,
                distance: self.distance_to(q, entry.id, s),
            };
            for level in (1..=entry.level).rev() {
                nearest = self.greedy(q, nearest, level, s);
            }
            nearest
        };
        level0(q, nearest, s)?;
        while s.top.len() > k {
            s.top.pop();
        }
        out.extend(s.top.drain());
        out.sort_unstable();
        for n in out.iter_mut() {
            n.id = self.label_of(n.id);
        }
        Ok(())
    }

    /// Level 0 on codes, from `nearest` (found on the f32 upper levels).
    ///
    /// # Safety
    /// As for [`HnswIndex::search_layer`].
    unsafe fn search_codes<S: Space>(
        &self,
        space: &S,
        mut nearest: Neighbor,
        ef: usize,
        s: &mut Scratch,
    ) {
        s.batch_ids.clear();
        s.batch_ids.push(nearest.id);
        // SAFETY: forwarded to the caller.
        unsafe {
            space.distances(&s.batch_ids, &mut s.batch_distances);
            nearest.distance = s.batch_distances[0];
            self.search_layer(space, nearest, ef, 0, true, s);
        }
    }

    /// Replaces the approximate (code) distances of the candidates in
    /// `s.top` with exact f32 ones.
    ///
    /// # Safety
    /// `query` is the prepared f32 query; the candidates are written nodes.
    unsafe fn rerank(&self, query: *const f32, s: &mut Scratch) {
        s.batch_ids.clear();
        s.batch_ids.extend(s.top.drain().map(|n| n.id));
        // SAFETY: forwarded to the caller.
        unsafe { self.distances(query, &s.batch_ids, &mut s.batch_distances) };
        s.top.extend(
            s.batch_ids
                .iter()
                .zip(&s.batch_distances)
                .map(|(&id, &distance)| Neighbor { id, distance }),
        );
    }

    /// [`HnswIndex::search_into`], allocating the result.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        s: &mut Scratch,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let mut out = Vec::with_capacity(k);
        self.search_into(query, k, ef, s, &mut out)?;
        Ok(out)
    }

    /// The labels of every live (inserted, not deleted) vector, in
    /// increasing order.
    pub fn live_labels(&self) -> Vec<u32> {
        (0..self.allocated() as u32)
            .filter(|&id| self.is_linked(id) && !self.is_deleted_node(id))
            .map(|id| self.label_of(id))
            .collect()
    }

    /// The stored components of the vector labelled `label`: as given for
    /// f32 indexes; for f16 indexes the stored values (normalized, for
    /// cosine) widened to f32.
    pub fn vector(&self, label: u32) -> Result<Vec<f32>, IndexError> {
        let id = self.node_of(label).ok_or_else(|| self.unknown(label))?;
        // SAFETY: a linked node's row is written and never rewritten.
        Ok(unsafe { self.store.components(id) }.into_owned())
    }

    /// Bytes of memory the vectors and the graph occupy.
    pub fn memory_bytes(&self) -> usize {
        let n = self.len();
        let codes = self.codes.as_ref().map_or(0, |c| n * c.stride_bytes());
        // Flags and labels: 1 + 4 bytes a node.
        self.store.bytes(n) + codes + self.graph.bytes(n) + 5 * n
    }
}
