//! Scalar quantization (`i8`, `u8`) and binarization (`bit`): how a search
//! engine turns f32 vectors into the rows that integer kernels read.
//!
//! # Quantized row layout (`i8`, `u8`)
//!
//! ```text
//! byte 0 .. dim          codes c₀ … c_{dim−1} (i8 or u8)
//! dim .. row_len − 16    zero: padding to a multiple of 64 bytes
//!                        (`KernelSpec::meta_offset`, whatever the schedule)
//! row_len − 16 .. +4     offset a      (f32, little-endian)
//!             +4 .. +8   scale s       (f32)
//!             +8 .. +12  code sum Σcᵢ  (f32; exact, |Σcᵢ| < 2²⁴)
//!            +12 .. +16  ‖x‖²          (f32, of the dequantized vector)
//! ```
//!
//! The row stands for the vector `xᵢ = a + s·cᵢ` ([`dequantize`]). For two
//! rows x (a, s, c) and y (b, t, d) of dimension n, with `D = Σ cᵢ·dᵢ`:
//!
//! ```text
//! x·y = n·a·b + a·t·Σd + b·s·Σc + s·t·D
//! l2 = ‖x‖² + ‖y‖² − 2·x·y      ip = 1 − x·y      cosine = 1 − x·y / (‖x‖·‖y‖)
//! ```
//!
//! so a kernel's only loop is the integer dot product `D`, exact in i32
//! (|D| ≤ 65536·128² = 2³⁰ for i8; u8 dimensions stop at 32768 so that
//! 32768·255² < 2³¹), and a short f32 epilogue. [`crate::bound`] holds the
//! error bound of that epilogue; the oracle ([`crate::reference`])
//! computes the distance of the dequantized vectors in f64.
//!
//! # Bit rows
//!
//! `ceil(dim / 64)` `u64` words (more under `tail=padded`, all zero), bit
//! `i` in bit `i % 64` of word `i / 64`; the bits past `dim` are zero.

use crate::Element;
use thiserror::Error;

/// Bytes of per-row metadata after a quantized row's codes.
pub const META_BYTES: usize = 16;

/// Why a vector could not be quantized into a row.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QuantError {
    #[error("component {index} is {value}: only finite vectors can be quantized")]
    NonFinite { index: usize, value: f32 },
    #[error("a row of {row_len} elements cannot hold {dim} components and their {meta} trailing metadata elements")]
    RowTooShort {
        dim: usize,
        row_len: usize,
        meta: usize,
    },
    #[error("the vector's squared norm overflows f32")]
    Overflow,
}

/// The per-row metadata of a quantized row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantMeta {
    /// `a` in `xᵢ = a + s·cᵢ`.
    pub offset: f32,
    /// `s` in `xᵢ = a + s·cᵢ` (0 for a constant vector).
    pub scale: f32,
    /// `Σ cᵢ`, exact.
    pub code_sum: f32,
    /// `‖x‖²` of the dequantized vector, rounded once.
    pub sq_norm: f32,
}

/// An integer code type: `i8` or `u8`.
pub trait Code: Element {
    const MIN: i32;
    const MAX: i32;
    /// The code `c`, which must lie in `MIN..=MAX`.
    fn from_code(c: i32) -> Self;
    fn code(self) -> i32;
}

impl Code for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    fn from_code(c: i32) -> Self {
        c as i8
    }
    fn code(self) -> i32 {
        self as i32
    }
}

impl Code for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = u8::MAX as i32;
    fn from_code(c: i32) -> Self {
        c as u8
    }
    fn code(self) -> i32 {
        self as i32
    }
}

/// Quantizes `x` into a row of `row_len` elements (`Kernel::row_len()`):
/// the range `[min x, max x]` maps onto the code range, so the largest
/// error per component is `s/2 = (max − min) / 510`.
pub fn quantize<T: Code>(x: &[f32], row_len: usize) -> Result<Vec<T>, QuantError> {
    let mut row = vec![T::from_code(0); row_len];
    quantize_into(x, &mut row)?;
    Ok(row)
}

