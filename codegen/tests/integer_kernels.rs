//! Integer kernels — scalar-quantized `i8`/`u8` and `bit` (Hamming) — on
//! both tiers: every metric × shape × a spread of dimensions and schedules
//! verifies against the oracle; the safe handle rejects rows that break the
//! layout with typed errors; on the LLVM tier, the machine code uses
//! `vpdpwssd` (VNNI) for codes and `vpopcntq` / `popcnt` for bits.

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::{
    compile, Backend, BackendKind, CallError, CodegenError, CompileOptions, Kernel, LoweredCode,
};
use hektor_kernels::quant::{self, META_BYTES};
use hektor_kernels::reference;
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};
use hektor_passes::ir::{walk_mut, BinOp, Inst, MemElem, Op};
use hektor_passes::pass::TargetCaps;
use hektor_passes::Function;

fn quantized_specs(dims: &[usize]) -> Vec<KernelSpec> {
    let mut out = vec![];
    for dtype in [ElementType::I8, ElementType::U8] {
        for metric in Metric::ALL {
            for shape in Shape::ALL {
                for &dim in dims {
                    out.push(KernelSpec::new(metric, dtype, dim, shape).unwrap());
                }
            }
        }
    }
    out
}

fn bit_specs(dims: &[usize]) -> Vec<KernelSpec> {
    let mut out = vec![];
    for shape in Shape::ALL {
        for &dim in dims {
            out.push(KernelSpec::new(Metric::Hamming, ElementType::Bit, dim, shape).unwrap());
        }
    }
    out
}

fn cranelift() -> CraneliftBackend {
    CraneliftBackend::host().expect("Cranelift supports this host")
}

#[test]
fn cranelift_integer_kernels_are_scalar_and_verified() {
    let cl = cranelift();
    let schedules = [
        "width=1,acc=4,unroll=2",
        "width=1,acc=1,unroll=full,prefetch=2",
        "width=1,acc=2,rows=3",
    ];
    let mut specs = quantized_specs(&[1, 5, 33, 100]);
    specs.extend(bit_specs(&[1, 63, 64, 65, 1000]));
    for spec in specs {
        for s in schedules {
            if spec.shape == Shape::Pair && s.contains("rows") {
                continue;
            }
            let schedule: Schedule = s.parse().unwrap();
            let c = compile(&spec, &schedule, &cl, CompileOptions::default())
                .unwrap_or_else(|e| panic!("{spec} [{schedule}]: {e}"));
            assert!(c.report.checked > 0 && c.report.worst_error_ratio <= 1.0);
        }
        // The 128-bit forms are left to LLVM, with the clean refusal.
        let err = compile(
            &spec,
            &"width=4".parse().unwrap(),
            &cl,
            CompileOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, CodegenError::UnsupportedSchedule { .. }),
            "{spec}: {err}"
        );
    }
}

/// A kernel for `spec` on Cranelift (every host has it), default schedule.
fn kernel(spec: &str) -> Kernel {
    let spec: KernelSpec = spec.parse().unwrap();
    compile(
        &spec,
        &Schedule::default_for(&spec),
        &cranelift(),
        CompileOptions::default(),
    )
    .unwrap()
    .kernel
}

#[test]
fn quantized_vectors_through_the_public_api() {
    let k = kernel("l2.i8.d37.pair");
    let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin()).collect();
    let y: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).cos()).collect();
    let (qx, qy) = (
        quant::quantize::<i8>(&x, k.row_len()).unwrap(),
        quant::quantize::<i8>(&y, k.row_len()).unwrap(),
    );
    assert_eq!(k.row_len(), 64 + META_BYTES);
    let got = k.pair(&qx, &qy).unwrap() as f64;
    // Against the dequantized vectors (the oracle), and close to the f32
    // distance: quantization moves each component by at most scale/2.
    let want = reference::quantized_pair(Metric::L2, 37, &qx, &qy).distance;
    assert!(
        (got - want).abs() <= 1e-4 * want.max(1.0),
        "{got} vs {want}"
    );
    let exact = reference::pair(Metric::L2, &x, &y).distance;
    assert!((got - exact).abs() < 0.05 * exact, "{got} vs {exact}");
    // Gather over a matrix of quantized rows.
    let g = kernel("ip.u8.d37.gather");
    let stride = g.row_len();
    let mut base = vec![];
    for r in 0..4 {
        let v: Vec<f32> = x.iter().map(|&c| c * r as f32).collect();
        base.extend(quant::quantize::<u8>(&v, stride).unwrap());
    }
    let q = quant::quantize::<u8>(&y, stride).unwrap();
    let mut out = [0.0f32; 3];
    g.gather(&q, &base, stride, &[3, 0, 2], &mut out).unwrap();
    for (i, &id) in [3usize, 0, 2].iter().enumerate() {
        let row = &base[id * stride..(id + 1) * stride];
        let want = reference::quantized_pair(Metric::Ip, 37, &q, row).distance;
        assert!((out[i] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()));
    }
}

