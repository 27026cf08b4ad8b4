//! Shared pieces of Hektor's benchmarks (`benches/kernels.rs`,
//! `benches/streaming.rs`): seeded random data, and the peers Hektor's
//! JIT-compiled kernels are measured against in the same process:
//!
//! - [`avx2`]: hand-written `std::arch` AVX2+FMA kernels, what a careful
//!   engineer writes by hand;
//! - [`Peers`]: simsimd, a widely used C library of distance kernels with
//!   run-time dispatch, called the way a Rust user calls it;
//! - [`scalar`]: a plain f32 loop, what the compiler makes of naive code
//!   (it does not vectorize f32 reductions: that would reorder the sums);
//! - `hektor_kernels::reference`: the f64 oracle (too slow to be
//!   interesting; benchmarked for pairs only);
//! - [`floor`]: a plain streaming read of the rows, no arithmetic: the
//!   memory-bandwidth floor `streaming.rs` measures the row kernels against.
//!
//! [`sweep`] holds what `benches/search.rs` measures an HNSW search sweep
//! with: nearest-rank percentiles and recall@k, as `hektor search` does.
//!
//! Every peer computes exactly Hektor's quantities: l2 is the *squared*
//! distance, ip is `1 - a·b`, cosine is `1 - a·b / (|a|·|b|)` (and `1` when
//! a squared norm is below `f32::MIN_POSITIVE`).

pub mod avx2;
pub mod floor;
pub mod sweep;

pub use avx2::Avx2Kernels;
pub use floor::ReadFloor;

use hektor_kernels::reference::Reference;
use hektor_kernels::Metric;
use simsimd::SpatialSimilarity;
use std::path::{Path, PathBuf};

/// What the command line asks criterion to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// `cargo bench`: timing runs.
    Bench,
    /// `cargo test --benches` (or `-- --test`): every benchmark runs once.
    Test,
    /// `-- --list`: names only.
    List,
}

pub fn mode() -> Mode {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        Mode::List
    } else if has("--bench") && !has("--test") {
        Mode::Bench
    } else {
        Mode::Test
    }
}

/// Deterministic inputs: the same seed gives the same data on every run.
pub mod data {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// `len` floats uniform in `[-1, 1)`, starting on a cache line as the
    /// rows of Hektor's vector store do (every benchmarked dimension is a
    /// multiple of 16, so every row of a matrix made this way is aligned
    /// too). All implementations read the same buffers.
    pub fn random_vector(seed: u64, len: usize) -> hektor_runtime::aligned::AlignedBuf {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut v = hektor_runtime::aligned::AlignedBuf::zeroed(len);
        v.iter_mut()
            .for_each(|x| *x = rng.random_range(-1.0f32..1.0));
        v
    }

    /// `count` distinct row ids below `rows`, in random order.
    ///
    /// # Panics
    /// If `count > rows` or `rows` does not fit in a `u32`.
    pub fn random_ids(seed: u64, rows: usize, count: usize) -> Vec<u32> {
        assert!(u32::try_from(rows).is_ok(), "row ids are u32");
        let mut rng = StdRng::seed_from_u64(seed);
        rand::seq::index::sample(&mut rng, rows, count)
            .into_iter()
            .map(|i| i as u32)
            .collect()
    }
}

/// The cosine distance from f32 sums, finished in f64 exactly as Hektor's
/// Cranelift lowering does (`CosineDistance`): `1` when a squared norm is
/// below `f32::MIN_POSITIVE`, else `1 - dot / (√na · √nb)`, rounded to f32.
#[inline]
pub fn finish_cosine(dot: f32, norm_a: f32, norm_b: f32) -> f32 {
    let (dot, na, nb) = (dot as f64, norm_a as f64, norm_b as f64);
    let min = f32::MIN_POSITIVE as f64;
    if na < min || nb < min {
        1.0
    } else {
        (1.0 - dot / (na.sqrt() * nb.sqrt())) as f32
    }
}

/// Checks `got` against the oracle with a relative tolerance `rel`, scaled
/// by what the error of an f32 sum scales with: `Σ (aᵢ-bᵢ)²` for l2,
/// `Σ |aᵢ·bᵢ| + 1` for ip, and 1 for cosine (a distance in `[0, 2]`).
pub fn check_close(metric: Metric, got: f32, want: &Reference, rel: f64) -> Result<(), String> {
    let scale = match metric {
        Metric::L2 => want.magnitude,
        Metric::Ip => want.magnitude + 1.0,
        Metric::Cosine | Metric::CosineNorms => 1.0,
        // Exact: counts.
        Metric::Hamming => 0.0,
    };
    let tolerance = rel * scale + 1e-30;
    let error = (got as f64 - want.distance).abs();
    if error <= tolerance {
        Ok(())
    } else {
        Err(format!(
            "got {got}, oracle {} (error {error:.3e} > tolerance {tolerance:.3e})",
            want.distance
        ))
    }
}

