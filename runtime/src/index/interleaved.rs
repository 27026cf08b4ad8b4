//! The other level-0 layout, kept so the choice stays measured: each
//! node's neighbour list and its row in one block, as hnswlib lays out its
//! level 0 (`[count | m0 slots | row]`), here with the list padded to a
//! cache line so that rows stay aligned:
//!
//! ```text
//! block i:  count | slot₀ … slot_{m0−1} | pad to 64 B | row i (stride f32s)
//! ```
//!
//! Hektor's index keeps lists and rows in separate arrays
//! ([`super::graph`], [`super::store`]). Interleaving saves the separate
//! miss on a candidate's list when its row was read recently, at the price
//! of spreading rows further apart. `hektor search --layout interleaved`
//! searches a read-only copy of level 0 in this layout, with the same
//! algorithm and kernels, so anyone can rerun the comparison
//! (docs/BENCHMARKS.md has the numbers this machine gave).

use super::graph::Links;
use super::search::{prefetch, Adjacency, Neighbor, Scratch, Space};
use super::{HnswIndex, IndexError, Traversal};
use crate::memory::Region;
use std::sync::atomic::{AtomicU32, Ordering};

/// 32-bit words per cache line.
const LINE_WORDS: usize = 16;

/// An index searched through an interleaved copy of its level 0. Upper
/// levels, deletes and labels are the index's own.
pub struct InterleavedIndex<'a> {
    index: &'a HnswIndex,
    blocks: Region<AtomicU32>,
    /// Words per node block.
    block_words: usize,
    /// Words from a block's start to its row.
    row_offset: usize,
    /// Words of one list: the count and `m0` slots.
    list_words: usize,
    /// Nodes copied: every id the copy's lists hold is below it.
    nodes: usize,
}

impl HnswIndex {
    /// A copy of level 0 in the interleaved layout (f32 traversal only).
    /// Nodes inserted after the copy is made are not in it: a search that
    /// reaches one through the upper levels fails rather than guess.
    pub fn interleaved(&self) -> Result<InterleavedIndex<'_>, IndexError> {
        if self.params.traversal != Traversal::F32 {
            return Err(IndexError::Parameter(format!(
                "the interleaved layout is measured for f32 traversal only, not {}",
                self.params.traversal
            )));
        }
        let nodes = self.len();
        let list_words = 1 + self.graph.m0();
        let row_offset = list_words.next_multiple_of(LINE_WORDS);
        let block_words = row_offset + self.store.stride();
        let words = nodes
            .checked_mul(block_words)
            .ok_or(IndexError::TooLarge { rows: nodes })?;
        let blocks: Region<AtomicU32> = Region::reserve(words.max(1))?;
        let mut ids = Vec::with_capacity(list_words);
        for id in 0..nodes as u32 {
            let block = &blocks.as_slice()[id as usize * block_words..][..block_words];
            ids.clear();
            ids.extend(
                self.graph
                    .links(id, 0)
                    .iter()
                    .filter(|&n| (n as usize) < nodes),
            );
            Links::new(&block[..list_words]).set(&ids);
            // SAFETY: node `id` is linked, so its row (`row_len` f32s: this
            // is an f32 index) is written and never rewritten.
            let row =
                unsafe { std::slice::from_raw_parts(self.store.row_ptr(id), self.store.row_len()) };
            for (word, &x) in block[row_offset..].iter().zip(row) {
                word.store(x.to_bits(), Ordering::Relaxed);
            }
        }
        Ok(InterleavedIndex {
            index: self,
            blocks,
            block_words,
            row_offset,
            list_words,
            nodes,
        })
    }
}

impl super::Search for InterleavedIndex<'_> {
    /// As [`HnswIndex::search_into`], with level 0 read from the copy.
    fn search_into(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        s: &mut Scratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        self.index.search_frame(query, k, s, out, |q, nearest, s| {
            if nearest.id as usize >= self.nodes {
                return Err(IndexError::Parameter(format!(
                    "node {} was inserted after the interleaved copy of {} nodes was made",
                    nearest.id, self.nodes
                )));
            }
            let rows = Rows {
                copy: self,
                query: q,
            };
            // SAFETY: every id in the copy's lists is below `nodes`, whose
            // blocks are all written; `q` is the prepared query.
            unsafe {
                self.index
                    .search_lists(&rows, self, nearest, ef.max(k), true, s)
            };
            Ok(())
        })
    }

    /// Working memory for this copy's searches.
    fn scratch(&self) -> Result<Scratch, IndexError> {
        self.index.scratch()
    }
}

impl InterleavedIndex<'_> {
    /// Bytes the copy occupies.
    pub fn bytes(&self) -> usize {
        self.nodes * self.block_words * 4
    }

    fn block_start(&self, id: u32) -> *const AtomicU32 {
        self.blocks
            .as_ptr()
            .wrapping_add(id as usize * self.block_words)
    }
}

impl Adjacency for InterleavedIndex<'_> {
    #[inline]
    fn links(&self, id: u32) -> Links<'_> {
        let start = id as usize * self.block_words;
        Links::new(&self.blocks.as_slice()[start..start + self.list_words])
    }
    #[inline]
    fn links_start(&self, id: u32) -> *const i8 {
        self.block_start(id).cast()
    }
}

/// The copy's rows, with a query in kernel layout.
struct Rows<'a> {
    copy: &'a InterleavedIndex<'a>,
    query: *const f32,
}

impl Space for Rows<'_> {
    #[inline]
    unsafe fn distances(&self, ids: &[u32], out: &mut Vec<f32>) {
        if out.len() < ids.len() {
            out.resize(ids.len(), 0.0);
        }
        let c = self.copy;
        // SAFETY: rows sit `block_words` f32-sized words apart from the
        // first row's start; every id is a copied node (the caller's
        // contract) and `out` was just sized; a vector of its own, it
        // overlaps none of the inputs. The words are only read.
        unsafe {
            c.index.kernels.gather.gather_unchecked(
                self.query,
                c.blocks.as_ptr().add(c.row_offset).cast::<f32>(),
                c.block_words,
                ids,
                out.as_mut_ptr(),
            )
        }
    }
    #[inline]
    fn prefetch(&self, id: u32) {
        // The row's first line, as the separate layout does, and the
        // list's: this layout's point is that the list arrives with the row.
        let block = self.copy.block_start(id).cast::<i8>();
        prefetch(block);
        prefetch(block.wrapping_add(self.copy.row_offset * 4));
    }
}
