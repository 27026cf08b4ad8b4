//! `hektor ir`: every stage of one kernel, so a user can see what the
//! compiler did and tune the schedule.

use super::args::{self, BackendArg};
use super::Failure;
use hektor_codegen::{
    compile, disasm, inspect, Artifacts, Backend, BackendKind, CompileOptions, CompileStats,
};
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};
use hektor_runtime::tuning::default_tuning_path;
use hektor_runtime::ScheduleBook;
use std::fmt::Write;

#[derive(clap::Args)]
pub struct IrArgs {
    /// l2 (squared Euclidean), ip (1 − dot) or cosine.
    #[arg(long, value_parser = args::metric)]
    metric: Metric,
    /// Vector dimension, 1..=65536.
    #[arg(long, value_parser = args::dim, allow_negative_numbers = true)]
    dim: usize,
    #[arg(long, value_parser = args::dtype, default_value = "f32")]
    dtype: ElementType,
    /// pair (one against one), gather (against listed rows), scan (against a block of rows).
    #[arg(long, value_parser = args::shape, default_value = "pair")]
    shape: Shape,
    #[arg(long, value_enum, default_value = "cranelift")]
    backend: BackendArg,
    /// Generate for this CPU instead of the host (LLVM names: sapphirerapids,
    /// znver4, haswell, ...). Such code is shown, not run.
    #[arg(long)]
    target_cpu: Option<String>,
    /// What to print; several may be given, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "passes")]
    emit: Vec<Emit>,
    /// Overrides of the default schedule, e.g. `width=4,unroll=4,acc=4,prefetch=8,pflines=2,tail=masked`;
    /// `rows=N` computes gather and scan rows N at a time (a tile).
    #[arg(long, value_parser = args::schedule)]
    schedule: Option<String>,
    /// The tuning file whose schedule (if any) is the starting point.
    #[arg(long)]
    tuning_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Emit {
    /// Kernel IR from the front end, before any pass.
    Kir,
    /// Kernel IR before and after every pass.
    Passes,
    /// Cranelift IR, as lowered and after Cranelift's optimizer.
    Clif,
    /// LLVM IR, as lowered and after LLVM's O3 pipeline.
    Llvm,
    /// llvm-mca's static throughput analysis of the hot loop, next to the
    /// cycles measured on this host (LLVM backend).
    Mca,
    /// Disassembled machine code.
    Asm,
}

pub fn run(a: IrArgs) -> Result<(), Failure> {
    let spec = KernelSpec::new(a.metric, a.dtype, a.dim, a.shape)?;
    let backend = args::backend(a.backend, a.target_cpu.as_deref())?;
    let book = match &a.tuning_file {
        Some(p) => ScheduleBook::load(p),
        None => ScheduleBook::load(&default_tuning_path()),
    };
    for w in &book.warnings {
        eprintln!("warning: {w}");
    }
    let (mut schedule, _) = book.schedule_for(&spec, backend.as_ref());
    if let Some(s) = &a.schedule {
        schedule = schedule.with_overrides(s)?;
    }
    for (e, wants) in [
        (Emit::Clif, BackendKind::Cranelift),
        (Emit::Llvm, BackendKind::Llvm),
    ] {
        if a.emit.contains(&e) && backend.kind() != wants {
            return Err(Failure::Usage(format!(
                "--emit {} needs --backend {}",
                if wants == BackendKind::Cranelift {
                    "clif"
                } else {
                    "llvm"
                },
                wants.name()
            )));
        }
    }
    let shown = if backend.can_execute() {
        let c = compile(
            &spec,
            &schedule,
            backend.as_ref(),
            CompileOptions { record: true },
        )?;
        let verified = format!(
            "verified against the f64 oracle: {} distances, worst error {:.1}% of the bound, in {:.0} µs",
            c.report.checked,
            c.report.worst_error_ratio * 100.0,
            c.kernel.stats().verify.as_secs_f64() * 1e6
        );
        Shown {
            stats: *c.kernel.stats(),
            code: c.kernel.code().to_vec(),
            address: c.kernel.address(),
            artifacts: c.artifacts.expect("compiled with record = true"),
            verified,
            measured_ns: a.emit.contains(&Emit::Mca).then(|| {
                hektor_runtime::timing::time_kernel(
                    &c.kernel,
                    std::time::Duration::from_millis(200),
                )
                .ns_per_distance
            }),
        }
    } else {
        let i = inspect(&spec, &schedule, backend.as_ref())?;
        Shown {
            stats: i.stats,
            code: i.code,
            address: i.address,
            artifacts: i.artifacts,
            verified: "not run and not verified: this host is not the target CPU".to_string(),
            measured_ns: None,
        }
    };
    print!(
        "{}",
        render(&spec, &schedule, backend.as_ref(), &shown, &a.emit)
    );
    if a.emit.contains(&Emit::Mca) {
        print!("{}", mca_report(&spec, backend.as_ref(), &shown)?);
    }
    Ok(())
}

/// What `hektor ir` shows of one kernel, verified or only inspected.
struct Shown {
    stats: CompileStats,
    code: Vec<u8>,
    address: u64,
    artifacts: Artifacts,
    verified: String,
    /// ns per distance measured on this host (for `--emit mca`).
    measured_ns: Option<f64>,
}

fn render(
    spec: &KernelSpec,
    schedule: &Schedule,
    backend: &dyn Backend,
    k: &Shown,
    emit: &[Emit],
) -> String {
    let s = &k.stats;
    let art = &k.artifacts;
    let mut out = String::new();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    writeln!(out, "; kernel   {spec}").unwrap();
    writeln!(out, "; schedule {schedule}").unwrap();
    writeln!(
        out,
        "; backend  {} for {}",
        backend.kind(),
        backend.target_description()
    )
    .unwrap();
    writeln!(out, "; pipeline {}", art.pipeline).unwrap();
    writeln!(
        out,
        "; compile  {:.0} µs (passes {:.0} µs, lowering {:.0} µs, {} {:.0} µs); code {} bytes",
        us(s.total),
        us(s.passes),
        us(s.lowering),
        backend.kind(),
        us(s.backend),
        s.code_bytes
    )
    .unwrap();
    writeln!(out, "; {}", k.verified).unwrap();
    for e in emit {
        match e {
            Emit::Kir => {
                writeln!(out, "\n;; kernel IR (front end)").unwrap();
                out.push_str(&art.kir);
            }
            Emit::Passes => {
                writeln!(out, "\n;; kernel IR (front end)").unwrap();
                out.push_str(&art.kir);
                for (pass, ir) in &art.passes {
                    writeln!(out, "\n;; after {pass}").unwrap();
                    out.push_str(ir);
                }
            }
            Emit::Clif | Emit::Llvm => {
                let (name, optimizer) = match backend.kind() {
                    BackendKind::Cranelift => ("Cranelift IR", "Cranelift's optimizer"),
                    BackendKind::Llvm => ("LLVM IR", "LLVM's O3 pipeline"),
                };
                if let Some((lowered, optimized)) = &art.backend_ir {
                    writeln!(out, "\n;; {name} as lowered").unwrap();
                    out.push_str(lowered);
                    writeln!(out, "\n;; {name} after {optimizer}").unwrap();
                    out.push_str(optimized);
                }
            }
            Emit::Mca => {} // printed after the listing, see mca_report
            Emit::Asm => {
                writeln!(
                    out,
                    "\n;; machine code ({} bytes at {:#x})",
                    s.code_bytes, k.address
                )
                .unwrap();
                out.push_str(&disasm::disassemble(&k.code, k.address));
            }
        }
    }
    out
}

/// llvm-mca on the kernel's hot block for the target CPU, and what this
/// host measured.
fn mca_report(spec: &KernelSpec, backend: &dyn Backend, k: &Shown) -> Result<String, Failure> {
    use hektor_codegen::mca;
    let asm = k
        .artifacts
        .backend_asm
        .as_deref()
        .ok_or_else(|| Failure::Runtime("the backend produced no assembly listing".into()))?;
    let (block, is_loop) = mca::hot_block(asm);
    let cpu = backend.target_cpu().unwrap_or_else(|| "native".to_string());
    let report = mca::analyze(&block, &cpu, 100).map_err(Failure::Runtime)?;
    let mut out = String::new();
    writeln!(
        out,
        "\n;; llvm-mca -mcpu={cpu}: the {} ({} instructions)",
        if is_loop {
            "innermost loop"
        } else {
            "whole kernel (straight-line code)"
        },
        block.lines().count()
    )
    .unwrap();
    out.push_str(&report);
    if let Some(rt) = mca::block_throughput(&report) {
        writeln!(
            out,
            ";; model: {rt:.1} cycles per {}",
            if is_loop {
                "iteration of the loop"
            } else {
                "call"
            }
        )
        .unwrap();
    }
    match k.measured_ns {
        Some(ns) => {
            let ghz = mca::measure_ghz();
            writeln!(
                out,
                ";; measured on this host: {ns:.1} ns per distance = {:.1} cycles at {ghz:.2} GHz \
                 (clock measured with a dependent add chain; {} data as in `hektor kernels`)",
                ns * ghz,
                if spec.shape == hektor_kernels::Shape::Pair {
                    "L1-resident"
                } else {
                    "cache-resident"
                }
            )
            .unwrap();
        }
        None => writeln!(out, ";; not measured: this host is not the target CPU").unwrap(),
    }
    Ok(out)
}
