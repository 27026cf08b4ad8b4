//! Exact (brute-force) k-nearest-neighbour search over the JIT `scan`
//! kernel: the ground truth that approximate indexes are measured against.
//!
//! The base rows are copied once into a 64-byte-aligned buffer with the
//! kernel's row layout (zero padding for `tail=padded`, the inverse norm
//! for cosine). A search splits the queries into batches that threads take
//! in turn; each thread walks the base in blocks that fit in L2 and scans
//! every query of its batch against a block before moving on, so each
//! block is read from memory once per batch instead of once per query.
//! Each query keeps its k best in a bounded max-heap ordered by (distance,
//! id), so among equal distances the smaller id wins, whatever the thread
//! count.

use crate::aligned::AlignedBuf;
use crate::dataset::{DatasetError, Matrix};
use crate::registry::{KernelRegistry, PrepareRequest, RegistryError};
use crate::tuning::ScheduleBook;
use hektor_codegen::{Backend, CallError, CodegenError, Kernel};
use hektor_kernels::reference::inverse_norm;
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExactError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("k must be at least 1")]
    ZeroK,
    #[error("the base holds no vectors")]
    EmptyBase,
    #[error("{0} base vectors do not fit u32 ids")]
    TooManyRows(usize),
}

/// The nearest base rows of each query, as `(id, distance)`, nearest
/// first.
pub type Hits = Vec<Vec<(u32, f32)>>;

/// Bytes of base rows per block: half of a typical 512 KiB–2 MiB L2, so
/// the block, the queries and the distances stay resident together.
const BLOCK_BYTES: usize = 256 * 1024;

/// Queries a thread scans against each block.
const MAX_QUERY_BATCH: usize = 256;

/// Elements per cache line: row strides are rounded up to it so that
/// every row, not just the first, starts on a line.
const LINE_FLOATS: usize = crate::aligned::ALIGN / 4;

/// The backend exact search compiles with when none is given: LLVM when
/// it is built in (vectors as wide as the CPU has), otherwise, or if the
/// LLVM target cannot be set up, Cranelift.
pub fn default_backend() -> Result<Box<dyn Backend>, CodegenError> {
    #[cfg(feature = "llvm")]
    if let Ok(b) = hektor_codegen::llvm::LlvmBackend::host() {
        return Ok(Box::new(b));
    }
    Ok(Box::new(
        hektor_codegen::cranelift::CraneliftBackend::host()?
    ))
}

/// A base matrix laid out for the scan kernel.
pub struct ExactSearch {
    metric: Metric,
    kernel: Kernel,
    rows: AlignedBuf<f32>,
    n: usize,
    dim: usize,
    stride: usize,
    threads: usize,
}

impl std::fmt::Debug for ExactSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactSearch")
            .field("metric", &self.metric)
            .field("kernel", &self.kernel)
            .field("n", &self.n)
            .field("dim", &self.dim)
            .field("threads", &self.threads)
            .finish()
    }
}

impl ExactSearch {
    /// Prepares exact search over `base` with the [`default_backend`] and
    /// the default schedules, on `threads` threads (0 = every core).
    /// `metric` is `l2`, `ip` or `cosine` (`cosine_norms` means cosine).
    pub fn new(metric: Metric, base: &Matrix, threads: usize) -> Result<Self, ExactError> {
        let backend = default_backend()?;
        Self::with_backend(
            metric,
            base,
            threads,
            backend.as_ref(),
            &ScheduleBook::defaults(),
        )
    }

