//! Bulk builds: many rows inserted by all cores at once.

use super::{HnswIndex, IndexError, IndexKernels, IndexParams};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Hears `(rows linked, rows in the batch)` as a build goes (every
/// [`PROGRESS_EVERY`] rows and at the end), from any build thread.
pub type BuildProgress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Rows between progress reports: often enough for a smooth bar, rarely
/// enough to cost nothing.
pub const PROGRESS_EVERY: usize = 1024;

impl HnswIndex {
    /// An index of the rows of `data` (row-major, `params.dim` per row),
    /// built on `threads` threads. Row `i` gets id `i`.
    pub fn build(
        mut params: IndexParams,
        kernels: IndexKernels,
        data: &[f32],
        threads: usize,
        progress: BuildProgress,
    ) -> Result<Self, IndexError> {
        let rows = data.len() / params.dim.max(1);
        params.max_elements = params.max_elements.max(rows);
        let mut index = HnswIndex::new(params, kernels)?;
        index.centre_codes_on(data);
        index.insert_batch(data, threads, progress)?;
        Ok(index)
    }

    /// Inserts the rows of `data` on `threads` threads, safe while searches
    /// run. The rows get consecutive labels; returns the first. Every row
    /// is checked before any is inserted, so a bad row inserts nothing.
    pub fn insert_batch(
        &self,
        data: &[f32],
        threads: usize,
        progress: BuildProgress,
    ) -> Result<u32, IndexError> {
        self.insert_rows(data, None, threads, progress)
    }

    /// A new index of the live vectors only, with the labels they had:
    /// what deleted vectors held is reclaimed, and the graph is rebuilt
    /// without them. New inserts continue the label sequence.
    pub fn compact(&self, threads: usize, progress: BuildProgress) -> Result<Self, IndexError> {
        let mut data = Vec::with_capacity(self.live() * self.params.dim);
        let mut labels = Vec::with_capacity(self.live());
        for id in 0..self.allocated() as u32 {
            if self.is_linked(id) && !self.is_deleted_node(id) {
                // SAFETY: a linked node's row is written and immutable.
                data.extend_from_slice(&unsafe { self.store.components(id) });
                labels.push(self.label_of(id));
            }
        }
        let mut fresh = HnswIndex::new(self.params, self.kernels.clone())?;
        fresh.centre_codes_on(&data);
        fresh.label_offset = self.next_label() - labels.len() as u64;
        fresh.compacted = labels.len();
        fresh.insert_rows(&data, Some(&labels), threads, progress)?;
        Ok(fresh)
    }

    /// Centres bit codes on the rows of `data` (before any is written).
    fn centre_codes_on(&mut self, data: &[f32]) {
        let dim = self.params.dim;
        if let Some(codes) = &mut self.codes {
            codes.centre_on(data.chunks_exact(dim));
        }
    }

    /// Inserts rows with the given labels (sorted, below every label to
    /// come) or, without them, the next ones.
    fn insert_rows(
        &self,
        data: &[f32],
        labels: Option<&[u32]>,
        threads: usize,
        progress: BuildProgress,
    ) -> Result<u32, IndexError> {
        let dim = self.params.dim;
        if !data.len().is_multiple_of(dim) {
            return Err(IndexError::Parameter(format!(
                "{} values do not make whole rows of dimension {dim}",
                data.len()
            )));
        }
        let rows = data.len() / dim;
        for (row, v) in data.chunks_exact(dim).enumerate() {
            self.check_vector(v).map_err(|e| match e {
                IndexError::NotFinite { index, value } => {
                    IndexError::RowNotFinite { row, index, value }
                }
                IndexError::Quantize(why) => IndexError::Quantize(format!("row {row}: {why}")),
                other => other,
            })?;
        }
        let first = self.allocate(rows)?;
        let first_label = self.label_for_new(first)?;
        self.label_for_new(first + rows.saturating_sub(1) as u32)?;
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let worker = || -> Result<(), IndexError> {
            let mut s = self.scratch()?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= rows {
                    break;
                }
                let id = first + i as u32;
                // SAFETY: `allocate` reserved ids first..first+rows for this
                // call, and `next` hands each to one thread; nothing links
                // to it yet.
                unsafe { self.write_rows(id, &data[i * dim..(i + 1) * dim])? };
                self.set_label(id, labels.map_or(first_label + i as u32, |l| l[i]));
                self.link_node(id, &mut s);
                self.mark_linked(id);
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(PROGRESS_EVERY) || d == rows {
                    progress(d, rows);
                }
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads.max(1)).map(|_| scope.spawn(worker)).collect();
            let mine = worker();
            helpers
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .chain([mine])
                .collect::<Result<(), IndexError>>()
        })?;
        Ok(first_label)
    }
}
