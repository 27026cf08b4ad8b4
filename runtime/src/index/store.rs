//! The vector store: one row per node, each starting on a cache line, laid
//! out as the index's kernels read it (components, zero padding to the
//! kernel's width, and for cosine the row's inverse norm).
//!
//! Rows live in a [`Region`] reserved for the index's maximum size, so a
//! row never moves once written: searches read rows while inserts append
//! new ones, with no lock.

use super::IndexError;
use crate::memory::Region;
use hektor_kernels::reference::inverse_norm;
use hektor_kernels::Metric;

/// f32s per cache line: every row's stride is a multiple of it.
const LINE_F32S: usize = 64 / std::mem::size_of::<f32>();

pub struct VectorStore {
    rows: Region<f32>,
    dim: usize,
    /// Elements the kernels read per row.
    row_len: usize,
    /// Elements from one row's start to the next (row_len rounded up to a
    /// cache line).
    stride: usize,
    storage_metric: Metric,
}

impl VectorStore {
    /// The stride rows of `row_len` elements get: whole cache lines.
    pub fn default_stride(row_len: usize) -> usize {
        row_len.next_multiple_of(LINE_F32S)
    }

    pub fn new(
        dim: usize,
        row_len: usize,
        stride: usize,
        storage_metric: Metric,
        max_rows: usize,
    ) -> Result<Self, IndexError> {
        debug_assert!(stride >= row_len && stride.is_multiple_of(LINE_F32S));
        let len = max_rows
            .checked_mul(stride)
            .ok_or(IndexError::TooLarge { rows: max_rows })?;
        Ok(VectorStore {
            rows: Region::reserve(len)?,
            dim,
            row_len,
            stride,
            storage_metric,
        })
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// Start of row 0: the `base` the kernels take.
    pub fn base(&self) -> *const f32 {
        self.rows.as_ptr()
    }

    /// Where row `id` starts (for prefetching: computing the address reads
    /// nothing).
    #[inline]
    pub fn row_start(&self, id: u32) -> *const f32 {
        self.rows.as_ptr().wrapping_add(id as usize * self.stride)
    }

    /// Row `id` as the kernels read it.
    ///
    /// # Safety
    /// `id` must be below `max_rows()`, and row `id` must not be being
    /// written concurrently (ids are written once, before they are
    /// published).
    pub unsafe fn row(&self, id: u32) -> &[f32] {
        // SAFETY: the caller guarantees the row lies in the reservation and
        // is not being written.
        unsafe {
            std::slice::from_raw_parts(
                self.rows.as_ptr().add(id as usize * self.stride),
                self.row_len,
            )
        }
    }

    /// The components of row `id`, as the user gave them (before any
    /// norm slot).
    ///
    /// # Safety
    /// As for [`VectorStore::row`].
    pub unsafe fn components(&self, id: u32) -> &[f32] {
        // SAFETY: forwarded to the caller.
        unsafe { &self.row(id)[..self.dim] }
    }

    /// Writes `vector` as row `id` in the kernels' layout.
    ///
    /// # Safety
    /// `id` must be below `max_rows()`, owned by this writer alone, and not
    /// yet reachable by any reader.
    pub unsafe fn write(&self, id: u32, vector: &[f32]) {
        debug_assert_eq!(vector.len(), self.dim);
        // SAFETY: the caller owns the row exclusively; it lies inside the
        // reservation.
        let row = unsafe {
            std::slice::from_raw_parts_mut(
                self.rows.as_ptr().add(id as usize * self.stride),
                self.row_len,
            )
        };
        encode_row(row, vector, self.storage_metric);
    }

    /// The region rows live in (for saving and loading index files).
    pub fn region_mut(&mut self) -> &mut Region<f32> {
        &mut self.rows
    }

    /// Bytes of memory rows `0..rows` occupy.
    pub fn bytes(&self, rows: usize) -> usize {
        rows * self.stride * std::mem::size_of::<f32>()
    }
}

/// `row` in the kernels' layout: components, zero padding, and (cosine)
/// the inverse norm in the last slot. Queries are prepared the same way.
pub fn encode_row(row: &mut [f32], vector: &[f32], storage_metric: Metric) {
    let dim = vector.len();
    row[..dim].copy_from_slice(vector);
    row[dim..].fill(0.0);
    if storage_metric.extra_slots() > 0 {
        let last = row.len() - 1;
        row[last] = inverse_norm(vector);
    }
}
