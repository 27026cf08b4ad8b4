//! Checks a kernel against the scalar oracle before it is served.
//!
//! Inputs: random vectors, small integers (whose sums are exact in f32, so
//! l2 and ip must match the oracle *exactly*: a dropped or doubled element
//! cannot hide in rounding), zeros, a zero against a non-zero vector,
//! identical vectors, denormals mixed into normal values, all-denormal
//! vectors, and magnitudes near the top of f32's range. Row shapes run the
//! same cases over a matrix with an odd stride, with repeated and
//! out-of-order ids, and with counts 0, 1, 7 and more rows than the
//! prefetch distance (so that a tile of rows runs with and without a
//! remainder). Every output must lie within [`hektor_kernels::bound`].
//!
//! Integer kernels get their own cases ([`integer`]): quantized rows from
//! random f32 vectors, small exact codes (offset 0, scale 1: l2 and ip
//! must match exactly), extreme codes (all at the ends of the code range,
//! the largest i32 dot products), constant and zero vectors, identical rows
//! and large offsets; bit rows at random, all zero, all one, identical and
//! complementary. The oracle computes the distance of the dequantized
//! vectors (`reference::quantized_pair`, within `bound::quantized_tolerance`)
//! and Hamming distances exactly (tolerance 0).

use crate::{CodegenError, Kernel};
use hektor_kernels::bound::tolerance;
use hektor_kernels::reference::{self, Reference};
use hektor_kernels::{f16, Element, ElementType, Metric, Shape};

mod integer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What verification checked.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct VerifyReport {
    /// Distances compared with the oracle.
    pub checked: usize,
    /// The largest `|error| / tolerance` seen (≤ 1 by construction).
    pub worst_error_ratio: f64,
}

