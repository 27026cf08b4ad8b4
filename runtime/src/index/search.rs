//! Searching one layer of the graph: greedy descent above level 0, and the
//! ef-bounded best-first search of the HNSW paper (Algorithm 2) on the
//! layer a query or an insert works in.
//!
//! Each expanded node's unvisited neighbours are collected first and their
//! distances computed by one call of the JIT `gather` kernel, which
//! prefetches the rows ahead of the one it is on; the heaps are then
//! updated from the batch.

use super::graph::{Graph, Links};
use super::visited::Visited;
use super::HnswIndex;
use crate::aligned::AlignedBuf;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A node and its distance to the query. Inside the index `id` is the
/// node id; in search results it is the vector's label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    pub id: u32,
    pub distance: f32,
}

impl Eq for Neighbor {}

impl Ord for Neighbor {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Neighbor {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-thread working memory of searches and inserts, reused across calls
/// so that a query allocates nothing.
pub struct Scratch {
    pub(super) visited: Visited,
    pub(super) candidates: BinaryHeap<Reverse<Neighbor>>,
    pub(super) top: BinaryHeap<Neighbor>,
    pub(super) batch_ids: Vec<u32>,
    pub(super) batch_distances: Vec<f32>,
    /// The prepared query (kernel row layout, cache-line aligned; f32 or
    /// f16 elements as the index stores them).
    pub(super) query: AlignedBuf<u64>,
    /// The query's code row, for indexes that traverse on codes.
    pub(super) query_codes: AlignedBuf<u64>,
    /// Sorted results of the last layer search (inserts).
    pub(super) found: Vec<Neighbor>,
    pub(super) selected: Vec<Neighbor>,
    pub(super) selected_ids: Vec<u32>,
    /// An insert's chosen neighbours, per level.
    pub(super) chosen: Vec<Vec<u32>>,
}

impl Scratch {
    pub(super) fn new(
        row_words: usize,
        code_row_words: usize,
        max_nodes: usize,
        max_degree: usize,
    ) -> Result<Self, crate::memory::MemoryError> {
        Ok(Scratch {
            visited: Visited::new(max_nodes)?,
            candidates: BinaryHeap::new(),
            top: BinaryHeap::new(),
            batch_ids: Vec::with_capacity(max_degree + 1),
            batch_distances: vec![0.0; max_degree + 1],
            query: AlignedBuf::zeroed(row_words),
            query_codes: AlignedBuf::zeroed(code_row_words),
            found: Vec::new(),
            selected: Vec::new(),
            selected_ids: Vec::new(),
            chosen: Vec::new(),
        })
    }
}

/// Where a layer search measures distances: the f32 rows, or compact
/// codes (a different query encoding and kernel, the same graph).
pub(super) trait Space {
    /// Distances from the space's query to `ids`, into `out[..ids.len()]`.
    ///
    /// # Safety
    /// Every id is an allocated node whose rows are written.
    unsafe fn distances(&self, ids: &[u32], out: &mut Vec<f32>);
    /// Starts loading `id`'s row.
    fn prefetch(&self, id: u32);
}

/// Where a layer search reads neighbour lists: the graph's own level, or
/// a copy of level 0 laid out another way
/// ([`super::interleaved::InterleavedLevel0`]).
pub(super) trait Adjacency {
    /// Node `id`'s list.
    fn links(&self, id: u32) -> Links<'_>;
    /// Where that list starts (computing it reads nothing).
    fn links_start(&self, id: u32) -> *const i8;
}

/// One level of the graph.
pub(super) struct GraphLevel<'a> {
    pub graph: &'a Graph,
    pub level: u8,
}

impl Adjacency for GraphLevel<'_> {
    #[inline]
    fn links(&self, id: u32) -> Links<'_> {
        self.graph.links(id, self.level)
    }
    #[inline]
    fn links_start(&self, id: u32) -> *const i8 {
        self.graph.links_start(id, self.level).cast()
    }
}

/// The f32 rows, with a query in kernel layout.
pub(super) struct Floats<'a> {
    pub index: &'a HnswIndex,
    pub query: *const f32,
}

impl Space for Floats<'_> {
    #[inline]
    unsafe fn distances(&self, ids: &[u32], out: &mut Vec<f32>) {
        // SAFETY: forwarded to the caller.
        unsafe { self.index.distances(self.query, ids, out) }
    }
    #[inline]
    fn prefetch(&self, id: u32) {
        // The first line only: the gather kernel prefetches whole rows
        // ahead of the one it is on. (Prefetching 2, 4 or every line of
        // each row here measured no faster at dim 384, and 18% slower for
        // every line.)
        prefetch(self.index.store.row_start(id).cast());
    }
}

/// Code rows ([`super::codes::CodeStore`]) of element type `T`, with the
/// query encoded the same way.
pub(super) struct Codes<'a, T> {
    pub store: &'a super::codes::CodeStore,
    pub kernel: &'a hektor_codegen::Kernel,
    pub query: *const T,
}

impl<T: hektor_kernels::Element> Space for Codes<'_, T> {
    #[inline]
    unsafe fn distances(&self, ids: &[u32], out: &mut Vec<f32>) {
        if out.len() < ids.len() {
            out.resize(ids.len(), 0.0);
        }
        // SAFETY: the query holds a full encoded row, every id's code row
        // is written (codes are written before a node is linked), the
        // stride is whole elements of `T` (rows are cache-line multiples),
        // and `out` was just sized; it is a vector of its own, so it
        // overlaps none of the inputs.
        unsafe {
            self.kernel.gather_unchecked(
                self.query,
                self.store.base::<T>(),
                self.store.stride_bytes() / std::mem::size_of::<T>(),
                ids,
                out.as_mut_ptr(),
            )
        }
    }
    #[inline]
    fn prefetch(&self, id: u32) {
        prefetch(self.store.row_start(id));
    }
}

