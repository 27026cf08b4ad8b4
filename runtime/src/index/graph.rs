//! The HNSW graph's adjacency.
//!
//! Level 0, which every search spends nearly all its time in, is one flat
//! array of fixed-size slots: node `i`'s list starts at `i · (1 + m0)`,
//! its first word the neighbour count, so expanding a node touches one or
//! two cache lines and no pointer. The few nodes above level 0 (one in `m`)
//! own one heap block holding all their upper lists.
//!
//! Every word is atomic: a search reads lists while inserts rewrite them.
//! Writers hold the node's lock and publish ids with `Release`; readers
//! load with `Acquire`, so a reader that sees an id also sees that node's
//! row and lists, which were written before any link to it existed. A
//! reader may see a list mid-rewrite (some old ids, some new): every id in
//! it is still a valid, fully written node, which is all HNSW needs.

use super::IndexError;
use crate::memory::Region;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Highest level a node may have. With m ≥ 2 the expected number of nodes
/// at level L is n / m^L, so 31 levels is never reached; the cap bounds the
/// per-node allocation against a pathological random draw.
pub const MAX_LEVEL: u8 = 31;

/// Lock stripes: enough that build threads rarely share one, few enough
/// that they cost nothing per node.
const LOCK_STRIPES: usize = 4096;

pub struct Graph {
    m: usize,
    m0: usize,
    level0: Region<AtomicU32>,
    upper: Region<AtomicPtr<AtomicU32>>,
    levels: Region<AtomicU8>,
    locks: Box<[Mutex<()>]>,
    /// One past the highest node initialised: where `drop` stops looking
    /// for upper blocks.
    high_water: AtomicUsize,
}

/// One neighbour list: its count word and its slots.
pub struct Links<'a> {
    words: &'a [AtomicU32],
}

impl<'a> Links<'a> {
    /// A list over `words`: the count word, then the slots.
    pub fn new(words: &'a [AtomicU32]) -> Self {
        debug_assert!(!words.is_empty());
        Links { words }
    }

    /// The ids in the list (as many as the count says, at most capacity).
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        let words = self.words;
        let n = (words[0].load(Ordering::Acquire) as usize).min(words.len() - 1);
        words[1..=n].iter().map(|w| w.load(Ordering::Acquire))
    }

    pub fn len(&self) -> usize {
        (self.words[0].load(Ordering::Acquire) as usize).min(self.capacity())
    }

    pub fn capacity(&self) -> usize {
        self.words.len() - 1
    }

    /// Replaces the list. The caller holds the node's lock.
    pub fn set(&self, ids: &[u32]) {
        debug_assert!(ids.len() <= self.capacity());
        for (slot, &id) in self.words[1..].iter().zip(ids) {
            slot.store(id, Ordering::Release);
        }
        self.words[0].store(ids.len() as u32, Ordering::Release);
    }

    /// Appends `id` if there is room. The caller holds the node's lock.
    pub fn push(&self, id: u32) -> bool {
        let n = self.len();
        if n == self.capacity() {
            return false;
        }
        self.words[1 + n].store(id, Ordering::Release);
        self.words[0].store(n as u32 + 1, Ordering::Release);
        true
    }
}

impl Graph {
    pub fn new(m: usize, max_nodes: usize) -> Result<Self, IndexError> {
        let m0 = 2 * m;
        let words = max_nodes
            .checked_mul(1 + m0)
            .ok_or(IndexError::TooLarge { rows: max_nodes })?;
        Ok(Graph {
            m,
            m0,
            level0: Region::reserve(words)?,
            upper: Region::reserve(max_nodes)?,
            levels: Region::reserve(max_nodes)?,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            high_water: AtomicUsize::new(0),
        })
    }

    pub fn m0(&self) -> usize {
        self.m0
    }

    /// Most neighbours a node keeps at `level`.
    pub fn max_degree(&self, level: u8) -> usize {
        if level == 0 {
            self.m0
        } else {
            self.m
        }
    }

    pub fn level(&self, id: u32) -> u8 {
        self.levels[id as usize].load(Ordering::Acquire)
    }

    /// Gives a fresh node its level and (above 0) its upper lists. Called
    /// once per node, before any link to it exists.
    pub fn init_node(&self, id: u32, level: u8) {
        if level > 0 {
            let words = level as usize * (1 + self.m);
            let block: Box<[AtomicU32]> = (0..words).map(|_| AtomicU32::new(0)).collect();
            let old = self.upper[id as usize].swap(Box::into_raw(block).cast(), Ordering::AcqRel);
            debug_assert!(old.is_null(), "node {id} initialised twice");
        }
        self.levels[id as usize].store(level, Ordering::Release);
        self.high_water.fetch_max(id as usize + 1, Ordering::AcqRel);
    }

    /// Node `id`'s list at `level` (which must be ≤ its level).
    pub fn links(&self, id: u32, level: u8) -> Links<'_> {
        if level == 0 {
            let start = id as usize * (1 + self.m0);
            return Links {
                words: &self.level0.as_slice()[start..start + 1 + self.m0],
            };
        }
        debug_assert!(level <= self.level(id));
        let block = self.upper[id as usize].load(Ordering::Acquire);
        let start = (level as usize - 1) * (1 + self.m);
        // SAFETY: `init_node` allocated `level(id) · (1 + m)` words for a
        // node of this level before the node became reachable, and they are
        // freed only when the graph drops.
        let words = unsafe { std::slice::from_raw_parts(block.add(start), 1 + self.m) };
        Links { words }
    }

    /// Where node `id`'s list at `level` starts, for prefetching (level 0
    /// only: upper lists are few and hot).
    #[inline]
    pub fn links_start(&self, id: u32, level: u8) -> *const AtomicU32 {
        if level == 0 {
            self.level0
                .as_ptr()
                .wrapping_add(id as usize * (1 + self.m0))
        } else {
            std::ptr::null()
        }
    }

    /// The level-0 slots (for saving and loading index files).
    pub fn level0(&self) -> &Region<AtomicU32> {
        &self.level0
    }

    pub fn level0_mut(&mut self) -> &mut Region<AtomicU32> {
        &mut self.level0
    }

    /// The lock that serialises writers of node `id`'s lists.
    pub fn lock(&self, id: u32) -> MutexGuard<'_, ()> {
        // A panicking writer leaves lists valid (each store is atomic), so a
        // poisoned lock is safe to take.
        self.locks[id as usize % LOCK_STRIPES]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes the adjacency of `nodes` nodes occupies (level 0 plus upper
    /// blocks).
    pub fn bytes(&self, nodes: usize) -> usize {
        let upper: usize = (0..nodes as u32)
            .map(|id| self.level(id) as usize * (1 + self.m) * 4)
            .sum();
        nodes * (1 + self.m0) * 4 + upper
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        for id in 0..*self.high_water.get_mut() {
            let block = self.upper[id].load(Ordering::Acquire);
            if block.is_null() {
                continue;
            }
            let words = self.levels[id].load(Ordering::Acquire) as usize * (1 + self.m);
            // SAFETY: `init_node` leaked exactly this boxed slice for `id`,
            // and no reader outlives the graph.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(block, words)) });
        }
    }
}
