//! `hektor tiers`: tiered compilation as it happens. Every kernel an index
//! of this dimension needs is requested at once; the Cranelift tier
//! answers each request synchronously, the LLVM tier compiles in the
//! background and swaps its kernels in, and every event is printed with
//! its time since start.

use super::args::{self, BackendArg};
use super::Failure;
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};
use hektor_runtime::tuning::default_tuning_path;
use hektor_runtime::{ScheduleBook, TierEvent, TieredRegistry};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct TiersArgs {
    /// Vector dimension of the index, 1..=65536.
    #[arg(long, value_parser = args::dim, allow_negative_numbers = true)]
    dim: usize,
    /// Metrics, comma-separated.
    #[arg(long, value_parser = args::metric, value_delimiter = ',', default_value = "l2,ip,cosine,cosine_norms")]
    metric: Vec<Metric>,
    /// Shapes, comma-separated.
    #[arg(long, value_parser = args::shape, value_delimiter = ',', default_value = "pair,gather,scan")]
    shape: Vec<Shape>,
}

fn describe(e: &TierEvent) -> String {
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let us = |d: &Duration| d.as_secs_f64() * 1e6;
    match e {
        TierEvent::Serving {
            spec,
            backend,
            compile,
            at,
        } => {
            format!(
                "{:>9.3} ms  {:<30} serving  {backend} (compiled in {:.0} µs)",
                ms(at),
                spec.to_string(),
                us(compile)
            )
        }
        TierEvent::Swapped {
            spec,
            from,
            to,
            compile,
            at,
        } => {
            format!(
                "{:>9.3} ms  {:<30} swapped  {from} -> {to} (compiled in {:.0} µs)",
                ms(at),
                spec.to_string(),
                us(compile)
            )
        }
        TierEvent::Failed {
            spec,
            backend,
            error,
            at,
        } => {
            format!(
                "{:>9.3} ms  {:<30} FAILED   {backend}: {error} (the baseline keeps serving)",
                ms(at),
                spec.to_string()
            )
        }
    }
}

pub fn run(a: TiersArgs) -> Result<(), Failure> {
    let tiers = args::default_backends();
    if !tiers.contains(&BackendArg::Llvm) {
        return Err(Failure::Usage(
            "tiering needs the LLVM tier: this hektor was built without it".into(),
        ));
    }
    let book = ScheduleBook::load(&default_tuning_path());
    for w in &book.warnings {
        eprintln!("warning: {w}");
    }
    let registry = TieredRegistry::new(
        args::backend(BackendArg::Cranelift, None)?,
        Some(args::backend(BackendArg::Llvm, None)?),
        book,
        Some(Arc::new(|e: &TierEvent| println!("{}", describe(e)))),
    );
    println!(
        "hektor tiers --dim {}: requests go to Cranelift now, LLVM swaps in behind them\n",
        a.dim
    );
    let mut slots = vec![];
    for &metric in &a.metric {
        for &shape in &a.shape {
            let spec = KernelSpec::new(metric, ElementType::F32, a.dim, shape)?;
            slots.push(registry.get(&spec)?);
        }
    }
    if !registry.wait_for_tier_up(Duration::from_secs(600)) {
        return Err(Failure::Runtime(
            "the LLVM tier did not finish within 10 minutes".into(),
        ));
    }
    println!();
    for slot in &slots {
        println!(
            "{:<30} served by {}",
            slot.spec().to_string(),
            slot.backend()
        );
    }
    Ok(())
}
