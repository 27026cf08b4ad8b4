//! Fixed-stride rows in one reserved [`Region`], each starting on a cache
//! line: the storage the vector store ([`super::store`]) and the code store
//! ([`super::codes`]) share. Rows never move once written, so readers keep
//! raw pointers without a lock; a row is written once, by the insert that
//! owns its id, before any link to it exists.

use super::IndexError;
use crate::memory::Region;

/// Bytes of a cache line: every stride is a multiple of it.
pub const LINE: usize = 64;

pub struct RowRegion {
    region: Region<u64>,
    stride_bytes: usize,
}

impl RowRegion {
    /// Room for `max_rows` rows `stride_bytes` apart (a multiple of
    /// [`LINE`]).
    pub fn reserve(stride_bytes: usize, max_rows: usize) -> Result<Self, IndexError> {
        debug_assert!(stride_bytes > 0 && stride_bytes.is_multiple_of(LINE));
        let words = max_rows
            .checked_mul(stride_bytes / 8)
            .ok_or(IndexError::TooLarge { rows: max_rows })?;
        Ok(RowRegion {
            region: Region::reserve(words)?,
            stride_bytes,
        })
    }

    /// Bytes from one row's start to the next.
    pub fn stride_bytes(&self) -> usize {
        self.stride_bytes
    }

    /// Start of row 0, as whatever element type the kernel reads.
    pub fn base<T>(&self) -> *const T {
        self.region.as_ptr().cast()
    }

    /// Where row `id` starts (for prefetching: computing it reads nothing).
    #[inline]
    pub fn row_start(&self, id: u32) -> *const i8 {
        self.base::<i8>()
            .wrapping_add(id as usize * self.stride_bytes)
    }

    /// Row `id`'s words, to write it.
    ///
    /// # Safety
    /// `id` must be below the reservation's row count, owned by this writer
    /// alone, and not yet reachable by any reader.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row_mut(&self, id: u32) -> &mut [u64] {
        let words = self.stride_bytes / 8;
        // SAFETY: the caller owns the row exclusively; it lies inside the
        // reservation.
        unsafe {
            std::slice::from_raw_parts_mut(self.region.as_ptr().add(id as usize * words), words)
        }
    }

    /// Bytes rows `0..rows` occupy.
    pub fn bytes(&self, rows: usize) -> usize {
        rows * self.stride_bytes
    }

    /// The region (for saving and loading index files).
    pub fn region_mut(&mut self) -> &mut Region<u64> {
        &mut self.region
    }
}