/// Runs `pair` from `query` to rows `ids` of `base` (row `i` at `i·stride`).
#[inline]
pub fn gather_with(
    pair: impl Fn(&[f32], &[f32]) -> f32,
    query: &[f32],
    base: &[f32],
    stride: usize,
    ids: &[u32],
    out: &mut [f32],
) {
    assert!(out.len() >= ids.len(), "gather: output too short");
    let dim = query.len();
    for (o, &id) in out.iter_mut().zip(ids) {
        let start = id as usize * stride;
        *o = pair(query, &base[start..start + dim]);
    }
}

/// Runs `pair` from `query` to rows `0..count` of `base`.
#[inline]
pub fn scan_with(
    pair: impl Fn(&[f32], &[f32]) -> f32,
    query: &[f32],
    base: &[f32],
    stride: usize,
    count: usize,
    out: &mut [f32],
) {
    let dim = query.len();
    for (i, o) in out[..count].iter_mut().enumerate() {
        let start = i * stride;
        *o = pair(query, &base[start..start + dim]);
    }
}

/// The plain scalar f32 loops: one accumulator, elements in order.
pub mod scalar {
    use hektor_kernels::Metric;

    pub fn l2(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "scalar l2: vectors differ in length");
        let mut acc = 0.0f32;
        for (x, y) in a.iter().zip(b) {
            let d = x - y;
            acc += d * d;
        }
        acc
    }

    pub fn ip(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "scalar ip: vectors differ in length");
        let mut acc = 0.0f32;
        for (x, y) in a.iter().zip(b) {
            acc += x * y;
        }
        1.0 - acc
    }

    pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "scalar cosine: vectors differ in length");
        let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
        for (x, y) in a.iter().zip(b) {
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        crate::finish_cosine(ab, aa, bb)
    }

    /// The number of components that differ (Hamming over f32 components).
    pub fn hamming(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).filter(|(x, y)| x != y).count() as f32
    }

    /// The pair function for `metric`.
    pub fn pair_fn(metric: Metric) -> fn(&[f32], &[f32]) -> f32 {
        match metric {
            Metric::L2 => l2,
            Metric::Ip => ip,
            Metric::Cosine | Metric::CosineNorms => cosine,
            Metric::Hamming => hamming,
        }
    }
}

/// simsimd (the `simsimd` crate, `SpatialSimilarity` for `f32`), used the
/// way a Rust user calls it: one FFI call per distance, also in the row
/// loops of `gather` and `scan`.
///
/// simsimd picks its kernel at run time (on the first call, then through a
/// cached function pointer): for f32 `l2sq`/`dot`/`cos` it takes `skylake`
/// (AVX-512F: one 512-bit accumulator, masked-load tail) when the CPU has
/// AVX-512, else `haswell` (AVX2+FMA: one 256-bit accumulator, scalar
/// tail), else `serial`. On the Sapphire-Rapids-class Xeon these benches
/// were first run on it reports `sapphire` and picks the `skylake` f32
/// kernels; [`Peers::simsimd_f32_kernel`] says which one at run time.
///
/// simsimd returns f64. `cos` is already the cosine *distance* (1 for a
/// zero vector); `dot` is the dot product, so ip is `1 - dot` here.
#[derive(Debug, Clone, Copy)]
pub struct Peers {
    /// The hand-written AVX2 kernels, when the CPU has AVX2 and FMA.
    pub avx2: Option<Avx2Kernels>,
}

impl Peers {
    pub fn detect() -> Self {
        Peers {
            avx2: Avx2Kernels::detect(),
        }
    }

    /// simsimd's squared Euclidean distance.
    #[inline]
    pub fn simsimd_l2(a: &[f32], b: &[f32]) -> f32 {
        <f32 as SpatialSimilarity>::sqeuclidean(a, b).expect("simsimd l2: vectors differ in length")
            as f32
    }

    /// `1 - simsimd's dot product`.
    #[inline]
    pub fn simsimd_ip(a: &[f32], b: &[f32]) -> f32 {
        let dot =
            <f32 as SpatialSimilarity>::dot(a, b).expect("simsimd ip: vectors differ in length");
        (1.0 - dot) as f32
    }

    /// simsimd's cosine distance.
    #[inline]
    pub fn simsimd_cosine(a: &[f32], b: &[f32]) -> f32 {
        <f32 as SpatialSimilarity>::cos(a, b).expect("simsimd cosine: vectors differ in length")
            as f32
    }

    /// The simsimd pair function for `metric`.
    pub fn simsimd_fn(metric: Metric) -> fn(&[f32], &[f32]) -> f32 {
        match metric {
            Metric::L2 => Self::simsimd_l2,
            Metric::Ip => Self::simsimd_ip,
            Metric::Cosine | Metric::CosineNorms => Self::simsimd_cosine,
            // simsimd's Hamming is over packed bits: `simsimd_hamming`.
            Metric::Hamming => scalar::hamming,
        }
    }

