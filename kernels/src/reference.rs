//! The scalar oracle: every spec computed for clarity, in f64, from the f32
//! inputs. Products of two f32 values are exact in f64 and the sums carry
//! 29 more bits than the kernels', so the oracle's own error is negligible
//! next to the bound the kernels are held to.

use crate::quant::{self, Code};
use crate::Metric;

/// The oracle's answer for one pair, with the magnitude the error bound
/// scales with (see [`crate::bound`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reference {
    pub distance: f64,
    /// l2: `Σ (aᵢ-bᵢ)²`; ip: `Σ |aᵢ·bᵢ|`; cosine: `|a|·|b|`; hamming: 0
    /// (exact). For quantized rows, see [`quantized_pair`].
    pub magnitude: f64,
}

/// The distance between `a` and `b` under `metric`.
///
/// # Panics
/// If the slices differ in length: the oracle is a test tool, and a length
/// mismatch there is a bug in the test.
pub fn pair(metric: Metric, a: &[f32], b: &[f32]) -> Reference {
    assert_eq!(a.len(), b.len(), "oracle called with mismatched lengths");
    let pairs = a.iter().zip(b).map(|(&x, &y)| (x as f64, y as f64));
    match metric {
        Metric::L2 => {
            let sum: f64 = pairs.map(|(x, y)| (x - y) * (x - y)).sum();
            Reference {
                distance: sum,
                magnitude: sum,
            }
        }
        Metric::Ip => {
            let (dot, abs) =
                pairs.fold((0.0, 0.0), |(d, s), (x, y)| (d + x * y, s + (x * y).abs()));
            Reference {
                distance: 1.0 - dot,
                magnitude: abs,
            }
        }
        Metric::Cosine | Metric::CosineNorms => {
            let (dot, na, nb) = pairs.fold((0.0, 0.0, 0.0), |(d, na, nb), (x, y)| {
                (d + x * y, na + x * x, nb + y * y)
            });
            let min = f32::MIN_POSITIVE as f64;
            let distance = if na < min || nb < min {
                1.0
            } else {
                1.0 - dot / (na.sqrt() * nb.sqrt())
            };
            Reference {
                distance,
                magnitude: na.sqrt() * nb.sqrt(),
            }
        }
        Metric::Hamming => Reference {
            distance: pairs.filter(|(x, y)| x != y).count() as f64,
            magnitude: 0.0,
        },
    }
}

/// The distance between two quantized rows of dimension `dim`: the
/// distance of the vectors they stand for ([`quant::dequantize`]),
/// computed in f64 from the codes and the stored offset and scale (exact
/// up to f64 rounding, 2⁻⁵³ relative). For `cosine`, a row whose stored
/// `‖x‖²` is below `f32::MIN_POSITIVE` is a zero vector (distance 1), as
/// in the kernel.
///
/// `magnitude` is what [`crate::bound::quantized_tolerance`] scales with:
/// with `T = n·|a·b| + |a·t·Σd| + |b·s·Σc| + |s·t·D|` (the four terms of
/// the kernel's `x·y`), l2: `‖x‖² + ‖y‖² + 2T`; ip: `T`; cosine:
/// `T / (‖x‖·‖y‖)`.
///
/// # Panics
/// If a row is shorter than `dim` plus its metadata (a bug in the test).
pub fn quantized_pair<T: Code>(metric: Metric, dim: usize, a: &[T], b: &[T]) -> Reference {
    let (ma, mb) = (quant::meta(a), quant::meta(b));
    let x = quant::dequantize(a, dim);
    let y = quant::dequantize(b, dim);
    let dot: f64 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
    let codes = |r: &[T]| -> Vec<i64> { r[..dim].iter().map(|c| c.code() as i64).collect() };
    let (c, d) = (codes(a), codes(b));
    let int_dot: i64 = c.iter().zip(&d).map(|(p, q)| p * q).sum();
    let (oa, sa, ob, sb) = (
        ma.offset as f64,
        ma.scale as f64,
        mb.offset as f64,
        mb.scale as f64,
    );
    let terms = (dim as f64 * oa * ob).abs()
        + (oa * sb * mb.code_sum as f64).abs()
        + (ob * sa * ma.code_sum as f64).abs()
        + (sa * sb * int_dot as f64).abs();
    let (na, nb) = (ma.sq_norm as f64, mb.sq_norm as f64);
    match metric {
        Metric::L2 => Reference {
            distance: x.iter().zip(&y).map(|(p, q)| (p - q) * (p - q)).sum(),
            magnitude: na + nb + 2.0 * terms,
        },
        Metric::Ip => Reference {
            distance: 1.0 - dot,
            magnitude: terms,
        },
        _ => {
            let min = f32::MIN_POSITIVE as f64;
            let norms = x.iter().map(|v| v * v).sum::<f64>().sqrt()
                * y.iter().map(|v| v * v).sum::<f64>().sqrt();
            if na < min || nb < min || norms == 0.0 {
                Reference {
                    distance: 1.0,
                    magnitude: 0.0,
                }
            } else {
                Reference {
                    distance: 1.0 - dot / norms,
                    magnitude: terms / norms,
                }
            }
        }
    }
}

