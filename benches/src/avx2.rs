//! Hand-written AVX2+FMA distance kernels: what a careful engineer writes
//! with `std::arch` intrinsics, the baseline Hektor's JIT-compiled kernels
//! are measured against.
//!
//! Every kernel works for any length: a main loop over 32 floats with four
//! independent `__m256` accumulators (enough to cover the FMA latency),
//! then a loop over 8 floats into one accumulator, then a scalar tail, and
//! a horizontal sum. The sums are f32 like Hektor's kernels; cosine keeps
//! three sums (a·b, |a|², |b|²) in one pass and finishes in f64 exactly as
//! Hektor's Cranelift lowering does (see [`crate::finish_cosine`]).
//!
//! The raw kernels in [`raw`] are `unsafe`: they may only run on a CPU with
//! AVX2 and FMA. [`Avx2Kernels`] checks that once, in
//! [`Avx2Kernels::detect`], and then offers safe methods.

use hektor_kernels::Metric;

/// These are f32 kernels; Hamming distances are over bit vectors, which the
/// benches compare through `Peers::simsimd_hamming` instead.
const NO_HAMMING: &str = "the f32 peers have no hamming kernel (a metric of bit vectors)";

/// A token proving the CPU has AVX2 and FMA: it can only be made by
/// [`Avx2Kernels::detect`], so its methods may call the raw kernels.
#[derive(Debug, Clone, Copy)]
pub struct Avx2Kernels {
    _checked: (),
}

