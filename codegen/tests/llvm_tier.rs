//! The LLVM tier: every kernel it generates for this host agrees with the
//! oracle at every width the host has; for CPUs the host lacks, the
//! machine code is generated and read (zmm FMA for AVX-512 CPUs), not run.
#![cfg(feature = "llvm")]

use hektor_codegen::llvm::LlvmBackend;
use hektor_codegen::{compile, disasm, inspect, Backend, CodegenError, CompileOptions};
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape, TailStrategy, Unroll};
use proptest::prelude::*;
use std::sync::OnceLock;

fn host() -> &'static LlvmBackend {
    static B: OnceLock<LlvmBackend> = OnceLock::new();
    B.get_or_init(|| LlvmBackend::host().expect("LLVM targets this host"))
}

fn spec(metric: Metric, dim: usize, shape: Shape) -> KernelSpec {
    KernelSpec::new(metric, ElementType::F32, dim, shape).unwrap()
}

/// Widths this host can run; says so when it skips the wider ones.
fn host_widths() -> Vec<u32> {
    let all = [1u32, 4, 8, 16];
    let max = host().max_width();
    for w in all.iter().filter(|&&w| w > max) {
        eprintln!("skipping width {w}: this host's widest f32 vector has {max} lanes");
    }
    all.into_iter().filter(|&w| w <= max).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn llvm_kernels_agree_with_the_oracle(
        metric in prop_oneof![Just(Metric::L2), Just(Metric::Ip), Just(Metric::Cosine), Just(Metric::CosineNorms)],
        shape in prop_oneof![Just(Shape::Pair), Just(Shape::Gather), Just(Shape::Scan)],
        dim in 1usize..=2048,
        width_index in 0usize..4,
        accumulators in 1u32..=8,
        unroll in 1u32..=4,
        prefetch in 0u32..=8,
        prefetch_lines in 0u32..=3,
        tail in prop_oneof![Just(TailStrategy::Scalar), Just(TailStrategy::Masked), Just(TailStrategy::Padded)],
        tile_rows in 1u32..=4,
    ) {
        let widths = host_widths();
        let width = widths[width_index % widths.len()];
        let tail = if width == 1 && tail == TailStrategy::Masked { TailStrategy::Scalar } else { tail };
        let tail = if metric == Metric::CosineNorms && tail == TailStrategy::Padded { TailStrategy::Scalar } else { tail };
        let tile_rows = if shape.has_rows() { tile_rows } else { 1 };
        let schedule = Schedule { width, unroll: Unroll::Factor(unroll), accumulators, prefetch, prefetch_lines, tail, tile_rows };
        let s = spec(metric, dim, shape);
        let c = compile(&s, &schedule, host(), CompileOptions::default())
            .map_err(|e| TestCaseError::fail(format!("{s} [{schedule}]: {e}")))?;
        prop_assert!(c.report.worst_error_ratio <= 1.0);
    }
}

#[test]
fn odd_dimensions_at_every_host_width() {
    for width in host_widths() {
        for dim in [1usize, 2, 3, 15, 16, 17, 31, 33, 100, 767, 769, 4099] {
            for metric in Metric::KERNELS {
                for shape in Shape::ALL {
                    for tail in ["scalar", "masked", "padded"] {
                        if (width == 1 && tail == "masked")
                            || (metric == Metric::CosineNorms && tail == "padded")
                        {
                            continue;
                        }
                        let s = spec(metric, dim, shape);
                        let schedule: Schedule =
                            format!("width={width},acc=4,tail={tail}").parse().unwrap();
                        if let Err(e) = compile(&s, &schedule, host(), CompileOptions::default()) {
                            panic!("{s} [{schedule}]: {e}");
                        }
                    }
                }
            }
        }
    }
}

fn listing(cpu: &str, metric: Metric, schedule: &str) -> String {
    let backend = LlvmBackend::for_cpu(cpu).unwrap();
    let i = inspect(
        &spec(metric, 768, Shape::Pair),
        &schedule.parse().unwrap(),
        &backend,
    )
    .unwrap();
    disasm::disassemble(&i.code, i.address)
}

#[test]
fn avx512_cpus_get_zmm_fma_code() {
    for cpu in ["sapphirerapids", "znver4"] {
        let asm = listing(cpu, Metric::L2, "width=16,acc=4");
        assert!(
            asm.lines()
                .any(|l| l.contains("vfmadd") && l.contains("zmm")),
            "{cpu}:\n{asm}"
        );
        let asm = listing(cpu, Metric::Cosine, "width=16,acc=2");
        assert!(
            asm.lines()
                .any(|l| l.contains("vfmadd") && l.contains("zmm")),
            "{cpu}:\n{asm}"
        );
    }
}

#[test]
fn avx2_cpus_get_ymm_fma_code_and_refuse_zmm_widths() {
    let asm = listing("haswell", Metric::Ip, "width=8,acc=4");
    assert!(
        asm.lines()
            .any(|l| l.contains("vfmadd") && l.contains("ymm")),
        "{asm}"
    );
    assert!(!asm.contains("zmm"), "{asm}");
    let haswell = LlvmBackend::for_cpu("haswell").unwrap();
    let err = inspect(
        &spec(Metric::Ip, 768, Shape::Pair),
        &"width=16".parse().unwrap(),
        &haswell,
    )
    .unwrap_err();
    assert!(
        matches!(err, CodegenError::UnsupportedSchedule { .. }),
        "{err}"
    );
}