    /// As [`ExactSearch::new`], with a given backend and schedule book
    /// (tuned schedules, e.g. from `ScheduleBook::load`).
    pub fn with_backend(
        metric: Metric,
        base: &Matrix,
        threads: usize,
        backend: &dyn Backend,
        book: &ScheduleBook,
    ) -> Result<Self, ExactError> {
        if base.is_empty() {
            return Err(ExactError::EmptyBase);
        }
        if base.len() > u32::MAX as usize {
            return Err(ExactError::TooManyRows(base.len()));
        }
        // Cosine is served by `cosine_norms`: the norms are computed once
        // here, so each distance costs a dot product.
        let kernel_metric = match metric {
            Metric::Cosine | Metric::CosineNorms => Metric::CosineNorms,
            m => m,
        };
        let spec = KernelSpec::new(kernel_metric, ElementType::F32, base.dim(), Shape::Scan)
            .map_err(RegistryError::from)?;
        let registry = KernelRegistry::prepare(
            &[backend],
            book,
            &PrepareRequest {
                dim: base.dim(),
                dtype: ElementType::F32,
                metrics: &[kernel_metric],
                shapes: &[Shape::Scan],
                schedule_override: None,
                time_budget: None,
            },
            |_| {},
        )?;
        let kernel = registry.get(&spec).cloned().ok_or_else(|| {
            ExactError::Codegen(CodegenError::HostUnsupported {
                backend: backend.kind().name(),
                reason: format!("no {spec} kernel was prepared"),
            })
        })?;
        let stride = kernel.row_len().div_ceil(LINE_FLOATS) * LINE_FLOATS;
        let mut rows = AlignedBuf::<f32>::zeroed(base.len() * stride);
        for (dst, src) in rows.chunks_exact_mut(stride).zip(base.rows()) {
            lay_out(&kernel, src, dst);
        }
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        };
        Ok(ExactSearch {
            metric: kernel_metric,
            kernel,
            rows,
            n: base.len(),
            dim: base.dim(),
            stride,
            threads,
        })
    }

    /// The scan kernel in use (its backend and schedule, for reports).
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Base vectors.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The metric the kernel computes (`cosine_norms` for cosine).
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The `min(k, n)` nearest base rows of every query as `(id,
    /// distance)`, nearest first (ties: smaller id first).
    pub fn search(&self, queries: &Matrix, k: usize) -> Result<Hits, ExactError> {
        self.search_with_progress(queries, k, &|_, _| {})
    }

    /// As [`ExactSearch::search`], calling `progress(queries done, total)`
    /// from the worker threads as batches finish.
    pub fn search_with_progress(
        &self,
        queries: &Matrix,
        k: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Hits, ExactError> {
        if k == 0 {
            return Err(ExactError::ZeroK);
        }
        if queries.dim() != self.dim {
            return Err(DatasetError::DimMismatch {
                base: self.dim,
                queries: queries.dim(),
            }
            .into());
        }
        let nq = queries.len();
        let k = k.min(self.n);
        // Enough batches that every thread gets several (a busy core does
        // not leave the others idle at the end), but no more queries per
        // batch than keeps their heaps and rows small.
        let batch = nq.div_ceil(self.threads * 4).clamp(1, MAX_QUERY_BATCH);
        let batches = nq.div_ceil(batch);
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let worker = || -> Result<Vec<(usize, Hits)>, CallError> {
            let mut mine = vec![];
            let mut scratch = Scratch::new(self, batch);
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok(mine);
                }
                let start = b * batch;
                let end = (start + batch).min(nq);
                let results = self.search_batch(queries, start..end, k, &mut scratch)?;
                mine.push((start, results));
                let d = done.fetch_add(end - start, Ordering::Relaxed) + end - start;
                progress(d, nq);
            }
        };
        let per_thread: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.threads.min(batches).max(1))
                .map(|_| s.spawn(worker))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut out: Hits = vec![Vec::new(); nq];
        for part in per_thread {
            for (start, results) in part? {
                for (i, r) in results.into_iter().enumerate() {
                    out[start + i] = r;
                }
            }
        }
        Ok(out)
    }

    /// Scans queries `range` against the whole base, block by block.
    fn search_batch(
        &self,
        queries: &Matrix,
        range: std::ops::Range<usize>,
        k: usize,
        s: &mut Scratch,
    ) -> Result<Hits, CallError> {
        let row_len = self.kernel.row_len();
        let count = range.len();
        for (slot, q) in s.queries.chunks_exact_mut(row_len).zip(range.clone()) {
            slot.fill(0.0);
            lay_out(&self.kernel, queries.row(q), slot);
        }
        let mut heaps: Vec<TopK> = (0..count).map(|_| TopK::new(k)).collect();
        let block = s.distances.len();
        let mut first = 0;
        while first < self.n {
            let rows = block.min(self.n - first);
            let base = &self.rows[first * self.stride..];
            for (query, heap) in s.queries.chunks_exact(row_len).zip(heaps.iter_mut()) {
                self.kernel
                    .scan(query, base, self.stride, rows, &mut s.distances)?;
                heap.offer_block(first as u32, &s.distances[..rows]);
            }
            first += rows;
        }
        Ok(heaps.into_iter().map(TopK::into_sorted).collect())
    }
}