impl Avx2Kernels {
    /// `Some` when the host CPU has AVX2 and FMA (checked at run time).
    pub fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Avx2Kernels { _checked: () });
            }
        }
        None
    }

    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²`.
    ///
    /// # Panics
    /// If `a` and `b` differ in length.
    pub fn l2(&self, a: &[f32], b: &[f32]) -> f32 {
        self.pair(Metric::L2, a, b)
    }

    /// Inner-product distance `1 - Σ aᵢ·bᵢ`.
    ///
    /// # Panics
    /// If `a` and `b` differ in length.
    pub fn ip(&self, a: &[f32], b: &[f32]) -> f32 {
        self.pair(Metric::Ip, a, b)
    }

    /// Cosine distance `1 - a·b / (|a|·|b|)`, `1` when a squared norm is
    /// below `f32::MIN_POSITIVE`.
    ///
    /// # Panics
    /// If `a` and `b` differ in length.
    pub fn cosine(&self, a: &[f32], b: &[f32]) -> f32 {
        self.pair(Metric::Cosine, a, b)
    }

    /// The distance between `a` and `b` under `metric`.
    ///
    /// # Panics
    /// If `a` and `b` differ in length, or for `hamming`.
    pub fn pair(&self, metric: Metric, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "avx2 pair: vectors differ in length");
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` exists only if `detect` found AVX2 and FMA on
            // this CPU, the features the raw kernels are compiled for; the
            // lengths are equal, as the kernels require.
            unsafe {
                match metric {
                    Metric::L2 => raw::l2(a, b),
                    Metric::Ip => raw::ip(a, b),
                    Metric::Cosine | Metric::CosineNorms => raw::cosine(a, b),
                    Metric::Hamming => panic!("{NO_HAMMING}"),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = metric;
            unreachable!("Avx2Kernels cannot be constructed off x86-64")
        }
    }

    /// `gather`: distances from `query` to the rows `ids` of the row-major
    /// matrix `base` (row `i` starts at element `i · stride`), into
    /// `out[..ids.len()]`. A plain loop calling the pair kernel per row.
    ///
    /// # Panics
    /// If `stride < query.len()`, a row lies outside `base`, or `out` is
    /// shorter than `ids`.
    pub fn gather(
        &self,
        metric: Metric,
        query: &[f32],
        base: &[f32],
        stride: usize,
        ids: &[u32],
        out: &mut [f32],
    ) {
        assert!(
            stride >= query.len(),
            "avx2 gather: stride below the dimension"
        );
        assert!(out.len() >= ids.len(), "avx2 gather: output too short");
        #[cfg(target_arch = "x86_64")]
        {
            use raw::rows;
            // SAFETY: `self` proves AVX2 and FMA (see `pair`); the row loop
            // slices `base` with bounds checks, so a bad id panics instead
            // of reading out of bounds.
            unsafe {
                match metric {
                    Metric::L2 => rows::gather::<{ rows::L2 }>(query, base, stride, ids, out),
                    Metric::Ip => rows::gather::<{ rows::IP }>(query, base, stride, ids, out),
                    Metric::Cosine | Metric::CosineNorms => {
                        rows::gather::<{ rows::COSINE }>(query, base, stride, ids, out)
                    }
                    Metric::Hamming => panic!("{NO_HAMMING}"),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (metric, base, out);
            unreachable!("Avx2Kernels cannot be constructed off x86-64")
        }
    }

    /// `scan`: distances from `query` to rows `0..count` of `base`, into
    /// `out[..count]`. A plain loop calling the pair kernel per row.
    ///
    /// # Panics
    /// If `stride < query.len()`, row `count - 1` lies outside `base`, or
    /// `out` is shorter than `count`.
    pub fn scan(
        &self,
        metric: Metric,
        query: &[f32],
        base: &[f32],
        stride: usize,
        count: usize,
        out: &mut [f32],
    ) {
        assert!(
            stride >= query.len(),
            "avx2 scan: stride below the dimension"
        );
        assert!(out.len() >= count, "avx2 scan: output too short");
        #[cfg(target_arch = "x86_64")]
        {
            use raw::rows;
            let out = &mut out[..count];
            // SAFETY: as in `gather`: AVX2 and FMA are present, and rows are
            // sliced with bounds checks.
            unsafe {
                match metric {
                    Metric::L2 => rows::scan::<{ rows::L2 }>(query, base, stride, out),
                    Metric::Ip => rows::scan::<{ rows::IP }>(query, base, stride, out),
                    Metric::Cosine | Metric::CosineNorms => {
                        rows::scan::<{ rows::COSINE }>(query, base, stride, out)
                    }
                    Metric::Hamming => panic!("{NO_HAMMING}"),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (metric, base, out);
            unreachable!("Avx2Kernels cannot be constructed off x86-64")
        }
    }
}

/// The kernels themselves. Each is `unsafe` only because it is compiled for
/// AVX2+FMA: the caller must make sure the CPU has both (which is what
/// [`Avx2Kernels`] is for).
#[cfg(target_arch = "x86_64")]
pub mod raw {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_setzero_ps, _mm256_sub_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32,
        _mm_movehdup_ps, _mm_movehl_ps,
    };

    /// f32 lanes in one `__m256`.
    const LANES: usize = 8;
    /// Independent accumulators in the main loop.
    const ACC: usize = 4;
    /// Elements one main-loop iteration consumes.
    const BLOCK: usize = LANES * ACC;

    /// The sum of the eight lanes of `v`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s4 = _mm_add_ps(lo, hi); // [s0, s1, s2, s3]
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4)); // [s0+s2, s1+s3, ..]
        let s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2)); // [s0+s2+s1+s3, ..]
        _mm_cvtss_f32(s1)
    }

    /// `(acc0 + acc1) + (acc2 + acc3)`, then the horizontal sum.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce(acc: [__m256; ACC]) -> f32 {
        hsum(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ))
    }

    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²`, over `min(a.len(), b.len())`
    /// elements.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); ACC];
        let mut i = 0;
        while i + BLOCK <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let at = i + k * LANES;
                // SAFETY: `at + LANES <= i + BLOCK <= n`, so both unaligned
                // 8-float loads lie inside `a` and `b`.
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at))) };
                let d = _mm256_sub_ps(x, y);
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
            i += BLOCK;
        }
        while i + LANES <= n {
            // SAFETY: `i + LANES <= n`: both loads lie inside the slices.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            let d = _mm256_sub_ps(x, y);
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += LANES;
        }
        let mut sum = reduce(acc);
        for (x, y) in a[i..n].iter().zip(&b[i..n]) {
            let d = x - y;
            sum += d * d;
        }
        sum
    }

    /// `Σ aᵢ·bᵢ` over `min(a.len(), b.len())` elements.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); ACC];
        let mut i = 0;
        while i + BLOCK <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                let at = i + k * LANES;
                // SAFETY: `at + LANES <= i + BLOCK <= n`: in bounds of both.
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at))) };
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += BLOCK;
        }
        while i + LANES <= n {
            // SAFETY: `i + LANES <= n`: in bounds of both.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += LANES;
        }
        let mut sum = reduce(acc);
        for (x, y) in a[i..n].iter().zip(&b[i..n]) {
            sum += x * y;
        }
        sum
    }

    /// Inner-product distance `1 - Σ aᵢ·bᵢ`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn ip(a: &[f32], b: &[f32]) -> f32 {
        1.0 - dot(a, b)
    }

    /// Cosine distance, with a·b, |a|² and |b|² summed in one pass (four
    /// accumulators each: 12 of the 16 ymm registers) and finished in f64.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut ab = [_mm256_setzero_ps(); ACC];
        let mut aa = [_mm256_setzero_ps(); ACC];
        let mut bb = [_mm256_setzero_ps(); ACC];
        let mut i = 0;
        while i + BLOCK <= n {
            for k in 0..ACC {
                let at = i + k * LANES;
                // SAFETY: `at + LANES <= i + BLOCK <= n`: in bounds of both.
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at))) };
                ab[k] = _mm256_fmadd_ps(x, y, ab[k]);
                aa[k] = _mm256_fmadd_ps(x, x, aa[k]);
                bb[k] = _mm256_fmadd_ps(y, y, bb[k]);
            }
            i += BLOCK;
        }
        while i + LANES <= n {
            // SAFETY: `i + LANES <= n`: in bounds of both.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            ab[0] = _mm256_fmadd_ps(x, y, ab[0]);
            aa[0] = _mm256_fmadd_ps(x, x, aa[0]);
            bb[0] = _mm256_fmadd_ps(y, y, bb[0]);
            i += LANES;
        }
        let (mut sab, mut saa, mut sbb) = (reduce(ab), reduce(aa), reduce(bb));
        for (x, y) in a[i..n].iter().zip(&b[i..n]) {
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        crate::finish_cosine(sab, saa, sbb)
    }

    /// Row loops compiled with the same features, so the pair kernel
    /// inlines into them: what a hand-written `gather`/`scan` looks like.
    pub mod rows {
        pub const L2: u8 = 0;
        pub const IP: u8 = 1;
        pub const COSINE: u8 = 2;

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn pair<const M: u8>(a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: this function is compiled for AVX2+FMA and callable
            // only from code compiled for them (its callers below), which
            // their own callers run only on a CPU that has both.
            unsafe {
                match M {
                    L2 => super::l2(a, b),
                    IP => super::ip(a, b),
                    _ => super::cosine(a, b),
                }
            }
        }

        /// Distances from `query` to rows `ids` of `base`, into `out`.
        /// Panics (through slice bounds checks) if a row lies outside `base`.
        ///
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn gather<const M: u8>(
            query: &[f32],
            base: &[f32],
            stride: usize,
            ids: &[u32],
            out: &mut [f32],
        ) {
            let dim = query.len();
            for (o, &id) in out.iter_mut().zip(ids) {
                let start = id as usize * stride;
                *o = pair::<M>(query, &base[start..start + dim]);
            }
        }

        /// Distances from `query` to rows `0..out.len()` of `base`.
        /// Panics (through slice bounds checks) if a row lies outside `base`.
        ///
        /// # Safety
        /// The CPU must support AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn scan<const M: u8>(
            query: &[f32],
            base: &[f32],
            stride: usize,
            out: &mut [f32],
        ) {
            let dim = query.len();
            for (i, o) in out.iter_mut().enumerate() {
                let start = i * stride;
                *o = pair::<M>(query, &base[start..start + dim]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::random_vector;
    use hektor_kernels::reference;

    fn kernels() -> Option<Avx2Kernels> {
        let k = Avx2Kernels::detect();
        if k.is_none() {
            eprintln!("SKIPPED: this CPU lacks AVX2 or FMA; the avx2 kernels are not tested");
        }
        k
    }

    fn dims() -> impl Iterator<Item = usize> {
        (1..=100).chain([768, 1031])
    }

    #[test]
    fn pair_kernels_match_the_oracle() {
        let Some(k) = kernels() else { return };
        for dim in dims() {
            for seed in 0..3 {
                let a = random_vector(1000 * dim as u64 + seed, dim);
                let b = random_vector(7 + 1000 * dim as u64 + seed, dim);
                for metric in Metric::ALL {
                    let got = k.pair(metric, &a, &b);
                    crate::check_close(metric, got, &reference::pair(metric, &a, &b), 1e-5)
                        .unwrap_or_else(|e| panic!("{metric} d{dim}: {e}"));
                }
                assert_eq!(k.l2(&a, &b), k.pair(Metric::L2, &a, &b));
                assert_eq!(k.ip(&a, &b), k.pair(Metric::Ip, &a, &b));
                assert_eq!(k.cosine(&a, &b), k.pair(Metric::Cosine, &a, &b));
            }
        }
    }

    #[test]
    fn cosine_of_a_zero_vector_is_one() {
        let Some(k) = kernels() else { return };
        for dim in [1, 8, 33, 768] {
            let zero = vec![0.0; dim];
            let v = random_vector(dim as u64, dim);
            assert_eq!(k.cosine(&zero, &v), 1.0);
            assert_eq!(k.cosine(&v, &zero), 1.0);
            assert_eq!(k.cosine(&zero, &zero), 1.0);
            assert!(k.cosine(&v, &v).abs() < 1e-6);
        }
    }

    #[test]
    fn small_integers_are_exact() {
        let Some(k) = kernels() else { return };
        for dim in dims() {
            let a: Vec<f32> = (0..dim).map(|i| (i % 7) as f32 - 3.0).collect();
            let b: Vec<f32> = (0..dim).map(|i| (i % 5) as f32 - 2.0).collect();
            for metric in [Metric::L2, Metric::Ip] {
                let want = reference::pair(metric, &a, &b).distance;
                assert_eq!(k.pair(metric, &a, &b) as f64, want, "{metric} d{dim}");
            }
        }
    }

    #[test]
    fn row_loops_agree_with_the_pair_kernel() {
        let Some(k) = kernels() else { return };
        for dim in [1, 13, 96, 100] {
            let stride = dim + 3;
            let rows = 20;
            let base = random_vector(dim as u64, rows * stride);
            let query = random_vector(99, dim);
            let ids = [19, 0, 7, 7, 3];
            for metric in Metric::ALL {
                let row = |i: usize| &base[i * stride..i * stride + dim];
                let mut out = [f32::NAN; 5];
                k.gather(metric, &query, &base, stride, &ids, &mut out);
                for (&id, &got) in ids.iter().zip(&out) {
                    assert_eq!(got, k.pair(metric, &query, row(id as usize)));
                }
                let mut out = vec![f32::NAN; rows + 1];
                k.scan(metric, &query, &base, stride, rows, &mut out);
                for (i, &got) in out[..rows].iter().enumerate() {
                    assert_eq!(got, k.pair(metric, &query, row(i)));
                }
                assert!(out[rows].is_nan(), "scan wrote past `count`");
            }
        }
    }

    #[test]
    fn misuse_panics_instead_of_reading_out_of_bounds() {
        let Some(k) = kernels() else { return };
        let panics =
            |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
        assert!(panics(&|| {
            k.l2(&[1.0, 2.0], &[1.0]);
        }));
        let base = vec![0.0; 40];
        assert!(panics(&|| k.gather(
            Metric::L2,
            &[0.0; 8],
            &base,
            8,
            &[5],
            &mut [0.0]
        )));
        assert!(panics(&|| k.scan(
            Metric::L2,
            &[0.0; 8],
            &base,
            8,
            6,
            &mut [0.0; 6]
        )));
        assert!(panics(&|| k.scan(
            Metric::L2,
            &[0.0; 8],
            &base,
            8,
            2,
            &mut [0.0; 1]
        )));
    }
}
