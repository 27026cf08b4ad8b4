//! Vector buffers aligned to a cache line. A 512-bit load from an address that
//! is not 64-byte aligned always spans two cache lines, which halves the
//! load throughput a distance kernel lives on; rows of the vector store
//! (and every timing that claims to show a kernel's speed) start on a line.

use hektor_kernels::Element;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Bytes of alignment: one x86 cache line.
pub const ALIGN: usize = 64;

/// A zero-initialised, 64-byte-aligned, fixed-length buffer of vector
/// elements (f32 by default, or f16).
pub struct AlignedBuf<T: Element = f32> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<T>, and
// every Element is Send + Sync.
unsafe impl<T: Element> Send for AlignedBuf<T> {}
// SAFETY: shared access only reads, like &[T].
unsafe impl<T: Element> Sync for AlignedBuf<T> {}

impl<T: Element> AlignedBuf<T> {
    /// `len` zeros, starting on a cache line. (All-zero bits are 0.0 for
    /// every element type: f32 and f16 alike.)
    pub fn zeroed(len: usize) -> Self {
        if len == 0 {
            // Dangling but aligned like every other buffer: valid for an
            // empty slice, and callers may rely on the alignment.
            let ptr = NonNull::new(std::ptr::without_provenance_mut::<T>(ALIGN)).expect("non-null");
            return AlignedBuf { ptr, len: 0 };
        }
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size (len > 0).
        let raw = unsafe { alloc_zeroed(layout) } as *mut T;
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }

    /// A copy of `data`, starting on a cache line.
    pub fn from_slice(data: &[T]) -> Self {
        let mut b = Self::zeroed(data.len());
        b.copy_from_slice(data);
        b
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len * std::mem::size_of::<T>(), ALIGN)
            .expect("buffer size overflows")
    }
}

impl<T: Element> Deref for AlignedBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialised f32s (zeroed at allocation)
        // for as long as `self` lives; a dangling pointer is valid for 0.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Element> DerefMut for AlignedBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Element> Drop for AlignedBuf<T> {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: allocated in `zeroed` with exactly this layout.
            unsafe { dealloc(self.ptr.as_ptr() as *mut u8, Self::layout(self.len)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_on_a_cache_line() {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let mut b = AlignedBuf::<f32>::zeroed(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert!(b.iter().all(|&x| x == 0.0));
            b.iter_mut().for_each(|x| *x = 2.0);
            assert!(b.iter().all(|&x| x == 2.0));
        }
        assert_eq!(&*AlignedBuf::from_slice(&[1.0f32, 2.0]), &[1.0, 2.0]);
        let h = AlignedBuf::<hektor_kernels::f16>::zeroed(33);
        assert_eq!(h.as_ptr() as usize % ALIGN, 0);
        assert!(h.iter().all(|x| x.to_f32() == 0.0));
    }
}
