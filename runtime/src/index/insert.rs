//! Inserting a node (the HNSW paper's Algorithm 1, with the neighbour
//! selection heuristic of its Algorithm 4, as hnswlib does it).
//!
//! Inserts run concurrently with each other and with searches: a node's
//! row, level and lists are written before any link to it exists; lists
//! are rewritten under their node's lock; the entry point changes under
//! one global lock, taken only by the rare insert whose level is above
//! the current top.

use super::graph::MAX_LEVEL;
use super::search::{Neighbor, Scratch};
use super::{EntryPoint, HnswIndex};
use std::sync::atomic::Ordering;

impl HnswIndex {
    /// The level of node `id`: drawn from the paper's exponential
    /// distribution, by hashing the id with the index's seed, so a build
    /// is reproducible whatever the thread count.
    pub(super) fn level_for(&self, id: u32) -> u8 {
        let u = (splitmix64(self.params.seed ^ u64::from(id)) >> 11) as f64 / (1u64 << 53) as f64;
        // u in [0, 1): 1 - u in (0, 1], so the log is finite.
        let level = (-(1.0 - u).ln() * self.level_scale).floor();
        (level as u64).min(u64::from(MAX_LEVEL)) as u8
    }

    /// Links node `id`, whose row is already written, into the graph.
    pub(super) fn link_node(&self, id: u32, s: &mut Scratch) {
        let level = self.level_for(id);
        self.graph.init_node(id, level);
        // SAFETY: row `id` was written by this thread and is never
        // rewritten; it stays valid as long as the index.
        let query = unsafe { self.store.row_ptr(id) };

        let mut raise_guard = None;
        let mut entry = self.entry_point();
        if entry.is_none_or(|e| level > e.level) {
            let guard = self.entry_lock.lock().unwrap_or_else(|e| e.into_inner());
            entry = self.entry_point();
            match entry {
                None => {
                    self.set_entry_point(EntryPoint { id, level });
                    return;
                }
                // Keep the lock while linking, so that no other insert
                // starts from an entry point about to be replaced.
                Some(e) if level > e.level => raise_guard = Some(guard),
                Some(_) => {}
            }
        }
        let entry = entry.expect("set above");

        // SAFETY (all calls below): `query` is a written row, and every id
        // reached is a linked, written node.
        let mut nearest = Neighbor {
            id: entry.id,
            distance: unsafe { self.distance_to(query, entry.id, s) },
        };
        for l in (level + 1..=entry.level).rev() {
            nearest = unsafe { self.greedy(query, nearest, l, s) };
        }
        // Choose every level's neighbours top-down (each level's search
        // starts from the level above's nearest), then write the lists
        // bottom-up: a search that reaches this node through a link at
        // level l then finds its lists at every level below l in place.
        let top = level.min(entry.level);
        let mut chosen = std::mem::take(&mut s.chosen);
        chosen.resize_with(top as usize + 1, Vec::new);
        let space = super::search::Floats { index: self, query };
        for l in (0..=top).rev() {
            unsafe { self.search_layer(&space, nearest, self.params.ef_construction, l, false, s) };
            s.found.clear();
            s.found.extend(s.top.drain());
            s.found.sort_unstable();
            nearest = s.found[0];
            let found = std::mem::take(&mut s.found);
            self.select_neighbors(&found, self.params.m, s);
            s.found = found;
            chosen[l as usize].clear();
            chosen[l as usize].extend_from_slice(&s.selected_ids);
        }
        for l in 0..=top {
            let neighbors = &chosen[l as usize];
            {
                let _lock = self.graph.lock(id);
                self.graph.links(id, l).set(neighbors);
            }
            for &neighbor in neighbors {
                self.add_link(neighbor, id, l, s);
            }
        }
        s.chosen = chosen;
        if raise_guard.is_some() {
            self.set_entry_point(EntryPoint { id, level });
        }
    }

    /// Adds `new` to `node`'s list at `level`; a full list is re-pruned
    /// with the heuristic over its old members and `new`.
    fn add_link(&self, node: u32, new: u32, level: u8, s: &mut Scratch) {
        let _lock = self.graph.lock(node);
        let links = self.graph.links(node, level);
        if links.push(new) {
            return;
        }
        // SAFETY: `node` is linked, so its row is written and immutable.
        let base = unsafe { self.store.row_ptr(node) };
        s.batch_ids.clear();
        s.batch_ids.extend(links.iter());
        s.batch_ids.push(new);
        // SAFETY: every id in the list, and `new`, is a written node.
        unsafe { self.distances(base, &s.batch_ids, &mut s.batch_distances) };
        let mut pool: Vec<Neighbor> = s
            .batch_ids
            .iter()
            .zip(&s.batch_distances)
            .map(|(&id, &distance)| Neighbor { id, distance })
            .collect();
        pool.sort_unstable();
        self.select_neighbors(&pool, self.graph.max_degree(level), s);
        links.set(&s.selected_ids);
    }

    /// The heuristic: walk `candidates` nearest first and keep one only if
    /// it is nearer the base than to every node kept so far, up to `m`.
    /// This keeps links that point in different directions, which is what
    /// makes the graph navigable on clustered data. Leaves the ids in
    /// `s.selected_ids`.
    fn select_neighbors(&self, candidates: &[Neighbor], m: usize, s: &mut Scratch) {
        s.selected.clear();
        s.selected_ids.clear();
        if candidates.len() <= m {
            s.selected_ids.extend(candidates.iter().map(|c| c.id));
            return;
        }
        for &c in candidates {
            if s.selected.len() >= m {
                break;
            }
            // One pair at a time, stopping at the first kept node nearer
            // to the candidate than the base is: most candidates are
            // rejected by one of the first (nearest) kept nodes, so this
            // computes a fraction of the distances a batched gather would.
            // SAFETY: candidates and kept nodes are written nodes, and
            // each row holds the `row_len` elements the pair kernel reads.
            let row = unsafe { self.store.row_ptr(c.id) };
            let keep = s.selected_ids.iter().all(|&kept| {
                let other = unsafe { self.store.row_ptr(kept) };
                let d = unsafe { self.kernels.pair.pair_unchecked(row, other) };
                d >= c.distance
            });
            if keep {
                s.selected.push(c);
                s.selected_ids.push(c.id);
            }
        }
    }

    fn set_entry_point(&self, e: EntryPoint) {
        self.entry.store(e.pack(), Ordering::Release);
    }
}

/// A 64-bit mixer (Steele et al.'s SplitMix64 finaliser): distinct ids
/// give independent-looking uniform bits.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
