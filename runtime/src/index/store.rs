//! The vector store: one row per node, each starting on a cache line, laid
//! out as the index's kernels read it: `f32` components, zero padding to
//! the kernel's width, and for cosine the row's inverse norm; or, for an
//! `f16` index, `f16` components (cosine rows normalized first, so a dot
//! product ranks them: an inverse norm stored in f16 would underflow for
//! vectors of norm above about 2¹⁴).
//!
//! Rows live in a [`Region`] reserved for the index's maximum size, so a
//! row never moves once written: searches read rows while inserts append
//! new ones, with no lock.

use super::rows::{RowRegion, LINE};
use super::{IndexError, Traversal};
use crate::memory::Region;
use hektor_kernels::reference::inverse_norm;
use hektor_kernels::{ElementType, Metric};
use std::borrow::Cow;

/// How an index of `metric` walking `traversal` stores its rows: the
/// element type and the metric its kernels compute.
pub fn row_format(metric: Metric, traversal: Traversal) -> (ElementType, Metric) {
    match (traversal, metric) {
        (Traversal::F16, Metric::Cosine | Metric::CosineNorms) => (ElementType::F16, Metric::Ip),
        (Traversal::F16, other) => (ElementType::F16, other),
        // Cosine rows carry their inverse norm, so a pair costs what a dot
        // product costs.
        (_, Metric::Cosine) => (ElementType::F32, Metric::CosineNorms),
        (_, other) => (ElementType::F32, other),
    }
}

pub struct VectorStore {
    rows: RowRegion,
    dtype: ElementType,
    dim: usize,
    /// Elements the kernels read per row.
    row_len: usize,
    /// Elements from one row's start to the next (row_len rounded up to a
    /// cache line).
    stride: usize,
    /// The metric the kernels compute (cosine → cosine_norms for f32, ip
    /// on normalized rows for f16).
    kernel_metric: Metric,
    /// Rows are scaled to unit norm before they are stored (f16 cosine).
    normalize: bool,
}

impl VectorStore {
    /// The stride rows of `row_len` elements of `dtype` get: whole cache
    /// lines.
    pub fn default_stride(row_len: usize, dtype: ElementType) -> usize {
        row_len.next_multiple_of(LINE / dtype.size_bytes())
    }

    /// A store for an index of the user's `metric`, walking `traversal`.
    pub fn new(
        metric: Metric,
        traversal: Traversal,
        dim: usize,
        row_len: usize,
        stride: usize,
        max_rows: usize,
    ) -> Result<Self, IndexError> {
        let (dtype, kernel_metric) = row_format(metric, traversal);
        debug_assert!(matches!(dtype, ElementType::F32 | ElementType::F16));
        debug_assert!(stride >= row_len);
        Ok(VectorStore {
            rows: RowRegion::reserve(stride * dtype.size_bytes(), max_rows)?,
            dtype,
            dim,
            row_len,
            stride,
            kernel_metric,
            normalize: dtype == ElementType::F16 && kernel_metric != metric,
        })
    }

    /// Elements (of [`VectorStore::dtype`]) from one row to the next: the
    /// stride the kernels take.
    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// Start of row 0: the `base` the kernels take (as f32 pointers, the
    /// type the index passes rows around as; the kernel reads its own
    /// element type).
    pub fn base(&self) -> *const f32 {
        self.rows.base()
    }

    /// Where row `id` starts (for prefetching: computing the address reads
    /// nothing).
    #[inline]
    pub fn row_start(&self, id: u32) -> *const i8 {
        self.rows.row_start(id)
    }

    /// Row `id` as the kernels read it, for use as a kernel's query.
    ///
    /// # Safety
    /// `id` must be below `max_rows()`; the row is read only while it is
    /// not being written (ids are written once, before they are
    /// published).
    pub unsafe fn row_ptr(&self, id: u32) -> *const f32 {
        self.row_start(id).cast()
    }