/// Per-thread buffers, allocated once per search.
struct Scratch {
    /// The batch's queries in the kernel's row layout, 64-byte aligned.
    queries: AlignedBuf<f32>,
    /// One block's distances.
    distances: Vec<f32>,
}

impl Scratch {
    fn new(e: &ExactSearch, batch: usize) -> Self {
        let block = (BLOCK_BYTES / (e.stride * 4)).clamp(1, e.n);
        Scratch {
            queries: AlignedBuf::zeroed(batch * e.kernel.row_len()),
            distances: vec![0.0; block],
        }
    }
}

/// Writes `v` in the kernel's row layout into `dst` (zeroed, at least
/// `row_len()` long): the components, zero padding, and for
/// `cosine_norms` the inverse norm in the last slot of the row.
fn lay_out(kernel: &Kernel, v: &[f32], dst: &mut [f32]) {
    dst[..v.len()].copy_from_slice(v);
    if kernel.spec().metric.extra_slots() > 0 {
        dst[kernel.row_len() - 1] = inverse_norm(v);
    }
}

/// A candidate, ordered by distance, then id: the heap's top is the worst
/// of the k kept, and among equal distances the larger id is worse.
#[derive(Clone, Copy)]
struct Candidate {
    dist: f32,
    id: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // total_cmp: a total order even if a distance were NaN (it cannot
        // be for finite inputs, but the heap must never see a broken
        // order).
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

/// The k smallest candidates seen so far.
struct TopK {
    k: usize,
    heap: BinaryHeap<Candidate>,
    /// The worst kept distance once the heap is full (+inf before): most
    /// distances are larger and are rejected by this one compare.
    bound: f32,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            bound: f32::INFINITY,
        }
    }

    /// Offers rows `first, first + 1, …` with `distances`.
    fn offer_block(&mut self, first: u32, distances: &[f32]) {
        for (i, &dist) in distances.iter().enumerate() {
            // `<=`, not `<`: an equal distance may still win on id, and a
            // NaN (never produced from finite data) is sorted by total_cmp.
            if dist <= self.bound || self.heap.len() < self.k || dist.is_nan() {
                self.offer(Candidate {
                    dist,
                    id: first + i as u32,
                });
            }
        }
    }

    fn offer(&mut self, c: Candidate) {
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if c < *top {
                *top = c;
            }
        }
        if self.heap.len() == self.k {
            if let Some(top) = self.heap.peek() {
                self.bound = top.dist;
            }
        }
    }

    fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| (c.id, c.dist))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::check_same_dim;

    #[test]
    fn top_k_keeps_the_smallest_and_breaks_ties_by_id() {
        let mut t = TopK::new(3);
        t.offer_block(0, &[5.0, 1.0, 3.0, 1.0, 0.5, 3.0, 1.0]);
        assert_eq!(t.into_sorted(), vec![(4, 0.5), (1, 1.0), (3, 1.0)]);
        let mut t = TopK::new(10);
        t.offer_block(7, &[2.0, 1.0]);
        assert_eq!(t.into_sorted(), vec![(8, 1.0), (7, 2.0)]);
    }

    #[test]
    fn check_same_dim_names_both_dimensions() {
        let base = Matrix::new(3, vec![0.0; 6]).unwrap();
        let q = Matrix::new(4, vec![0.0; 4]).unwrap();
        assert!(check_same_dim(&base, &base).is_ok());
        let e = check_same_dim(&base, &q).unwrap_err().to_string();
        assert!(e.contains('3') && e.contains('4'), "{e}");
    }
}
