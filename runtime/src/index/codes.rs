//! Compact codes graph search can walk on instead of the f32 rows: SQ8
//! (`i8` with per-vector scale and offset) or one sign bit per component.
//! (An `f16` index stores f16 rows instead of f32 ones, and walks them
//! directly: see [`super::store`].) A traversal that is bound by memory fetches fewer lines per
//! visited node; the best candidates are then re-ranked with exact f32
//! distances, so results keep exact distances whatever the codes.
//!
//! Codes are derived data: the index file stores only the f32 rows, and
//! codes are encoded again when a file is loaded.
//!
//! | traversal | bytes per row (dim 384) | kernel               |
//! |-----------|-------------------------|----------------------|
//! | `sq8`     | 384 + 16 meta → 448     | `i8` gather, metric  |
//! | `bit`     | 48 → 64                 | `bit` gather, hamming|
//!
//! Bit codes are the signs of each vector's offset from a centre (the
//! mean of the vectors the index was built or loaded with), since the
//! signs of uncentred data (all-positive SIFT-like components, or
//! embeddings with a common direction) carry little information.

use super::rows::{RowRegion, LINE};
use super::{IndexError, Traversal};
use hektor_kernels::reference::inverse_norm;
use hektor_kernels::{quant, ElementType, Metric};

/// The element type and metric of the gather kernel that walks `traversal`
/// codes of a `metric` index, or `None` for the f32 rows.
pub fn code_kernel(traversal: Traversal, metric: Metric) -> Option<(ElementType, Metric)> {
    match traversal {
        Traversal::F32 | Traversal::F16 => None,
        // Quantized rows carry their own norms: the user's metric.
        Traversal::Sq8 => Some((ElementType::I8, metric)),
        Traversal::Bit => Some((ElementType::Bit, Metric::Hamming)),
    }
}

/// Every node's code row, in a [`Region`] reserved for the index's maximum
/// size. Rows are written once, before their node is linked.
pub struct CodeStore {
    rows: RowRegion,
    traversal: Traversal,
    metric: Metric,
    dim: usize,
    /// Elements of the kernel's type per row (`Kernel::row_len`).
    row_elems: usize,
    /// Bit codes: the point whose offsets are binarized.
    centre: Vec<f32>,
}

impl CodeStore {
    /// A store for `traversal` codes of a `metric` index of `dim`, whose
    /// kernel reads `row_elems` elements per row.
    pub fn new(
        traversal: Traversal,
        metric: Metric,
        dim: usize,
        row_elems: usize,
        max_rows: usize,
    ) -> Result<Self, IndexError> {
        let (dtype, _) = code_kernel(traversal, metric)
            .ok_or_else(|| IndexError::Parameter("f32 traversal has no codes".into()))?;
        let stride_bytes = (row_elems * dtype.size_bytes()).next_multiple_of(LINE);
        Ok(CodeStore {
            rows: RowRegion::reserve(stride_bytes, max_rows)?,
            traversal,
            metric,
            dim,
            row_elems,
            centre: vec![0.0; dim],
        })
    }

    pub fn traversal(&self) -> Traversal {
        self.traversal
    }

    /// Bytes of one row and its padding.
    pub fn stride_bytes(&self) -> usize {
        self.rows.stride_bytes()
    }

    /// Start of row 0, as the kernel's element type.
    pub fn base<T>(&self) -> *const T {
        self.rows.base()
    }

    /// Where row `id` starts (for prefetching: computing it reads nothing).
    #[inline]
    pub fn row_start(&self, id: u32) -> *const i8 {
        self.rows.row_start(id)
    }

    /// Sets the centre bit codes are taken around to the mean of `rows`
    /// (cosine rows normalized first). Only bit codes have a centre; for
    /// the others this does nothing. Call it before any row is written:
    /// rows already written keep the old centre.
    pub fn centre_on<R: AsRef<[f32]>>(&mut self, rows: impl Iterator<Item = R>) {
        if self.traversal != Traversal::Bit {
            return;
        }
        let mut sum = vec![0f64; self.dim];
        let mut count = 0usize;
        for row in rows {
            let row = row.as_ref();
            let scale = self.scale(row);
            for (s, &x) in sum.iter_mut().zip(row) {
                *s += f64::from(x * scale);
            }
            count += 1;
        }
        if count == 0 {
            return;
        }
        for (c, s) in self.centre.iter_mut().zip(sum) {
            *c = (s / count as f64) as f32;
        }
    }

