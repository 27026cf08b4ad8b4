//! Verification of integer kernels: quantized (`i8`, `u8`) and `bit`.
//!
//! Each case makes whole rows (codes and metadata, or bit words); every
//! shape runs them through the safe handle, and each distance is compared
//! with the oracle on the same rows.

use super::VerifyReport;
use crate::{CodegenError, Kernel};
use hektor_kernels::bound::quantized_tolerance;
use hektor_kernels::quant::{self, Code};
use hektor_kernels::reference::{self, Reference};
use hektor_kernels::{Element, Shape};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Makes one row of a case (`side` 0 is the query, 1 the others).
type RowMaker<'a, T> = Box<dyn Fn(&mut StdRng, usize) -> Vec<T> + 'a>;

/// One case: its name, whether the kernel must match the oracle exactly,
/// and a row generator (`side` 0 is the query, 1 the others).
struct Case<'a, T> {
    name: &'static str,
    exact: bool,
    row: RowMaker<'a, T>,
}

/// Runs every case through the kernel's shape; `oracle` gives the expected
/// distance and its tolerance for a query and a row.
fn run_cases<T: Element>(
    kernel: &Kernel,
    cases: Vec<Case<'_, T>>,
    oracle: impl Fn(&[T], &[T]) -> (Reference, f64),
) -> Result<VerifyReport, CodegenError> {
    let spec = *kernel.spec();
    let row_len = kernel.row_len();
    let mut report = VerifyReport {
        checked: 0,
        worst_error_ratio: 0.0,
    };
    let call_failed = |e: crate::CallError| CodegenError::Backend {
        backend: "verifier",
        spec,
        message: format!("verification call rejected: {e}"),
    };
    for (seed, case) in cases.iter().enumerate() {
        let mut check = |index: usize, got: f32, q: &[T], r: &[T]| -> Result<(), CodegenError> {
            let (want, tol) = oracle(q, r);
            let tol = if case.exact { 0.0 } else { tol };
            report.compare(kernel, case.name, index, got, want.distance, tol)
        };
        let mut rng = StdRng::seed_from_u64(0x0069_6e74_6567_6572 ^ seed as u64);
        let q = (case.row)(&mut rng, 0);
        match spec.shape {
            Shape::Pair => {
                for _ in 0..3 {
                    let b = (case.row)(&mut rng, 1);
                    let got = kernel.pair(&q, &b).map_err(call_failed)?;
                    check(0, got, &q, &b)?;
                }
            }
            Shape::Gather | Shape::Scan => {
                const ROWS: usize = 9;
                // An odd stride: rows (and their metadata) at every
                // alignment.
                let stride = row_len + 3;
                let mut base = vec![T::from_bits(0); ROWS * stride];
                for r in 0..ROWS {
                    let b = (case.row)(&mut rng, 1);
                    base[r * stride..r * stride + row_len].copy_from_slice(&b);
                }
                let row = |i: usize| &base[i * stride..i * stride + row_len];
                let mut batches: Vec<Vec<u32>> = vec![vec![], vec![(ROWS - 1) as u32]];
                if spec.shape == Shape::Gather {
                    batches.push((0..80).map(|_| rng.random_range(0..ROWS as u32)).collect());
                    batches.push((0..7).map(|_| rng.random_range(0..ROWS as u32)).collect());
                } else {
                    batches.push((0..ROWS as u32).collect());
                    batches.push((0..7).collect());
                }
                for ids in batches {
                    let mut out = vec![f32::NAN; ids.len()];
                    let rows: Vec<usize> = if spec.shape == Shape::Gather {
                        kernel
                            .gather(&q, &base, stride, &ids, &mut out)
                            .map_err(call_failed)?;
                        ids.iter().map(|&i| i as usize).collect()
                    } else {
                        kernel
                            .scan(&q, &base, stride, ids.len(), &mut out)
                            .map_err(call_failed)?;
                        (0..ids.len()).collect()
                    };
                    for (i, &r) in rows.iter().enumerate() {
                        check(i, out[i], &q, row(r))?;
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Quantized kernels: the distance of the dequantized rows, within the
/// epilogue's bound (exactly, for small codes with offset 0 and scale 1).
pub(super) fn verify_quantized<T: Code>(kernel: &Kernel) -> Result<VerifyReport, CodegenError> {
    let spec = *kernel.spec();
    let dim = spec.dim;
    let row_len = kernel.row_len();
    let exact_metric = !spec.metric.is_cosine();
    let encode = move |codes: Vec<i32>, offset: f32, scale: f32| -> Vec<T> {
        let codes: Vec<T> = codes.into_iter().map(T::from_code).collect();
        quant::encode(&codes, offset, scale, row_len).expect("verification rows fit")
    };
    let code = |rng: &mut StdRng| rng.random_range(T::MIN..=T::MAX);
    let cases: Vec<Case<'_, T>> = vec![
        Case {
            name: "quantized random vectors",
            exact: false,
            row: Box::new(move |rng, _| {
                let x: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                quant::quantize(&x, row_len).expect("finite")
            }),
        },
        Case {
            name: "small codes, offset 0, scale 1 (exact)",
            exact: exact_metric,
            row: Box::new(move |rng, _| {
                let lo = T::MIN.max(-8);
                encode(
                    (0..dim).map(|_| rng.random_range(lo..=lo + 16)).collect(),
                    0.0,
                    1.0,
                )
            }),
        },
        Case {
            name: "extreme codes (the ends of the code range)",
            exact: false,
            row: Box::new(move |rng, side| {
                let ends = (0..dim)
                    .map(|i| match (side, rng.random_range(0..4)) {
                        // The query all at one end: the largest |Σ c·d|.
                        (0, _) if i % 2 == 0 => T::MIN,
                        (0, _) => T::MIN.max(-T::MAX),
                        (_, 0) => T::MAX,
                        _ => T::MIN,
                    })
                    .collect();
                encode(
                    ends,
                    rng.random_range(-2.0f32..2.0),
                    rng.random_range(0.001f32..0.1),
                )
            }),
        },
        Case {
            name: "random codes, random offset and scale",
            exact: false,
            row: Box::new(move |rng, _| {
                let codes = (0..dim).map(|_| code(rng)).collect();
                encode(
                    codes,
                    rng.random_range(-1.0f32..1.0),
                    rng.random_range(0.0f32..0.05),
                )
            }),
        },
        Case {
            name: "large offsets and scales",
            exact: false,
            row: Box::new(move |rng, _| {
                let codes = (0..dim).map(|_| code(rng)).collect();
                encode(
                    codes,
                    rng.random_range(-1e3f32..1e3),
                    rng.random_range(1.0f32..10.0),
                )
            }),
        },
        Case {
            name: "zero vectors",
            exact: exact_metric,
            row: Box::new(move |_, _| encode(vec![0; dim], 0.0, 0.0)),
        },
        Case {
            name: "a constant vector (scale 0)",
            exact: false,
            row: Box::new(move |rng, _| encode(vec![0; dim], rng.random_range(-1.0f32..1.0), 0.0)),
        },
    ];
    // Identical rows: the query is reused as every row.
    let identical = {
        let mut rng = StdRng::seed_from_u64(7);
        let x: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        quant::quantize::<T>(&x, row_len).expect("finite")
    };
    let mut cases = cases;
    cases.push(Case {
        name: "identical vectors",
        exact: false,
        row: Box::new(move |_, _| identical.clone()),
    });
    run_cases(kernel, cases, |q, r| {
        let want = reference::quantized_pair(spec.metric, dim, q, r);
        (want, quantized_tolerance(spec.metric, &want))
    })
}

/// Bit kernels: Hamming distances, exactly.
pub(super) fn verify_bits(kernel: &Kernel) -> Result<VerifyReport, CodegenError> {
    let spec = *kernel.spec();
    let dim = spec.dim;
    let row_len = kernel.row_len();
    let pack = move |bits: &mut dyn FnMut(usize) -> bool| -> Vec<u64> {
        quant::pack_bits((0..dim).map(bits), dim, row_len).expect("rows fit")
    };
    let random = move |rng: &mut StdRng, _: usize| pack(&mut |_| rng.random::<bool>());
    let fixed = {
        let mut rng = StdRng::seed_from_u64(11);
        random(&mut rng, 0)
    };
    let complement = {
        let f = fixed.clone();
        pack(&mut |i| (f[i / 64] >> (i % 64)) & 1 == 0)
    };
    let f2 = fixed.clone();
    let cases: Vec<Case<'_, u64>> = vec![
        Case {
            name: "random bits",
            exact: true,
            row: Box::new(random),
        },
        Case {
            name: "all zero",
            exact: true,
            row: Box::new(move |_, _| pack(&mut |_| false)),
        },
        Case {
            name: "all one against random",
            exact: true,
            row: Box::new(move |rng, side| {
                if side == 0 {
                    pack(&mut |_| true)
                } else {
                    random(rng, side)
                }
            }),
        },
        Case {
            name: "identical vectors",
            exact: true,
            row: Box::new(move |_, _| f2.clone()),
        },
        Case {
            name: "complementary vectors (distance = dim)",
            exact: true,
            row: Box::new(move |_, side| {
                if side == 0 {
                    fixed.clone()
                } else {
                    complement.clone()
                }
            }),
        },
    ];
    run_cases(kernel, cases, |q, r| (reference::hamming(dim, q, r), 0.0))
}