impl VerifyReport {
    /// Compares one distance the kernel returned with the oracle's, within
    /// `tol`: counted when it agrees, the mismatch (naming `kernel`,
    /// `case` and `index`) when it does not. NaN compares false with
    /// everything, so it is out of bounds.
    pub(crate) fn compare(
        &mut self,
        kernel: &Kernel,
        case: &str,
        index: usize,
        got: f32,
        want: f64,
        tol: f64,
    ) -> Result<(), CodegenError> {
        let err = (got as f64 - want).abs();
        if err.is_nan() || err > tol {
            return Err(CodegenError::Mismatch {
                spec: *kernel.spec(),
                schedule: *kernel.schedule(),
                case: case.to_string(),
                index,
                got,
                want,
                tolerance: tol,
            });
        }
        self.checked += 1;
        if tol > 0.0 {
            self.worst_error_ratio = self.worst_error_ratio.max(err / tol);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Random,
    SmallIntegers,
    Zeros,
    ZeroAgainstRandom,
    Identical,
    MixedDenormals,
    AllDenormal,
    Large,
}

impl Case {
    const ALL: [Case; 8] = [
        Case::Random,
        Case::SmallIntegers,
        Case::Zeros,
        Case::ZeroAgainstRandom,
        Case::Identical,
        Case::MixedDenormals,
        Case::AllDenormal,
        Case::Large,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Random => "random vectors",
            Case::SmallIntegers => "small integers (exact)",
            Case::Zeros => "zero vectors",
            Case::ZeroAgainstRandom => "a zero vector against a random one",
            Case::Identical => "identical vectors",
            Case::MixedDenormals => "denormals among normal values",
            Case::AllDenormal => "all-denormal vectors",
            Case::Large => "large magnitudes",
        }
    }

    /// Whether this case applies to the metric: a cosine over vectors whose
    /// squared norm underflows f32 is defined as 1 by the kernel but not
    /// computable in f32 at all, so it is not a meaningful check.
    fn applies(self, metric: Metric) -> bool {
        !(self == Case::AllDenormal && metric.is_cosine())
    }

    fn exact(self, metric: Metric) -> bool {
        self == Case::SmallIntegers && !metric.is_cosine()
    }

    /// The query-side vector and a generator of the other side.
    /// Values exactly representable in the element type `T` (so that the
    /// oracle, fed the f32 values, sees what the kernel sees).
    fn vector<T: Element>(self, rng: &mut StdRng, dim: usize, side: usize) -> Vec<f32> {
        self.raw_vector::<T>(rng, dim, side)
            .into_iter()
            .map(|x| T::from_f32(x).to_f32())
            .collect()
    }

    fn raw_vector<T: Element>(self, rng: &mut StdRng, dim: usize, side: usize) -> Vec<f32> {
        // The smallest normal and the largest finite value of the element
        // type decide what "denormal" and "large" mean for it.
        let (min_normal, max_finite) = match T::TYPE {
            ElementType::F16 => (6.103_515_6e-5_f32, 65504.0f32),
            _ => (f32::MIN_POSITIVE, f32::MAX),
        };
        let uniform = |rng: &mut StdRng| rng.random_range(-1.0f32..1.0);
        let denormal = |rng: &mut StdRng| {
            let m = min_normal * rng.random_range(0.001f32..0.999);
            if rng.random::<bool>() {
                m
            } else {
                -m
            }
        };
        match (self, side) {
            (Case::Zeros, _) | (Case::ZeroAgainstRandom, 1) => vec![0.0; dim],
            (Case::Random | Case::ZeroAgainstRandom | Case::Identical, _) => {
                (0..dim).map(|_| uniform(rng)).collect()
            }
            (Case::SmallIntegers, _) => (0..dim)
                .map(|_| rng.random_range(-8i32..=8) as f32)
                .collect(),
            (Case::MixedDenormals, _) => (0..dim)
                .map(|i| {
                    if i % 3 == 1 {
                        denormal(rng)
                    } else {
                        uniform(rng)
                    }
                })
                .collect(),
            (Case::AllDenormal, _) => (0..dim).map(|_| denormal(rng)).collect(),
            (Case::Large, _) => {
                // Keep Σ aᵢbᵢ and Σ (aᵢ−bᵢ)² below f32::MAX: the oracle is
                // finite there, so the kernel must be too.
                let scale = ((1e37f64 / dim as f64).sqrt() as f32 / 2.0).min(max_finite / 2.0);
                (0..dim).map(|_| uniform(rng) * scale).collect()
            }
        }
    }
}

/// Runs every case; the first output outside its bound is an error.
pub fn verify(kernel: &Kernel) -> Result<VerifyReport, CodegenError> {
    match kernel.spec().dtype {
        ElementType::F32 => verify_as::<f32>(kernel),
        ElementType::F16 => verify_as::<f16>(kernel),
        ElementType::I8 => integer::verify_quantized::<i8>(kernel),
        ElementType::U8 => integer::verify_quantized::<u8>(kernel),
        ElementType::Bit => integer::verify_bits(kernel),
        other => Err(CodegenError::Spec(
            hektor_kernels::SpecError::UnsupportedElementType(other.to_string()),
        )),
    }
}

/// [`verify`] for a kernel whose vectors hold `T`s.
fn verify_as<T: Element>(kernel: &Kernel) -> Result<VerifyReport, CodegenError> {
    let spec = *kernel.spec();
    let schedule = *kernel.schedule();
    let dim = spec.dim;
    let row_len = kernel.row_len();
    let depth = schedule.accumulation_depth(dim);
    let mut report = VerifyReport {
        checked: 0,
        worst_error_ratio: 0.0,
    };
    // Components, zero padding, then the metric's extra slots (the stored
    // inverse norm of cosine_norms) at the end of the row.
    let pad = |v: &[f32]| -> Vec<T> {
        let extra = spec.metric.extra_slots();
        let mut out: Vec<T> = v.iter().map(|&x| T::from_f32(x)).collect();
        out.resize(row_len, T::from_f32(0.0));
        if extra > 0 {
            out[row_len - 1] = T::from_f32(reference::inverse_norm(v));
        }
        out
    };
    let mut check =
        |case: Case, index: usize, got: f32, want: &Reference| -> Result<(), CodegenError> {
            let tol = if case.exact(spec.metric) {
                0.0
            } else {
                tolerance(spec.metric, dim, depth, want)
            };
            report.compare(kernel, case.name(), index, got, want.distance, tol)
        };
    let call_failed = |e: crate::CallError| CodegenError::Backend {
        backend: "verifier",
        spec,
        message: format!("verification call rejected: {e}"),
    };
    for (seed, case) in Case::ALL.into_iter().enumerate() {
        if !case.applies(spec.metric) {
            continue;
        }
        let mut rng = StdRng::seed_from_u64(0x6b65_726e_656c ^ seed as u64);
        let a = case.vector::<T>(&mut rng, dim, 0);
        let b_of = |rng: &mut StdRng| {
            if case == Case::Identical {
                a.clone()
            } else {
                case.vector::<T>(rng, dim, 1)
            }
        };
        match spec.shape {
            Shape::Pair => {
                for _ in 0..3 {
                    let b = b_of(&mut rng);
                    let want = reference::pair(spec.metric, &a, &b);
                    let got = kernel.pair(&pad(&a), &pad(&b)).map_err(call_failed)?;
                    check(case, 0, got, &want)?;
                }
            }
            Shape::Gather | Shape::Scan => {
                const ROWS: usize = 9;
                let stride = row_len + 3;
                // The kernel reads `base` (elements of T); the oracle reads
                // the same values as f32 in `oracle_base`.
                let mut base = vec![T::from_f32(0.0); ROWS * stride];
                let mut oracle_base = vec![0.0f32; ROWS * stride];
                for r in 0..ROWS {
                    let b = b_of(&mut rng);
                    base[r * stride..r * stride + row_len].copy_from_slice(&pad(&b));
                    oracle_base[r * stride..r * stride + dim].copy_from_slice(&b);
                }
                let q = pad(&a);
                let mut batches: Vec<Vec<u32>> = vec![vec![], vec![(ROWS - 1) as u32]];
                if spec.shape == Shape::Gather {
                    // Out of order, repeated, and longer than the largest
                    // prefetch distance so that the clamp is exercised.
                    let long: Vec<u32> =
                        (0..80).map(|_| rng.random_range(0..ROWS as u32)).collect();
                    batches.push(long);
                    batches.push((0..7).map(|_| rng.random_range(0..ROWS as u32)).collect());
                } else {
                    batches.push((0..ROWS as u32).collect());
                    batches.push((0..7).collect());
                }
                for ids in batches {
                    let mut out = vec![f32::NAN; ids.len()];
                    let want: Vec<Reference> = match spec.shape {
                        Shape::Gather => {
                            kernel
                                .gather(&q, &base, stride, &ids, &mut out)
                                .map_err(call_failed)?;
                            reference::gather(spec.metric, &a, &oracle_base, stride, &ids)
                        }
                        _ => {
                            let count = if ids.len() == 1 { 1 } else { ids.len() };
                            kernel
                                .scan(&q, &base, stride, count, &mut out)
                                .map_err(call_failed)?;
                            reference::scan(spec.metric, &a, &oracle_base, stride, count)
                        }
                    };
                    for (i, w) in want.iter().enumerate() {
                        check(case, i, out[i], w)?;
                    }
                }
            }
        }
    }
    Ok(report)
}