    /// What `x` is multiplied by before it is coded: 1/‖x‖ for cosine
    /// (codes of the direction), else 1. A factor, not a normalized copy,
    /// so that coding a query allocates nothing.
    fn scale(&self, x: &[f32]) -> f32 {
        if matches!(self.metric, Metric::Cosine | Metric::CosineNorms) {
            inverse_norm(x)
        } else {
            1.0
        }
    }

    /// Encodes `vector` into `row` (one row of codes: `stride_bytes / 8`
    /// words or more). Queries are encoded the same way.
    pub fn encode(&self, vector: &[f32], row: &mut [u64]) -> Result<(), IndexError> {
        debug_assert_eq!(vector.len(), self.dim);
        debug_assert!(row.len() * 8 >= self.stride_bytes());
        let row = &mut row[..self.stride_bytes() / 8];
        match self.traversal {
            Traversal::F32 | Traversal::F16 => unreachable!("a code store always has codes"),
            Traversal::Sq8 => {
                // SAFETY: i8 has no invalid bit patterns and alignment 1;
                // the slice covers exactly the words' bytes.
                let bytes = unsafe {
                    std::slice::from_raw_parts_mut(row.as_mut_ptr().cast::<i8>(), row.len() * 8)
                };
                quant::quantize_into::<i8>(vector, &mut bytes[..self.row_elems])
                    .map_err(|e| IndexError::Quantize(e.to_string()))
            }
            Traversal::Bit => {
                let scale = self.scale(vector);
                row.fill(0);
                for (i, (&v, &c)) in vector.iter().zip(&self.centre).enumerate() {
                    row[i / 64] |= u64::from(v * scale > c) << (i % 64);
                }
                Ok(())
            }
        }
    }

    /// Encodes `vector` as row `id`.
    ///
    /// # Safety
    /// `id` must be below the store's `max_rows`, owned by this writer
    /// alone, and not yet reachable by any reader.
    pub unsafe fn write(&self, id: u32, vector: &[f32]) -> Result<(), IndexError> {
        // SAFETY: forwarded to the caller.
        self.encode(vector, unsafe { self.rows.row_mut(id) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(traversal: Traversal, metric: Metric, dim: usize) -> CodeStore {
        let (dtype, _) = code_kernel(traversal, metric).unwrap();
        let elems = match dtype {
            ElementType::Bit => dim.div_ceil(64),
            ElementType::I8 => (dim + quant::META_BYTES).next_multiple_of(64),
            _ => dim.next_multiple_of(32),
        };
        CodeStore::new(traversal, metric, dim, elems, 4).unwrap()
    }

    #[test]
    fn bit_codes_are_signs_around_the_centre() {
        let mut s = store(Traversal::Bit, Metric::L2, 3);
        s.centre_on([[10.0, 0.0, 5.0], [12.0, 2.0, 5.0]].iter().map(|r| &r[..]));
        assert_eq!(s.centre, vec![11.0, 1.0, 5.0]);
        let mut row = vec![0u64; s.stride_bytes() / 8];
        s.encode(&[12.0, 0.0, 6.0], &mut row).unwrap();
        assert_eq!(row[0], 0b101);
        assert!(row[1..].iter().all(|&w| w == 0));
    }

    #[test]
    fn cosine_bit_codes_are_codes_of_the_direction() {
        let mut s = store(Traversal::Bit, Metric::Cosine, 3);
        // Centred on the mean direction of (1,0,0) and (0,1,0): (½,½,0).
        s.centre_on([[2.0, 0.0, 0.0], [0.0, 5.0, 0.0]].iter().map(|r| &r[..]));
        assert_eq!(s.centre, vec![0.5, 0.5, 0.0]);
        let code = |v: &[f32]| {
            let mut row = vec![0u64; s.stride_bytes() / 8];
            s.encode(v, &mut row).unwrap();
            row[0]
        };
        assert_eq!(code(&[3.0, 1.0, 1.0]), code(&[30.0, 10.0, 10.0]));
        assert_eq!(code(&[3.0, 1.0, 1.0]), 0b101);
    }

    #[test]
    fn the_f32_traversal_has_no_code_store() {
        assert!(code_kernel(Traversal::F32, Metric::L2).is_none());
        assert!(code_kernel(Traversal::F16, Metric::L2).is_none());
        assert!(CodeStore::new(Traversal::F32, Metric::L2, 8, 8, 1).is_err());
    }
}
