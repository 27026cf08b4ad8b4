//! The error bound every generated kernel is held to.
//!
//! A kernel sums in f32 in some order; the oracle sums in f64. The classic
//! bound for recursive summation (Higham, *Accuracy and Stability of
//! Numerical Algorithms*, §3.1 and §4.2) is, for any order in which no term
//! passes through more than `d` additions,
//!
//! ```text
//!     |fl(Σ xᵢ) − Σ xᵢ| ≤ γ_d · Σ |xᵢ|,    γ_d = d·u / (1 − d·u),  u = 2⁻²⁴
//! ```
//!
//! `d` comes from the schedule ([`crate::Schedule::accumulation_depth`]):
//! `ceil(n / (width·acc)) + acc + 2·width + 4`. Per metric:
//!
//! | metric | bound on `|kernel − oracle|` |
//! |--------|------------------------------|
//! | l2     | `γ_{d+3} · Σ (aᵢ−bᵢ)²` (a relative bound: every term is ≥ 0) |
//! | ip     | `γ_{d+2} · (Σ |aᵢ·bᵢ| + 1)` |
//! | cosine | `3 · γ_{d+3}` (Cauchy–Schwarz turns the dot product's bound into one on the cosine) |
//! | cosine_norms | as cosine: the stored inverse norms are rounded once each |
//!
//! plus `n · f32::MIN_POSITIVE` (scaled by `1 / (|a|·|b|)` for cosine) for
//! products that underflow into denormals. The bound is rigorous, yet tight
//! enough to catch a dropped element: for n = 768, width 4, 4 accumulators,
//! `γ_{d+3} ≈ 4·10⁻⁶`, while one missing term of a random vector moves the
//! result by about `1/n ≈ 1.3·10⁻³` of its magnitude. Verification also runs
//! small-integer inputs, whose sums are exact in f32, and demands equality.
//!
//! # Integer kernels
//!
//! `hamming` is exact: integer popcounts, at most 65536, converted once to
//! f32. Quantized kernels (`i8`, `u8`) sum their codes' products exactly in
//! i32, so only the epilogue rounds ([`crate::quant`]): each of the four
//! terms of `x·y` passes through at most three roundings (the i32 → f32
//! conversion of `D` and two products) and three additions, so
//! `|fl(x·y) − x·y| ≤ γ₆·T` with `T` the sum of the terms' magnitudes; the
//! stored `‖x‖²` carry one rounding each. Hence
//!
//! | metric | bound on `|kernel − oracle|` ([`quantized_tolerance`]) |
//! |--------|------------------------------|
//! | l2     | `γ₁₀ · (‖x‖² + ‖y‖² + 2T)` |
//! | ip     | `γ₈ · (T + 1)` |
//! | cosine | `γ₈ · (T / (‖x‖·‖y‖) + 3)` |
//!
//! plus `16 · f32::MIN_POSITIVE` for products that underflow. Codes small
//! enough that every term and sum is an integer below 2²⁴ (offset 0,
//! scale 1) make l2 and ip exact, and verification demands equality there.

use crate::reference::Reference;
use crate::Metric;

/// Unit roundoff of f32.
pub const UNIT_ROUNDOFF: f64 = 1.0 / (1u64 << 24) as f64;

/// `γ_d = d·u / (1 − d·u)`.
pub fn gamma(d: usize) -> f64 {
    let du = d as f64 * UNIT_ROUNDOFF;
    if du >= 1.0 {
        f64::INFINITY
    } else {
        du / (1.0 - du)
    }
}

/// The largest `|kernel − oracle|` allowed for one distance.
pub fn tolerance(metric: Metric, dim: usize, depth: usize, reference: &Reference) -> f64 {
    let underflow = dim as f64 * f32::MIN_POSITIVE as f64;
    match metric {
        Metric::L2 => gamma(depth + 3) * reference.magnitude + underflow,
        Metric::Ip => gamma(depth + 2) * (reference.magnitude + 1.0) + underflow,
        Metric::Cosine | Metric::CosineNorms => {
            let scaled_underflow = if reference.magnitude > 0.0 {
                underflow / reference.magnitude
            } else {
                0.0
            };
            3.0 * gamma(depth + 3) + scaled_underflow.min(1.0)
        }
        Metric::Hamming => 0.0,
    }
}

/// The largest `|kernel − oracle|` allowed for one distance between
/// quantized rows; `reference` comes from
/// [`crate::reference::quantized_pair`].
pub fn quantized_tolerance(metric: Metric, reference: &Reference) -> f64 {
    let underflow = 16.0 * f32::MIN_POSITIVE as f64;
    match metric {
        Metric::L2 => gamma(10) * reference.magnitude + underflow,
        Metric::Ip => gamma(8) * (reference.magnitude + 1.0) + underflow,
        Metric::Hamming => 0.0,
        Metric::Cosine | Metric::CosineNorms => {
            gamma(8) * (reference.magnitude + 3.0) + underflow.min(1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_grows_with_depth_and_saturates() {
        assert!(gamma(10) < gamma(11));
        assert!((gamma(1) - UNIT_ROUNDOFF).abs() < 1e-14);
        assert_eq!(gamma(1 << 24), f64::INFINITY);
    }
}