/// [`quantize`] into an existing row (every element of it is written).
pub fn quantize_into<T: Code>(x: &[f32], row: &mut [T]) -> Result<(), QuantError> {
    if let Some((index, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(QuantError::NonFinite { index, value });
    }
    let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let levels = (T::MAX - T::MIN) as f64;
    let (offset, scale) = if x.is_empty() || hi <= lo {
        // A constant vector: every code 0, the value in the offset.
        (if x.is_empty() { 0.0 } else { lo }, 0.0f32)
    } else {
        let scale = ((hi as f64 - lo as f64) / levels) as f32;
        // Code MIN stands for `lo`.
        let offset = (lo as f64 - T::MIN as f64 * scale as f64) as f32;
        (offset, scale)
    };
    let codes: Vec<T> = x
        .iter()
        .map(|&v| {
            if scale == 0.0 {
                T::from_code(0)
            } else {
                let c = ((v as f64 - offset as f64) / scale as f64).round();
                T::from_code(c.clamp(T::MIN as f64, T::MAX as f64) as i32)
            }
        })
        .collect();
    encode_into(&codes, offset, scale, row)
}

/// Writes the row for the given codes, offset and scale: the codes, zero
/// padding and the metadata (code sum and squared norm computed here).
pub fn encode_into<T: Code>(
    codes: &[T],
    offset: f32,
    scale: f32,
    row: &mut [T],
) -> Result<(), QuantError> {
    let dim = codes.len();
    if row.len() < dim + META_BYTES {
        return Err(QuantError::RowTooShort {
            dim,
            row_len: row.len(),
            meta: META_BYTES,
        });
    }
    let code_sum: i64 = codes.iter().map(|c| c.code() as i64).sum();
    let sq_norm: f64 = codes
        .iter()
        .map(|c| {
            let v = dequantized(offset, scale, c.code());
            v * v
        })
        .sum();
    let sq_norm = sq_norm as f32;
    if !sq_norm.is_finite() {
        return Err(QuantError::Overflow);
    }
    let meta_at = row.len() - META_BYTES;
    row[..dim].copy_from_slice(codes);
    row[dim..meta_at].fill(T::from_code(0));
    let words = [offset, scale, code_sum as f32, sq_norm];
    for (k, w) in words.iter().enumerate() {
        for (j, byte) in w.to_le_bytes().into_iter().enumerate() {
            row[meta_at + 4 * k + j] = T::from_bits(byte as u64);
        }
    }
    Ok(())
}

/// A row made of `codes`, `offset` and `scale` (see [`encode_into`]).
pub fn encode<T: Code>(
    codes: &[T],
    offset: f32,
    scale: f32,
    row_len: usize,
) -> Result<Vec<T>, QuantError> {
    let mut row = vec![T::from_code(0); row_len];
    encode_into(codes, offset, scale, &mut row)?;
    Ok(row)
}

/// The metadata at the end of a quantized row.
///
/// # Panics
/// If the row is shorter than [`META_BYTES`] (callers pass rows of a
/// kernel's `row_len`, which is always longer).
pub fn meta<T: Code>(row: &[T]) -> QuantMeta {
    let at = row.len() - META_BYTES;
    let word = |k: usize| {
        let mut b = [0u8; 4];
        for (j, byte) in b.iter_mut().enumerate() {
            *byte = row[at + 4 * k + j].to_bits() as u8;
        }
        f32::from_le_bytes(b)
    };
    QuantMeta {
        offset: word(0),
        scale: word(1),
        code_sum: word(2),
        sq_norm: word(3),
    }
}

/// `a + s·c` in f64: exact for any f32 `a`, `s` of similar magnitude, and
/// within 2⁻⁵³ relative otherwise.
pub fn dequantized(offset: f32, scale: f32, code: i32) -> f64 {
    offset as f64 + scale as f64 * code as f64
}

/// The vector a quantized row of dimension `dim` stands for, in f64.
pub fn dequantize<T: Code>(row: &[T], dim: usize) -> Vec<f64> {
    let m = meta(row);
    row[..dim]
        .iter()
        .map(|c| dequantized(m.offset, m.scale, c.code()))
        .collect()
}

/// Binarizes `x` by sign (component `i` is 1 when `xᵢ > 0`) into a `bit`
/// row of `row_len` words (`Kernel::row_len()`).
pub fn binarize(x: &[f32], row_len: usize) -> Result<Vec<u64>, QuantError> {
    pack_bits(x.iter().map(|&v| v > 0.0), x.len(), row_len)
}

/// Packs `dim` bits into a `bit` row of `row_len` words.
pub fn pack_bits(
    bits: impl IntoIterator<Item = bool>,
    dim: usize,
    row_len: usize,
) -> Result<Vec<u64>, QuantError> {
    if row_len < dim.div_ceil(64) {
        return Err(QuantError::RowTooShort {
            dim,
            row_len,
            meta: 0,
        });
    }
    let mut row = vec![0u64; row_len];
    for (i, bit) in bits.into_iter().take(dim).enumerate() {
        row[i / 64] |= (bit as u64) << (i % 64);
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_round_trips_within_half_a_step() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let row: Vec<i8> = quantize(&x, 40 + META_BYTES).unwrap();
        let m = meta(&row);
        let back = dequantize(&row, x.len());
        for (a, b) in x.iter().zip(&back) {
            assert!((*a as f64 - b).abs() <= m.scale as f64 * 0.5 + 1e-6);
        }
        let sum: i32 = row[..37].iter().map(|&c| c as i32).sum();
        assert_eq!(m.code_sum, sum as f32);
        let sq: f64 = back.iter().map(|v| v * v).sum();
        assert_eq!(m.sq_norm, sq as f32);
        assert!(row[37..40].iter().all(|&c| c == 0));
        let row: Vec<u8> = quantize(&x, 37 + META_BYTES).unwrap();
        assert!(row[..37].contains(&0) && row[..37].contains(&255));
    }

    #[test]
    fn bad_vectors_are_rejected() {
        assert!(matches!(
            quantize::<u8>(&[1.0, f32::NAN], 32),
            Err(QuantError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            quantize::<u8>(&[1.0; 8], 8),
            Err(QuantError::RowTooShort { .. })
        ));
        assert_eq!(
            quantize::<i8>(&[f32::MAX, -f32::MAX], 2 + META_BYTES),
            Err(QuantError::Overflow)
        );
        let c: Vec<u8> = quantize(&[2.5; 5], 5 + META_BYTES).unwrap();
        assert_eq!(dequantize(&c, 5), vec![2.5; 5]);
    }

    #[test]
    fn bits_pack_least_significant_first() {
        let row = pack_bits([true, false, true], 3, 2).unwrap();
        assert_eq!(row, vec![0b101, 0]);
        let row = binarize(
            &[-1.0; 64].iter().chain(&[1.0]).copied().collect::<Vec<_>>(),
            2,
        )
        .unwrap();
        assert_eq!(row, vec![0, 1]);
        assert!(pack_bits([true], 65, 1).is_err());
    }
}