/// The Hamming distance between two `bit` rows of dimension `dim` (bits):
/// the differing bits among the first `dim`. Exact.
pub fn hamming(dim: usize, a: &[u64], b: &[u64]) -> Reference {
    let differing = (0..dim)
        .filter(|&i| (a[i / 64] >> (i % 64)) & 1 != (b[i / 64] >> (i % 64)) & 1)
        .count();
    Reference {
        distance: differing as f64,
        magnitude: 0.0,
    }
}

/// The inverse norm `1/|x|` that `CosineNorms` rows carry after their
/// components, computed in f64 and rounded once; 0 for a vector whose
/// squared norm is below `f32::MIN_POSITIVE` (treated as zero, as `Cosine`
/// does), which makes its distance to everything 1.
pub fn inverse_norm(x: &[f32]) -> f32 {
    let sq: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    if sq < f32::MIN_POSITIVE as f64 {
        0.0
    } else {
        (1.0 / sq.sqrt()) as f32
    }
}

/// Row `index` of a row-major matrix with `stride` elements per row.
pub fn row(base: &[f32], stride: usize, dim: usize, index: usize) -> &[f32] {
    &base[index * stride..index * stride + dim]
}

/// `gather`: the query against the rows named by `ids`.
pub fn gather(
    metric: Metric,
    query: &[f32],
    base: &[f32],
    stride: usize,
    ids: &[u32],
) -> Vec<Reference> {
    let dim = query.len();
    ids.iter()
        .map(|&id| pair(metric, query, row(base, stride, dim, id as usize)))
        .collect()
}

/// `scan`: the query against the first `count` rows.
pub fn scan(
    metric: Metric,
    query: &[f32],
    base: &[f32],
    stride: usize,
    count: usize,
) -> Vec<Reference> {
    let dim = query.len();
    (0..count)
        .map(|i| pair(metric, query, row(base, stride, dim, i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let a = [1.0, 2.0, 3.0];
        let b = [4.0, 6.0, 3.0];
        assert_eq!(pair(Metric::L2, &a, &b).distance, 9.0 + 16.0);
        assert_eq!(pair(Metric::Ip, &a, &b).distance, 1.0 - (4.0 + 12.0 + 9.0));
        let c = pair(Metric::Cosine, &a, &a).distance;
        assert!(c.abs() < 1e-15);
        let orthogonal = pair(Metric::Cosine, &[1.0, 0.0], &[0.0, 5.0]).distance;
        assert_eq!(orthogonal, 1.0);
        assert_eq!(pair(Metric::Cosine, &[0.0, 0.0], &[1.0, 1.0]).distance, 1.0);
        assert_eq!(
            pair(Metric::CosineNorms, &a, &b),
            pair(Metric::Cosine, &a, &b)
        );
        assert_eq!(inverse_norm(&[3.0, 4.0]), 0.2);
        assert_eq!(inverse_norm(&[0.0, 0.0]), 0.0);
        assert_eq!(
            pair(Metric::Hamming, &[1.0, 0.0, 1.0], &[1.0, 1.0, 0.0]).distance,
            2.0
        );
    }

    #[test]
    fn quantized_and_bit_oracles() {
        // Offset 1, scale 2: codes [0, 1, 2] stand for [1, 3, 5].
        let a = quant::encode::<i8>(&[0, 1, 2], 1.0, 2.0, 4 + quant::META_BYTES).unwrap();
        let b = quant::encode::<i8>(&[1, 0, -1], 0.0, 1.0, 4 + quant::META_BYTES).unwrap();
        // x = [1, 3, 5], y = [1, 0, -1].
        assert_eq!(
            quantized_pair(Metric::Ip, 3, &a, &b).distance,
            1.0 - (1.0 - 5.0)
        );
        assert_eq!(
            quantized_pair(Metric::L2, 3, &a, &b).distance,
            0.0 + 9.0 + 36.0
        );
        let c = quantized_pair(Metric::Cosine, 3, &a, &a).distance;
        assert!(c.abs() < 1e-15);
        let z = quant::encode::<u8>(&[0, 0], 0.0, 0.0, 4 + quant::META_BYTES).unwrap();
        assert_eq!(quantized_pair(Metric::Cosine, 2, &z, &z).distance, 1.0);
        assert_eq!(hamming(65, &[u64::MAX, 1], &[0, 3]).distance, 64.0);
        assert_eq!(hamming(66, &[u64::MAX, 1], &[0, 3]).distance, 65.0);
    }

    #[test]
    fn shapes_agree_with_pairs() {
        let base: Vec<f32> = (0..20).map(|i| i as f32).collect(); // 4 rows, stride 5, dim 3
        let q = [1.0, 0.0, 2.0];
        let g = gather(Metric::L2, &q, &base, 5, &[3, 0]);
        assert_eq!(g[0], pair(Metric::L2, &q, &base[15..18]));
        assert_eq!(g[1], pair(Metric::L2, &q, &base[0..3]));
        let s = scan(Metric::L2, &q, &base, 5, 2);
        assert_eq!(s[1], pair(Metric::L2, &q, &base[5..8]));
    }
}
