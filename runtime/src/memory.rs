//! Where the index's big arrays live: one allocator interface for vectors,
//! adjacency and per-node state.
//!
//! A [`Region`] reserves address space for the most elements it may ever
//! hold, once, and lets the kernel back pages with memory only when they are
//! first touched. Growth therefore never moves data: a search that holds a
//! pointer into the vectors while an insert grows the index reads valid
//! memory, with no lock and no epoch scheme. The reservation is virtual
//! (`MAP_NORESERVE`), so reserving for a billion rows costs nothing until
//! they are written.
//!
//! This is also the one place later work adds placement: transparent huge
//! pages are requested now (`madvise(MADV_HUGEPAGE)`, ignored where the
//! kernel refuses), NUMA binding (`mbind`) and explicit huge pages come with
//! the latency runtime.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MemoryError {
    #[error("cannot reserve {bytes} bytes of address space: {source}")]
    Reserve {
        bytes: usize,
        source: std::io::Error,
    },
    #[error("a region of {len} elements of {elem} bytes overflows the address space")]
    Overflow { len: usize, elem: usize },
}

/// Types whose all-zero bit pattern is a valid value: what fresh anonymous
/// pages read as.
///
/// # Safety
/// Implementors must be valid when every byte is zero and must not need
/// dropping.
pub unsafe trait Zeroable: Sized + Send + Sync {}
// SAFETY: zero is a valid value of each, and none needs drop.
unsafe impl Zeroable for u8 {}
// SAFETY: as above.
unsafe impl Zeroable for u16 {}
// SAFETY: as above.
unsafe impl Zeroable for i8 {}
// SAFETY: as above.
unsafe impl Zeroable for u32 {}
// SAFETY: as above.
unsafe impl Zeroable for u64 {}
// SAFETY: as above (0.0).
unsafe impl Zeroable for f32 {}
// SAFETY: as above.
unsafe impl Zeroable for AtomicU8 {}
// SAFETY: as above.
unsafe impl Zeroable for AtomicU32 {}
// SAFETY: as above.
unsafe impl Zeroable for AtomicU64 {}
// SAFETY: the null pointer; AtomicPtr does not own its pointee.
unsafe impl<T> Zeroable for AtomicPtr<T> {}

/// How a region was backed, for `hektor doctor`-style reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    pub reserved_bytes: usize,
    /// Whether the kernel accepted the transparent-huge-page advice.
    pub huge_pages_advised: bool,
}

/// A fixed reservation of `capacity` zero-initialised `T`s at a stable,
/// page-aligned address.
pub struct Region<T: Zeroable> {
    ptr: NonNull<T>,
    capacity: usize,
    info: RegionInfo,
    _owns: PhantomData<T>,
}

// SAFETY: a Region owns its mapping exclusively; T is Send + Sync.
unsafe impl<T: Zeroable> Send for Region<T> {}
// SAFETY: shared access hands out `&T` only (mutation goes through `&mut`,
// through T's own interior mutability, or through the raw pointer under
// the caller's own synchronisation).
unsafe impl<T: Zeroable> Sync for Region<T> {}

impl<T: Zeroable> Region<T> {
    /// Reserves room for `capacity` elements (at least one page).
    pub fn reserve(capacity: usize) -> Result<Self, MemoryError> {
        let elem = std::mem::size_of::<T>().max(1);
        let bytes = capacity
            .checked_mul(elem)
            .and_then(|b| b.checked_next_multiple_of(page_size()))
            .ok_or(MemoryError::Overflow {
                len: capacity,
                elem,
            })?
            .max(page_size());
        // SAFETY: an anonymous private mapping at an address the kernel
        // picks touches no existing memory; the result is checked below.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(MemoryError::Reserve {
                bytes,
                source: std::io::Error::last_os_error(),
            });
        }
        // Huge pages cut TLB misses on the random row accesses of graph
        // search; a kernel without THP says EINVAL, which is not an error
        // for us.
        // SAFETY: advice on a mapping this function just created.
        let huge_pages_advised = unsafe { libc::madvise(raw, bytes, libc::MADV_HUGEPAGE) } == 0;
        Ok(Region {
            ptr: NonNull::new(raw.cast::<T>()).expect("mmap never returns null on success"),
            capacity: bytes / elem,
            info: RegionInfo {
                reserved_bytes: bytes,
                huge_pages_advised,
            },
            _owns: PhantomData,
        })
    }

    /// Elements the reservation holds (at least what was asked for).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn info(&self) -> RegionInfo {
        self.info
    }

    /// Raw pointer to element 0, for kernels and for writers that
    /// synchronise on their own.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// The whole reservation as a slice (untouched pages read as zero).
    pub fn as_slice(&self) -> &[T] {
        // SAFETY: the mapping holds `capacity` initialised (zero or
        // written) elements for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.capacity) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }
}

impl<T: Zeroable> std::ops::Index<usize> for Region<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.as_slice()[i]
    }
}

impl<T: Zeroable> Drop for Region<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `reserve` created; no borrow of
        // it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.info.reserved_bytes) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn reserves_zeroed_page_aligned_memory() {
        let mut r = Region::<f32>::reserve(1000).unwrap();
        assert!(r.capacity() >= 1000);
        assert_eq!(r.as_ptr() as usize % 4096, 0);
        assert!(r.as_slice().iter().all(|&x| x == 0.0));
        r.as_mut_slice()[999] = 3.5;
        assert_eq!(r[999], 3.5);
    }

    #[test]
    fn a_large_reservation_costs_no_memory_until_touched() {
        // 64 GiB of address space on a machine with less RAM: only the
        // touched page is backed.
        let r = Region::<AtomicU32>::reserve(16 << 30).unwrap();
        r[(16 << 30) - 1].store(7, Ordering::Relaxed);
        assert_eq!(r[(16 << 30) - 1].load(Ordering::Relaxed), 7);
        assert_eq!(r[0].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(matches!(
            Region::<u64>::reserve(usize::MAX / 2),
            Err(MemoryError::Overflow { .. })
        ));
    }
}
