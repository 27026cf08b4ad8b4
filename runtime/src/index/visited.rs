//! The visited set of one search, reset in O(1): each node has a tag, and
//! a node is visited when its tag equals the current epoch. Starting a
//! search bumps the epoch instead of clearing the array, so a search on a
//! million-node index does not begin by writing two megabytes. The array
//! is cleared only when the 16-bit epoch wraps (once per 65,535 searches).
//!
//! The tags live in a [`Region`] reserved for the index's maximum size:
//! one huge page covers a million tags, where 4 KiB pages would cost a TLB
//! miss on most lookups, and nodes inserted while a search runs never need
//! the array to grow.

use crate::memory::{MemoryError, Region};

pub struct Visited {
    tags: Region<u16>,
    epoch: u16,
    /// One past the highest tag ever set: what a wrap must clear.
    touched: usize,
}

impl Visited {
    /// Room for ids below `max_nodes`.
    pub fn new(max_nodes: usize) -> Result<Self, MemoryError> {
        Ok(Visited {
            tags: Region::reserve(max_nodes.max(1))?,
            epoch: 0,
            touched: 0,
        })
    }

    /// Forgets every visit.
    pub fn reset(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            let touched = self.touched;
            self.tags.as_mut_slice()[..touched].fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `id` visited; true when it was not visited before.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let i = id as usize;
        let epoch = self.epoch;
        let tag = &mut self.tags.as_mut_slice()[i];
        if *tag == epoch {
            false
        } else {
            *tag = epoch;
            self.touched = self.touched.max(i + 1);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_forgets_and_wrapping_clears() {
        let mut v = Visited::new(16).unwrap();
        v.reset();
        assert!(v.insert(1));
        assert!(!v.insert(1));
        assert!(v.insert(9));
        for _ in 0..70_000 {
            v.reset();
            assert!(v.insert(2));
            assert!(!v.insert(2));
        }
        assert!(v.insert(1));
        assert!(v.insert(9));
    }
}