#[test]
fn bit_vectors_through_the_public_api() {
    let k = kernel("hamming.bit.d100.scan");
    assert_eq!(k.row_len(), 2);
    let a: Vec<f32> = (0..100)
        .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
        .collect();
    let q = quant::binarize(&a, 2).unwrap();
    let mut base = q.clone();
    base.extend(quant::binarize(&a.iter().map(|x| -x).collect::<Vec<_>>(), 2).unwrap());
    let mut out = [f32::NAN; 2];
    k.scan(&q, &base, 2, 2, &mut out).unwrap();
    assert_eq!(out, [0.0, 100.0]);
}

#[test]
fn calls_that_break_the_row_layout_are_refused() {
    let k = kernel("cosine.u8.d5.pair");
    let good = quant::quantize::<u8>(&[1.0, 2.0, 3.0, 4.0, 5.0], k.row_len()).unwrap();
    assert!(k.pair(&good, &good).unwrap().abs() < 1e-6);
    // Wrong element type, wrong length.
    let as_i8: Vec<i8> = good.iter().map(|&c| c as i8).collect();
    assert!(matches!(
        k.pair(&as_i8, &as_i8),
        Err(CallError::WrongElementType { .. })
    ));
    assert!(matches!(
        k.pair(&good[1..], &good),
        Err(CallError::Length { .. })
    ));
    // Non-zero padding between the codes and the metadata.
    let mut padded = good.clone();
    padded[7] = 1;
    assert!(matches!(
        k.pair(&good, &padded),
        Err(CallError::NonZeroPadding { index: 7, .. })
    ));
    // A NaN scale in the metadata.
    let mut bad = good.clone();
    let at = k.row_len() - META_BYTES + 4;
    bad[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = k.pair(&bad, &good).unwrap_err();
    assert!(
        matches!(err, CallError::BadQuantMeta { field: "scale", .. }),
        "{err}"
    );
    // Bits past the dimension.
    let h = kernel("hamming.bit.d70.pair");
    let ok = vec![u64::MAX, (1 << 6) - 1];
    assert_eq!(h.pair(&ok, &[0, 0]), Ok(70.0));
    let err = h.pair(&ok, &[0, 1 << 6]).unwrap_err();
    assert!(
        matches!(err, CallError::BitsPastDimension { bit: 70, .. }),
        "{err}"
    );
    // Metrics that do not fit the element type never become kernels.
    for bad in [
        "hamming.i8.d8.pair",
        "l2.bit.d8.pair",
        "cosine_norms.u8.d8.pair",
    ] {
        assert!(bad.parse::<KernelSpec>().is_err(), "{bad}");
    }
}

/// A backend that miscompiles on purpose: Cranelift after a sabotage of
/// the optimized IR. Verification must refuse its kernels.
struct Sabotaged {
    inner: CraneliftBackend,
    sabotage: fn(&mut Function) -> bool,
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
    fn supports_dtype(&self, dtype: ElementType) -> bool {
        self.inner.supports_dtype(dtype)
    }
    fn check_schedule(&self, s: &KernelSpec, sc: &Schedule) -> Result<(), CodegenError> {
        self.inner.check_schedule(s, sc)
    }
    fn lower(&self, s: &KernelSpec, f: &Function, text: bool) -> Result<LoweredCode, CodegenError> {
        let mut f = f.clone();
        assert!((self.sabotage)(&mut f), "{s}: nothing to sabotage");
        self.inner.lower(s, &f, text)
    }
}

/// `c·c` instead of `c·d` (or `a xor a`): reads what the real kernel reads.
fn one_operand_twice(f: &mut Function) -> bool {
    let mut done = false;
    walk_mut(&mut f.body, &mut |inst| {
        if let Inst::Op {
            op: Op::Binary(BinOp::IMul | BinOp::Xor, a, b),
            ..
        } = inst
        {
            if !done && a != b {
                *b = *a;
                done = true;
            }
        }
    });
    done
}

/// Adds 1 to the integer sum before it becomes f32: off by one code
/// product or one bit (and never touches an index).
fn off_by_one(f: &mut Function) -> bool {
    let mut done = false;
    let mut body = std::mem::take(&mut f.body);
    let _ = hektor_passes::ir::walk_blocks_mut(&mut body, &mut |block: &mut Vec<Inst>| {
        let Some(k) = block.iter().position(|i| {
            matches!(
                i,
                Inst::Op {
                    op: Op::IToF(_),
                    ..
                }
            )
        }) else {
            return Ok::<(), ()>(());
        };
        if done {
            return Ok(());
        }
        let Inst::Op {
            op: Op::IToF(sum), ..
        } = block[k].clone()
        else {
            return Ok(());
        };
        let ty = f.ty(sum);
        let one = f.new_value(ty, None);
        let bumped = f.new_value(ty, None);
        block.insert(
            k,
            Inst::Op {
                result: Some(one),
                op: Op::IConst(1),
            },
        );
        block.insert(
            k + 1,
            Inst::Op {
                result: Some(bumped),
                op: Op::Binary(BinOp::IAdd, sum, one),
            },
        );
        if let Inst::Op { op, .. } = &mut block[k + 2] {
            *op = Op::IToF(bumped);
        }
        done = true;
        Ok(())
    });
    f.body = body;
    done
}

/// Reads the other row's scale: a wrong epilogue.
fn wrong_metadata(f: &mut Function) -> bool {
    let mut done = false;
    walk_mut(&mut f.body, &mut |inst| {
        if let Inst::Op {
            op: Op::Load(a), ..
        } = inst
        {
            if !done && a.elem == MemElem::Meta {
                a.offset += 1;
                done = true;
            }
        }
    });
    done
}

#[test]
fn verification_rejects_wrong_integer_kernels() {
    let mut specs = quantized_specs(&[37]);
    specs.extend(bit_specs(&[200]));
    for spec in specs {
        let mut sabotages: Vec<fn(&mut Function) -> bool> = vec![one_operand_twice, off_by_one];
        if spec.dtype.is_quantized() {
            sabotages.push(wrong_metadata);
        }
        for sabotage in sabotages {
            let b = Sabotaged {
                inner: cranelift(),
                sabotage,
            };
            let err = compile(
                &spec,
                &Schedule::default_for(&spec),
                &b,
                CompileOptions::default(),
            )
            .unwrap_err();
            assert!(
                matches!(err, CodegenError::Mismatch { .. }),
                "{spec}: {err}"
            );
        }
    }
}

#[cfg(feature = "llvm")]
mod llvm {
    use super::*;
    use hektor_codegen::llvm::LlvmBackend;
    use hektor_codegen::{disasm, inspect};

    fn host() -> LlvmBackend {
        LlvmBackend::host().expect("LLVM targets this host")
    }

    #[test]
    fn llvm_integer_kernels_agree_with_the_oracle() {
        let b = host();
        let widths: Vec<u32> = [1u32, 4, 8, 16, 64]
            .into_iter()
            .filter(|&w| w <= 4 * b.max_width())
            .collect();
        let mut specs = quantized_specs(&[1, 7, 16, 33, 100, 768]);
        specs.extend(bit_specs(&[1, 64, 100, 1000, 4096]));
        specs.push("ip.u8.d32768.pair".parse().unwrap());
        specs.push("l2.i8.d65536.pair".parse().unwrap());
        for spec in specs {
            for &width in &widths {
                // Only codes go wider than a register of f32 (or u64) lanes.
                if width > b.max_width() && !spec.dtype.is_quantized() {
                    continue;
                }
                for tail in ["scalar", "masked", "padded"] {
                    if width == 1 && tail == "masked" {
                        continue;
                    }
                    // Row shapes also in tiles of three rows.
                    let tiles: &[u32] = if spec.shape.has_rows() { &[1, 3] } else { &[1] };
                    for rows in tiles {
                        let schedule: Schedule =
                            format!("width={width},acc=2,prefetch=3,tail={tail},rows={rows}")
                                .parse()
                                .unwrap();
                        let c = compile(&spec, &schedule, &b, CompileOptions::default())
                            .unwrap_or_else(|e| panic!("{spec} [{schedule}]: {e}"));
                        assert!(c.report.worst_error_ratio <= 1.0);
                    }
                }
            }
        }
    }

    fn listing(cpu: &str, spec: &str, schedule: Option<&str>) -> String {
        let backend = LlvmBackend::for_cpu(cpu).unwrap();
        let spec: KernelSpec = spec.parse().unwrap();
        let schedule = match schedule {
            Some(s) => s.parse().unwrap(),
            None => hektor_runtime_free_default(&spec, &backend),
        };
        let i = inspect(&spec, &schedule, &backend).unwrap();
        disasm::disassemble(&i.code, i.address)
    }

    /// The LLVM tier's default schedule, as the runtime picks it: widest
    /// vectors for codes; 8-word vectors for bits with a vector popcount,
    /// scalar `popcnt` otherwise.
    fn hektor_runtime_free_default(spec: &KernelSpec, b: &LlvmBackend) -> Schedule {
        match spec.dtype {
            ElementType::Bit if b.vector_popcount() => "width=8,acc=2".parse().unwrap(),
            ElementType::Bit => "width=1,acc=4".parse().unwrap(),
            _ => format!("width={},acc=2", 4 * b.max_width())
                .parse()
                .unwrap(),
        }
    }

    #[test]
    fn vnni_cpus_multiply_codes_with_vpdpwssd() {
        for cpu in ["sapphirerapids", "znver4"] {
            // In a loop, the multiply-add of codes is one `vpdpwssd`.
            for spec in [
                "ip.i8.d4096.pair",
                "l2.u8.d4096.pair",
                "cosine.i8.d4096.gather",
            ] {
                let asm = listing(cpu, spec, None);
                assert!(
                    asm.lines()
                        .any(|l| l.contains("vpdpwssd") && l.contains("zmm")),
                    "{cpu} {spec}:\n{asm}"
                );
                assert!(!asm.contains("vpmulld"), "{cpu} {spec}:\n{asm}");
            }
            // When LLVM unrolls the whole kernel into straight-line code,
            // its machine combiner may split `vpdpwssd` back into
            // `vpmaddwd` + `vpaddd` (shorter critical path outside a loop);
            // either way no 32-bit multiply is left.
            for spec in ["ip.i8.d768.pair", "l2.u8.d768.pair"] {
                let asm = listing(cpu, spec, None);
                assert!(
                    asm.lines()
                        .any(|l| (l.contains("vpdpwssd") || l.contains("vpmaddwd"))
                            && l.contains("zmm")),
                    "{cpu} {spec}:\n{asm}"
                );
                assert!(!asm.contains("vpmulld"), "{cpu} {spec}:\n{asm}");
            }
        }
        // Without VNNI: vpmaddwd (AVX2).
        let asm = listing("haswell", "ip.i8.d768.pair", None);
        assert!(
            asm.lines()
                .any(|l| l.contains("vpmaddwd") && l.contains("ymm")),
            "{asm}"
        );
        assert!(!asm.contains("vpmulld"), "{asm}");
    }

    #[test]
    fn bit_kernels_count_with_vpopcntq_or_popcnt() {
        for cpu in ["icelake-server", "znver4", "sapphirerapids"] {
            let asm = listing(cpu, "hamming.bit.d1024.pair", None);
            assert!(
                asm.lines()
                    .any(|l| l.contains("vpopcntq") && l.contains("zmm")),
                "{cpu}:\n{asm}"
            );
        }
        let asm = listing("haswell", "hamming.bit.d1024.pair", None);
        assert!(
            asm.lines()
                .any(|l| l.split_whitespace().any(|w| w == "popcnt")),
            "{asm}"
        );
        assert!(!asm.contains("vpshufb"), "{asm}");
    }
}
