//! Every kernel the compiler can produce agrees with the oracle: property
//! tests over metric × shape × dimension × schedule, the dimensions that
//! break naive vectorizers, and proof that verification rejects a wrong
//! kernel instead of serving it.

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::{compile, Backend, BackendKind, CodegenError, CompileOptions, LoweredCode};
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape, TailStrategy, Unroll};
use hektor_passes::ir::{walk_mut, Inst, Op};
use hektor_passes::pass::TargetCaps;
use hektor_passes::Function;
use proptest::prelude::*;
use std::sync::OnceLock;

fn backend() -> &'static CraneliftBackend {
    static B: OnceLock<CraneliftBackend> = OnceLock::new();
    B.get_or_init(|| CraneliftBackend::host().expect("Cranelift supports this host"))
}

fn spec(metric: Metric, dim: usize, shape: Shape) -> KernelSpec {
    KernelSpec::new(metric, ElementType::F32, dim, shape).unwrap()
}

fn schedule_strategy(dim: usize) -> impl Strategy<Value = Schedule> {
    (
        prop_oneof![Just(1u32), Just(4u32)],
        prop_oneof![(1u32..=4).prop_map(Unroll::Factor), Just(Unroll::Full)],
        1u32..=8,
        (0u32..=16, 0u32..=3),
        prop_oneof![
            Just(TailStrategy::Scalar),
            Just(TailStrategy::Masked),
            Just(TailStrategy::Padded)
        ],
        1u32..=4,
    )
        .prop_map(
            move |(width, unroll, accumulators, (prefetch, prefetch_lines), tail, tile_rows)| {
                // Full unrolling of thousands of iterations is legal but slow to
                // compile; keep it to the dimensions it is meant for.
                let unroll = if dim > 256 && unroll == Unroll::Full {
                    Unroll::Factor(2)
                } else {
                    unroll
                };
                let tail = if width == 1 && tail == TailStrategy::Masked {
                    TailStrategy::Scalar
                } else {
                    tail
                };
                Schedule {
                    width,
                    unroll,
                    accumulators,
                    prefetch,
                    prefetch_lines,
                    tail,
                    tile_rows,
                }
            },
        )
}

fn metric_strategy() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::L2),
        Just(Metric::Ip),
        Just(Metric::Cosine),
        Just(Metric::CosineNorms)
    ]
}