    /// The components of row `id` as f32: the user's values for f32 rows;
    /// for f16 rows the stored values widened (normalized, for cosine).
    ///
    /// # Safety
    /// As for [`VectorStore::row_ptr`].
    pub unsafe fn components(&self, id: u32) -> Cow<'_, [f32]> {
        let start = self.row_start(id);
        // SAFETY: the caller guarantees the row lies in the reservation and
        // is not being written; rows start on cache lines, so both views
        // are aligned.
        unsafe {
            match self.dtype {
                ElementType::F16 => Cow::Owned(
                    std::slice::from_raw_parts(start.cast::<half::f16>(), self.dim)
                        .iter()
                        .map(|h| h.to_f32())
                        .collect(),
                ),
                _ => Cow::Borrowed(std::slice::from_raw_parts(start.cast::<f32>(), self.dim)),
            }
        }
    }

    /// Writes `vector` as row `id` in the kernels' layout.
    ///
    /// # Safety
    /// `id` must be below `max_rows()`, owned by this writer alone, and not
    /// yet reachable by any reader.
    pub unsafe fn write(&self, id: u32, vector: &[f32]) -> Result<(), IndexError> {
        // SAFETY: forwarded to the caller.
        self.encode(vector, unsafe { self.rows.row_mut(id) })
    }

    /// Checks that rows can hold `vector`'s values (f16 rows: within
    /// ±65504 once normalized as the row will be), so that a bad vector is
    /// refused before an id is spent on it.
    pub fn check(&self, vector: &[f32]) -> Result<(), IndexError> {
        if self.dtype != ElementType::F16 || self.normalize {
            // Unit vectors always fit.
            return Ok(());
        }
        match vector
            .iter()
            .position(|&v| !half::f16::from_f32(v).is_finite())
        {
            Some(i) => Err(f16_range_error(i, vector[i])),
            None => Ok(()),
        }
    }

    /// Encodes `vector` into `row` (at least `stride` elements' bytes, as
    /// u64 words) in the kernels' layout. Queries are prepared the same
    /// way.
    pub fn encode(&self, vector: &[f32], row: &mut [u64]) -> Result<(), IndexError> {
        debug_assert_eq!(vector.len(), self.dim);
        let bytes = row.len() * 8;
        match self.dtype {
            ElementType::F16 => {
                // SAFETY: f16 is a plain u16 (every bit pattern is valid),
                // u64 alignment exceeds its own, and the view covers
                // exactly the words' bytes.
                let halves = unsafe {
                    std::slice::from_raw_parts_mut(row.as_mut_ptr().cast::<half::f16>(), bytes / 2)
                };
                encode_f16(&mut halves[..self.row_len], vector, self.normalize)
            }
            _ => {
                // SAFETY: as above, for f32.
                let floats = unsafe {
                    std::slice::from_raw_parts_mut(row.as_mut_ptr().cast::<f32>(), bytes / 4)
                };
                encode_row(&mut floats[..self.row_len], vector, self.kernel_metric);
                Ok(())
            }
        }
    }

    /// The region rows live in (for saving and loading index files).
    pub fn region_mut(&mut self) -> &mut Region<u64> {
        self.rows.region_mut()
    }

    /// Bytes of memory rows `0..rows` occupy.
    pub fn bytes(&self, rows: usize) -> usize {
        self.rows.bytes(rows)
    }
}

/// `row` in the f32 kernels' layout: components, zero padding, and
/// (cosine) the inverse norm in the last slot.
pub fn encode_row(row: &mut [f32], vector: &[f32], kernel_metric: Metric) {
    let dim = vector.len();
    row[..dim].copy_from_slice(vector);
    row[dim..].fill(0.0);
    if kernel_metric.extra_slots() > 0 {
        let last = row.len() - 1;
        row[last] = inverse_norm(vector);
    }
}

/// `row` in the f16 kernels' layout: components rounded to f16 (first
/// scaled to unit norm when `normalize`), zero padding. A component
/// outside f16's range is an error, not an infinity.
fn encode_f16(row: &mut [half::f16], vector: &[f32], normalize: bool) -> Result<(), IndexError> {
    let scale = if normalize { inverse_norm(vector) } else { 1.0 };
    let dim = vector.len();
    for (i, (h, &v)) in row.iter_mut().zip(vector).enumerate() {
        let r = half::f16::from_f32(v * scale);
        if !r.is_finite() {
            return Err(f16_range_error(i, v));
        }
        *h = r;
    }
    row[dim..].fill(half::f16::ZERO);
    Ok(())
}

fn f16_range_error(index: usize, value: f32) -> IndexError {
    IndexError::Quantize(format!(
        "component {index} is {value}, outside the range f16 rows can hold (±65504): use --dtype f32, sq8 or bit"
    ))
}
