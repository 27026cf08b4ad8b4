//! The visited set of one search, reset in O(1): each node has a tag, and
//! a node is visited when its tag equals the current epoch. Starting a
//! search bumps the epoch instead of clearing the array, so a search on a
//! million-node index does not begin by writing two megabytes. The array
//! is cleared only when the 16-bit epoch wraps (once per 65,535 searches).

pub struct Visited {
    tags: Vec<u16>,
    epoch: u16,
}

impl Visited {
    pub fn new(nodes: usize) -> Self {
        Visited {
            tags: vec![0; nodes],
            epoch: 0,
        }
    }

    /// Forgets every visit; `nodes` is how many ids may be seen (more
    /// are handled, by growing).
    pub fn reset(&mut self, nodes: usize) {
        if self.tags.len() < nodes {
            self.tags.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.tags.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `id` visited; true when it was not visited before.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let i = id as usize;
        if i >= self.tags.len() {
            // A node inserted after this search began: grow (rare).
            self.tags.resize((i + 1).next_power_of_two(), 0);
        }
        let tag = &mut self.tags[i];
        if *tag == self.epoch {
            false
        } else {
            *tag = self.epoch;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_forgets_and_wrapping_clears() {
        let mut v = Visited::new(4);
        v.reset(4);
        assert!(v.insert(1));
        assert!(!v.insert(1));
        assert!(v.insert(9), "ids past the start size grow the set");
        for _ in 0..70_000 {
            v.reset(4);
            assert!(v.insert(2));
            assert!(!v.insert(2));
        }
        assert!(v.insert(1));
    }
}