fn shape_strategy() -> impl Strategy<Value = Shape> {
    prop_oneof![Just(Shape::Pair), Just(Shape::Gather), Just(Shape::Scan)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// Compilation verifies every kernel; any disagreement with the oracle
    /// beyond the documented bound fails here.
    #[test]
    fn every_generated_kernel_agrees_with_the_oracle(
        metric in metric_strategy(),
        shape in shape_strategy(),
        (dim, schedule) in (1usize..=4096).prop_flat_map(|d| (Just(d), schedule_strategy(d))),
    ) {
        let s = spec(metric, dim, shape);
        // cosine_norms keeps its inverse norm where padding would go.
        let schedule = if metric == Metric::CosineNorms && schedule.tail == TailStrategy::Padded {
            Schedule { tail: TailStrategy::Scalar, ..schedule }
        } else {
            schedule
        };
        // Pair kernels have no rows to tile.
        let schedule = if shape.has_rows() { schedule } else { Schedule { tile_rows: 1, ..schedule } };
        let c = compile(&s, &schedule, backend(), CompileOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{s} [{schedule}]: {e}")))?;
        prop_assert!(c.report.checked > 0);
        prop_assert!(c.report.worst_error_ratio <= 1.0);
    }
}

#[test]
fn dimensions_that_break_vectorizers() {
    let mut dims = vec![1, 2, 3, 5, 7, 13, 31, 61, 127, 521, 4093, 65536];
    for k in [2usize, 3, 4, 5, 7, 8, 10, 12] {
        dims.extend([(1 << k) - 1, 1 << k, (1 << k) + 1]);
    }
    for dim in dims {
        for metric in Metric::KERNELS {
            for shape in Shape::ALL {
                let s = spec(metric, dim, shape);
                for sched in [
                    "",
                    "tail=masked",
                    "tail=padded",
                    "width=1,acc=1,unroll=1",
                    "rows=3,acc=2",
                ] {
                    if (metric == Metric::CosineNorms && sched == "tail=padded")
                        || (shape == Shape::Pair && sched.starts_with("rows"))
                    {
                        continue;
                    }
                    let schedule = Schedule::default_for(&s).with_overrides(sched).unwrap();
                    if let Err(e) = compile(&s, &schedule, backend(), CompileOptions::default()) {
                        panic!("{s} [{schedule}]: {e}");
                    }
                }
            }
        }
    }
}

#[test]
fn cranelift_rejects_widths_it_cannot_lower() {
    let s = spec(Metric::L2, 64, Shape::Pair);
    let schedule: Schedule = "width=8".parse().unwrap();
    let err = compile(&s, &schedule, backend(), CompileOptions::default()).unwrap_err();
    assert!(
        matches!(err, CodegenError::UnsupportedSchedule { .. }),
        "{err}"
    );
}

/// A backend that miscompiles on purpose: it lowers through Cranelift after
/// a sabotage of the optimized IR. Verification must refuse its kernels.
struct Sabotaged {
    inner: &'static CraneliftBackend,
    sabotage: fn(&mut Function),
}

impl Backend for Sabotaged {
    fn kind(&self) -> BackendKind {
        BackendKind::Cranelift
    }
    fn caps(&self) -> TargetCaps {
        self.inner.caps()
    }
    fn target_description(&self) -> String {
        "sabotaged".into()
    }
    fn max_width(&self) -> u32 {
        self.inner.max_width()
    }
    fn check_schedule(&self, s: &KernelSpec, sc: &Schedule) -> Result<(), CodegenError> {
        self.inner.check_schedule(s, sc)
    }
    fn lower(&self, s: &KernelSpec, f: &Function, text: bool) -> Result<LoweredCode, CodegenError> {
        let mut f = f.clone();
        (self.sabotage)(&mut f);
        self.inner.lower(s, &f, text)
    }
}

/// Squares the first operand instead of multiplying both: reads only
/// memory the real kernel reads, but computes the wrong thing.
fn square_instead_of_multiply(f: &mut Function) {
    let mut done = false;
    walk_mut(&mut f.body, &mut |inst| {
        if let Inst::Op {
            op: Op::Fma(a, b, _),
            ..
        } = inst
        {
            if !done && a != b {
                *b = *a;
                done = true;
            }
        }
    });
    assert!(done, "nothing to sabotage");
}

/// Starts one sum at 0.25 instead of 0: off by a constant the exact
/// small-integer case must catch even where rounding would hide it.
fn bias_a_sum(f: &mut Function) {
    let mut done = false;
    walk_mut(&mut f.body, &mut |inst| {
        if let Inst::Op {
            op: Op::FConst(c), ..
        } = inst
        {
            if !done && *c == 0.0 {
                *c = 0.25;
                done = true;
            }
        }
    });
    assert!(done, "nothing to sabotage");
}

#[test]
fn verification_rejects_wrong_kernels() {
    for sabotage in [square_instead_of_multiply as fn(&mut Function), bias_a_sum] {
        for metric in [Metric::Ip, Metric::Cosine, Metric::CosineNorms] {
            for shape in Shape::ALL {
                let s = spec(metric, 37, shape);
                let b = Sabotaged {
                    inner: backend(),
                    sabotage,
                };
                let err = compile(
                    &s,
                    &Schedule::default_for(&s),
                    &b,
                    CompileOptions::default(),
                )
                .unwrap_err();
                assert!(matches!(err, CodegenError::Mismatch { .. }), "{s}: {err}");
            }
        }
    }
}

#[test]
fn handles_check_every_argument_before_running_code() {
    use hektor_codegen::CallError;
    let c = |m, d, sh, sched: &str| {
        let s = spec(m, d, sh);
        compile(
            &s,
            &Schedule::default_for(&s).with_overrides(sched).unwrap(),
            backend(),
            CompileOptions::default(),
        )
        .unwrap()
        .kernel
    };
    let pair = c(Metric::L2, 10, Shape::Pair, "");
    assert!(matches!(
        pair.pair(&[0.0; 10], &[0.0; 9]),
        Err(CallError::Length { .. })
    ));
    assert!(matches!(
        pair.pair(&[0.0; 11], &[0.0; 10]),
        Err(CallError::Length { .. })
    ));
    assert_eq!(pair.pair(&[1.0; 10], &[3.0; 10]), Ok(40.0));
    let mut out = [0.0f32; 4];
    assert!(matches!(
        pair.scan(&[0.0; 10], &[0.0; 40], 10, 4, &mut out),
        Err(CallError::WrongShape { .. })
    ));

    let padded = c(Metric::L2, 10, Shape::Pair, "tail=padded");
    assert_eq!(padded.row_len(), 12);
    assert!(matches!(
        padded.pair(&[0.0; 10], &[0.0; 10]),
        Err(CallError::Length { .. })
    ));
    let mut dirty = [0.0f32; 12];
    dirty[11] = 1.0;
    assert!(matches!(
        padded.pair(&dirty, &[0.0; 12]),
        Err(CallError::NonZeroPadding { index: 11, .. })
    ));

    let gather = c(Metric::Ip, 10, Shape::Gather, "");
    let base = vec![0.5f32; 4 * 10];
    let q = [1.0f32; 10];
    assert!(matches!(
        gather.gather(&q, &base, 10, &[4], &mut out),
        Err(CallError::RowOutOfBounds { id: 4, .. })
    ));
    assert!(matches!(
        gather.gather(&q, &base, 10, &[u32::MAX], &mut out),
        Err(CallError::RowOutOfBounds { .. })
    ));
    assert!(matches!(
        gather.gather(&q, &base, 9, &[0], &mut out),
        Err(CallError::Stride { .. })
    ));
    assert!(matches!(
        gather.gather(&q, &base, 10, &[0; 5], &mut out),
        Err(CallError::OutputTooShort { .. })
    ));
    gather.gather(&q, &base, 10, &[3, 0], &mut out).unwrap();
    assert_eq!(&out[..2], &[1.0 - 5.0, 1.0 - 5.0]);

    // cosine_norms: the row carries 1/|x| after its components.
    let normed = c(Metric::CosineNorms, 2, Shape::Pair, "");
    assert_eq!(normed.row_len(), 3);
    let a = [
        3.0f32,
        4.0,
        hektor_kernels::reference::inverse_norm(&[3.0, 4.0]),
    ];
    let b = [
        4.0f32,
        -3.0,
        hektor_kernels::reference::inverse_norm(&[4.0, -3.0]),
    ];
    assert!(
        (normed.pair(&a, &b).unwrap() - 1.0).abs() < 1e-6,
        "orthogonal"
    );
    assert!(normed.pair(&a, &a).unwrap().abs() < 1e-6, "identical");
    assert!(matches!(
        normed.pair(&a, &[4.0, -3.0, f32::NAN]),
        Err(CallError::BadNorm { .. })
    ));
    assert!(matches!(
        normed.pair(&a, &[4.0, -3.0, -0.2]),
        Err(CallError::BadNorm { .. })
    ));
    let padded: Schedule = "tail=padded".parse().unwrap();
    let err = compile(
        &spec(Metric::CosineNorms, 8, Shape::Pair),
        &padded,
        backend(),
        CompileOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("inverse norm"), "{err}");

    let scan = c(Metric::L2, 10, Shape::Scan, "");
    assert!(matches!(
        scan.scan(&q, &base, 10, 5, &mut [0.0; 8]),
        Err(CallError::RowOutOfBounds { .. })
    ));
    scan.scan(&q, &base, 10, 4, &mut out).unwrap();
    assert_eq!(out, [2.5; 4]);
    scan.scan(&q, &base, 10, 0, &mut []).unwrap();
}