#[test]
fn code_for_another_cpu_is_never_run() {
    let backend = LlvmBackend::for_cpu("znver4").unwrap();
    if backend.can_execute() {
        eprintln!("skipping: this host is a znver4");
        return;
    }
    let s = spec(Metric::L2, 64, Shape::Pair);
    let err = compile(
        &s,
        &Schedule::default(),
        &backend,
        CompileOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CodegenError::HostUnsupported { .. }), "{err}");
}

#[test]
fn unknown_cpus_are_refused() {
    assert!(LlvmBackend::for_cpu("pentium-9000").is_err());
}

#[test]
fn f16_kernels_widen_on_load_and_agree_with_the_oracle() {
    for width in host_widths() {
        for dim in [1usize, 7, 16, 31, 100, 768] {
            for metric in Metric::ALL {
                for shape in Shape::ALL {
                    for tail in ["scalar", "masked", "padded"] {
                        if width == 1 && tail == "masked" {
                            continue;
                        }
                        let s = KernelSpec::new(metric, ElementType::F16, dim, shape).unwrap();
                        let schedule: Schedule =
                            format!("width={width},acc=2,tail={tail}").parse().unwrap();
                        if let Err(e) = compile(&s, &schedule, host(), CompileOptions::default()) {
                            panic!("{s} [{schedule}]: {e}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn f16_code_converts_with_vcvtph2ps() {
    let backend = LlvmBackend::for_cpu("sapphirerapids").unwrap();
    let s = KernelSpec::new(Metric::Ip, ElementType::F16, 768, Shape::Pair).unwrap();
    let i = inspect(&s, &"width=16,acc=4".parse().unwrap(), &backend).unwrap();
    let asm = disasm::disassemble(&i.code, i.address);
    assert!(
        asm.lines()
            .any(|l| l.contains("vcvtph2ps") && l.contains("zmm")),
        "{asm}"
    );
    assert!(
        asm.lines()
            .any(|l| l.contains("vfmadd") && l.contains("zmm")),
        "{asm}"
    );
}

#[test]
fn f16_calls_check_the_element_type() {
    use hektor_codegen::CallError;
    use hektor_kernels::f16;
    let s = KernelSpec::new(Metric::L2, ElementType::F16, 4, Shape::Pair).unwrap();
    let k = compile(
        &s,
        &"width=4".parse().unwrap(),
        host(),
        CompileOptions::default(),
    )
    .unwrap()
    .kernel;
    let a: Vec<f16> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .map(|&x| f16::from_f32(x))
        .collect();
    let b: Vec<f16> = [1.0f32, 0.0, 3.0, 2.0]
        .iter()
        .map(|&x| f16::from_f32(x))
        .collect();
    assert_eq!(k.pair(&a, &b), Ok(8.0));
    assert!(matches!(
        k.pair(&[1.0f32; 4], &[1.0f32; 4]),
        Err(CallError::WrongElementType { .. })
    ));
    // f16 needs the LLVM tier; cosine_norms keeps f32 norms.
    let cl = hektor_codegen::cranelift::CraneliftBackend::host().unwrap();
    let err = compile(&s, &Schedule::default(), &cl, CompileOptions::default()).unwrap_err();
    assert!(err.to_string().contains("LLVM tier"), "{err}");
    assert!(KernelSpec::new(Metric::CosineNorms, ElementType::F16, 4, Shape::Pair).is_err());
}

/// Pointer arguments are `noalias` (only the output is written), so a
/// gather's query stays in registers across rows where it fits: at d384
/// (24 zmm) the row loop reads no query vector. Without the attribute the
/// store of each distance could alias the query, and LLVM reloaded it for
/// every row.
#[test]
fn gather_keeps_a_small_query_in_registers() {
    let backend = LlvmBackend::for_cpu("sapphirerapids").unwrap();
    let s = spec(Metric::L2, 384, Shape::Gather);
    let schedule = "width=16,unroll=2,acc=2,prefetch=4".parse().unwrap();
    let i = inspect(&s, &schedule, &backend).unwrap();
    let (lowered, _) = i.artifacts.backend_ir.as_ref().expect("LLVM IR");
    let define = lowered
        .lines()
        .find(|l| l.starts_with("define"))
        .expect("a function definition");
    // query, base, ids, out
    assert_eq!(define.matches("ptr noalias").count(), 4, "{define}");
    let asm = disasm::disassemble(&i.code, i.address);
    let lines: Vec<&str> = asm.lines().collect();
    // The first prefetch is in the row loop, ahead of the row's loads.
    let loop_start = lines
        .iter()
        .position(|l| l.contains("prefetcht0"))
        .unwrap_or_else(|| panic!("no prefetch:\n{asm}"));
    assert_eq!(
        lines[..loop_start]
            .iter()
            .filter(|l| l.contains("[rdi"))
            .count(),
        24,
        "the query's 24 vectors load before the loop:\n{asm}"
    );
    assert!(
        !lines[loop_start..].iter().any(|l| l.contains("[rdi")),
        "the row loop reloads the query:\n{asm}"
    );
}