    /// The capabilities simsimd detected on this CPU (the `uses_*` flags
    /// of `simsimd::capabilities`), e.g. `haswell skylake ice sapphire`.
    pub fn simsimd_capabilities() -> String {
        use simsimd::capabilities as c;
        let all = [
            ("neon", c::uses_neon()),
            ("neon_f16", c::uses_neon_f16()),
            ("neon_bf16", c::uses_neon_bf16()),
            ("neon_i8", c::uses_neon_i8()),
            ("sve", c::uses_sve()),
            ("sve_f16", c::uses_sve_f16()),
            ("sve_bf16", c::uses_sve_bf16()),
            ("sve_i8", c::uses_sve_i8()),
            ("haswell", c::uses_haswell()),
            ("skylake", c::uses_skylake()),
            ("ice", c::uses_ice()),
            ("genoa", c::uses_genoa()),
            ("sapphire", c::uses_sapphire()),
            ("turin", c::uses_turin()),
            ("sierra", c::uses_sierra()),
        ];
        let on: Vec<&str> = all.iter().filter(|(_, v)| *v).map(|(n, _)| *n).collect();
        let dispatch = if c::uses_dynamic_dispatch() {
            "dynamic dispatch"
        } else {
            "static dispatch"
        };
        if on.is_empty() {
            format!("serial only ({dispatch})")
        } else {
            format!("{} ({dispatch})", on.join(" "))
        }
    }

    /// The f32 spatial kernel family simsimd's dispatch picks here, in the
    /// order of its own dispatch table (`simsimd_find_kernel_punned`).
    pub fn simsimd_f32_kernel() -> &'static str {
        use simsimd::capabilities as c;
        if c::uses_sve() {
            "sve (SVE)"
        } else if c::uses_neon() {
            "neon (NEON)"
        } else if c::uses_skylake() {
            "skylake (AVX-512F, one 512-bit accumulator)"
        } else if c::uses_haswell() {
            "haswell (AVX2+FMA, one 256-bit accumulator)"
        } else {
            "serial"
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ lies inside the workspace")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the
/// workspace root when relative, as `cargo xtask bench` reads it), else
/// `target/` at the workspace root.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hektor_kernels::reference;

    #[test]
    fn data_is_deterministic() {
        assert_eq!(*data::random_vector(5, 100), *data::random_vector(5, 100));
        assert_ne!(*data::random_vector(5, 100), *data::random_vector(6, 100));
        assert!(data::random_vector(1, 1000)
            .iter()
            .all(|x| (-1.0..1.0).contains(x)));
        let ids = data::random_ids(3, 4096, 64);
        assert_eq!(ids, data::random_ids(3, 4096, 64));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64);
        assert!(sorted.iter().all(|&i| i < 4096));
    }

    #[test]
    fn scalar_and_simsimd_match_the_oracle() {
        for dim in (1..=100).chain([768]) {
            let a = data::random_vector(dim as u64, dim);
            let b = data::random_vector(dim as u64 + 1, dim);
            for metric in Metric::ALL {
                let want = reference::pair(metric, &a, &b);
                check_close(metric, scalar::pair_fn(metric)(&a, &b), &want, 1e-5)
                    .unwrap_or_else(|e| panic!("scalar {metric} d{dim}: {e}"));
                check_close(metric, Peers::simsimd_fn(metric)(&a, &b), &want, 1e-5)
                    .unwrap_or_else(|e| panic!("simsimd {metric} d{dim}: {e}"));
            }
        }
    }

    #[test]
    fn zero_vectors_have_cosine_distance_one() {
        let (zero, v) = (vec![0.0; 16], data::random_vector(1, 16));
        assert_eq!(scalar::cosine(&zero, &v), 1.0);
        assert_eq!(Peers::simsimd_cosine(&zero, &v), 1.0);
        assert_eq!(finish_cosine(0.5, 0.0, 1.0), 1.0);
        assert_eq!(finish_cosine(0.0, 1.0, f32::MIN_POSITIVE / 2.0), 1.0);
    }

    #[test]
    fn row_helpers_walk_the_right_rows() {
        let (dim, stride) = (3, 5);
        let base: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let q = [1.0, 0.0, 2.0];
        let mut out = [0.0; 2];
        gather_with(scalar::l2, &q, &base, stride, &[3, 0], &mut out);
        assert_eq!(out[0], scalar::l2(&q, &base[15..15 + dim]));
        assert_eq!(out[1], scalar::l2(&q, &base[0..dim]));
        let mut out = [f32::NAN; 3];
        scan_with(scalar::l2, &q, &base, stride, 2, &mut out);
        assert_eq!(out[1], scalar::l2(&q, &base[5..5 + dim]));
        assert!(out[2].is_nan());
    }

    #[test]
    fn peers_report_what_they_run_on() {
        assert!(!Peers::simsimd_capabilities().is_empty());
        assert!(!Peers::simsimd_f32_kernel().is_empty());
        assert_eq!(
            Peers::detect().avx2.is_some(),
            hektor_codegen::host::HostFeatures::detect().avx2
                && hektor_codegen::host::HostFeatures::detect().fma
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn target_dir_is_under_the_workspace_by_default() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        if std::env::var_os("CARGO_TARGET_DIR").is_none() {
            assert_eq!(target_dir(), workspace_root().join("target"));
        }
    }
}