/// Asks for the cache line at `p` without waiting for it. Never faults,
/// whatever the address.
#[inline(always)]
pub(super) fn prefetch(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it reads nothing architecturally and
    // cannot fault, even on an invalid address. SSE is baseline on x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl HnswIndex {
    /// Distances from `query` (a row in kernel layout) to `ids`, into
    /// `out[..ids.len()]`.
    ///
    /// # Safety
    /// `query` points at `row_len` readable f32s; every id is an allocated
    /// node whose row is written.
    #[inline]
    pub(super) unsafe fn distances(&self, query: *const f32, ids: &[u32], out: &mut Vec<f32>) {
        if out.len() < ids.len() {
            out.resize(ids.len(), 0.0);
        }
        debug_assert!(ids.iter().all(|&id| (id as usize) < self.allocated()));
        // SAFETY: the caller guarantees the query and rows are readable and
        // `out` was just sized for every id; it is a vector of its own, so
        // it overlaps none of the inputs.
        unsafe {
            self.kernels.gather.gather_unchecked(
                query,
                self.store.base(),
                self.store.stride(),
                ids,
                out.as_mut_ptr(),
            )
        }
    }

    /// # Safety
    /// As for [`HnswIndex::distances`], for one id.
    pub(super) unsafe fn distance_to(&self, query: *const f32, id: u32, s: &mut Scratch) -> f32 {
        s.batch_ids.clear();
        s.batch_ids.push(id);
        // SAFETY: forwarded to the caller.
        unsafe { self.distances(query, &s.batch_ids, &mut s.batch_distances) };
        s.batch_distances[0]
    }

    /// Walks `level` greedily from `from` to a local minimum.
    ///
    /// # Safety
    /// As for [`HnswIndex::distances`]; `from` is a node at `level` or above.
    pub(super) unsafe fn greedy(
        &self,
        query: *const f32,
        mut from: Neighbor,
        level: u8,
        s: &mut Scratch,
    ) -> Neighbor {
        loop {
            s.batch_ids.clear();
            s.batch_ids.extend(self.graph.links(from.id, level).iter());
            if s.batch_ids.is_empty() {
                return from;
            }
            // SAFETY: linked ids are written nodes; forwarded to the caller.
            unsafe { self.distances(query, &s.batch_ids, &mut s.batch_distances) };
            let best = s
                .batch_ids
                .iter()
                .zip(&s.batch_distances)
                .map(|(&id, &distance)| Neighbor { id, distance })
                .min();
            match best {
                Some(b) if b < from => from = b,
                _ => return from,
            }
        }
    }

    /// The `ef` nodes nearest `query` that best-first search finds on
    /// `level` from `entry`, left in `s.top` (a max-heap). Deleted nodes
    /// are walked through but, when `skip_deleted`, never returned.
    ///
    /// # Safety
    /// As for [`HnswIndex::distances`]; `entry` is a node at `level` or
    /// above.
    pub(super) unsafe fn search_layer<S: Space>(
        &self,
        space: &S,
        entry: Neighbor,
        ef: usize,
        level: u8,
        skip_deleted: bool,
        s: &mut Scratch,
    ) {
        let graph = GraphLevel {
            graph: &self.graph,
            level,
        };
        // SAFETY: forwarded to the caller.
        unsafe { self.search_lists(space, &graph, entry, ef, skip_deleted, s) }
    }

    /// [`HnswIndex::search_layer`] over the lists of `lists`.
    ///
    /// # Safety
    /// As for [`HnswIndex::search_layer`]; every id in `lists` is a written
    /// node.
    pub(super) unsafe fn search_lists<S: Space, A: Adjacency>(
        &self,
        space: &S,
        lists: &A,
        entry: Neighbor,
        ef: usize,
        skip_deleted: bool,
        s: &mut Scratch,
    ) {
        // Without deletes (the common case) no node's flags need reading.
        let skip_deleted = skip_deleted && self.has_deletes();
        s.visited.reset();
        s.top.clear();
        s.candidates.clear();
        s.visited.insert(entry.id);
        s.candidates.push(Reverse(entry));
        if !(skip_deleted && self.is_deleted_node(entry.id)) {
            s.top.push(entry);
        }
        let mut bound = s.top.peek().map_or(f32::INFINITY, |t| t.distance);
        while let Some(Reverse(nearest)) = s.candidates.pop() {
            if nearest.distance > bound && s.top.len() >= ef {
                break;
            }
            // The next candidate's list will be read right after this
            // batch: start loading it now.
            if let Some(Reverse(next)) = s.candidates.peek() {
                prefetch(lists.links_start(next.id));
            }
            s.batch_ids.clear();
            for id in lists.links(nearest.id).iter() {
                if s.visited.insert(id) {
                    s.batch_ids.push(id);
                    // Every row's first line in flight at once: the gather
                    // kernel's own prefetch then covers the rest of each row.
                    space.prefetch(id);
                }
            }
            if s.batch_ids.is_empty() {
                continue;
            }
            // SAFETY: linked ids are written nodes; forwarded to the caller.
            unsafe { space.distances(&s.batch_ids, &mut s.batch_distances) };
            for (&id, &distance) in s.batch_ids.iter().zip(&s.batch_distances) {
                if s.top.len() < ef || distance < bound {
                    let n = Neighbor { id, distance };
                    s.candidates.push(Reverse(n));
                    if !(skip_deleted && self.is_deleted_node(id)) {
                        s.top.push(n);
                        if s.top.len() > ef {
                            s.top.pop();
                        }
                    }
                    bound = s.top.peek().map_or(f32::INFINITY, |t| t.distance);
                }
            }
        }
    }
}
