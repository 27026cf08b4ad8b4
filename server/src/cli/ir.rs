//! `hektor ir`: every stage of one kernel, so a user can see what the
//! compiler did and tune the schedule.

use super::args::{self, BackendArg};
use super::Failure;
use hektor_codegen::{compile, disasm, CompileOptions, Compiled};
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};
use hektor_runtime::default_schedule;
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
    /// What to print; several may be given, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "passes")]
    emit: Vec<Emit>,
    /// Overrides of the default schedule, e.g. `width=4,unroll=4,acc=4,prefetch=8,tail=masked`.
    #[arg(long, value_parser = args::schedule)]
    schedule: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Emit {
    /// Kernel IR from the front end, before any pass.
    Kir,
    /// Kernel IR before and after every pass.
    Passes,
    /// Cranelift IR, as lowered and after Cranelift's optimizer.
    Clif,
    /// Disassembled machine code.
    Asm,
}

pub fn run(a: IrArgs) -> Result<(), Failure> {
    let spec = KernelSpec::new(a.metric, a.dtype, a.dim, a.shape)?;
    let mut schedule = default_schedule(&spec);
    if let Some(s) = &a.schedule {
        schedule = schedule.with_overrides(s)?;
    }
    let backend = args::backend(a.backend)?;
    let compiled = compile(
        &spec,
        &schedule,
        backend.as_ref(),
        CompileOptions { record: true },
    )?;
    print!(
        "{}",
        render(&compiled, &a.emit, &backend.target_description())
    );
    Ok(())
}

fn render(c: &Compiled, emit: &[Emit], target: &str) -> String {
    let k = &c.kernel;
    let s = k.stats();
    let art = c.artifacts.as_ref().expect("compiled with record = true");
    let mut out = String::new();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    writeln!(out, "; kernel   {}", k.spec()).unwrap();
    writeln!(out, "; schedule {}", k.schedule()).unwrap();
    writeln!(out, "; backend  {} for {target}", k.backend()).unwrap();
    writeln!(out, "; pipeline {}", art.pipeline).unwrap();
    writeln!(
        out,
        "; compile  {:.0} µs (passes {:.0} µs, lowering {:.0} µs, {} {:.0} µs); code {} bytes",
        us(s.total),
        us(s.passes),
        us(s.lowering),
        k.backend(),
        us(s.backend),
        s.code_bytes
    )
    .unwrap();
    writeln!(
        out,
        "; verified against the f64 oracle: {} distances, worst error {:.1}% of the bound, in {:.0} µs",
        c.report.checked,
        c.report.worst_error_ratio * 100.0,
        us(s.verify)
    )
    .unwrap();
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
            Emit::Clif => {
                if let Some((lowered, optimized)) = &art.backend_ir {
                    writeln!(out, "\n;; Cranelift IR as lowered").unwrap();
                    out.push_str(lowered);
                    writeln!(out, "\n;; Cranelift IR after Cranelift's optimizer").unwrap();
                    out.push_str(optimized);
                }
            }
            Emit::Asm => {
                writeln!(
                    out,
                    "\n;; machine code ({} bytes at {:#x})",
                    s.code_bytes,
                    k.address()
                )
                .unwrap();
                out.push_str(&disasm::disassemble(k.code(), k.address()));
            }
        }
    }
    out
}
