//! What `build`, `search` and `demo` share: compiling an index's kernels
//! on the chosen tier, and reporting them.

use super::args::{self, BackendArg};
use super::Failure;
use hektor_kernels::Metric;
use hektor_runtime::index::{IndexKernels, Traversal};
use hektor_runtime::tuning::default_tuning_path;
use hektor_runtime::ScheduleBook;

/// The backend an index runs on unless told otherwise: LLVM when built in
/// (the best code; an index lives long enough to repay milliseconds of
/// compiling), Cranelift otherwise.
pub fn default_backend() -> BackendArg {
    *args::default_backends()
        .last()
        .expect("at least Cranelift is always built")
}

/// Compiles and verifies the kernels an index of `metric` × `dim` needs,
/// with this machine's tuned schedules where the tuning file has them.
pub fn index_kernels(
    metric: Metric,
    dim: usize,
    traversal: Traversal,
    backend: Option<BackendArg>,
) -> Result<IndexKernels, Failure> {
    let backend = args::backend(backend.unwrap_or_else(default_backend), None)?;
    let book = ScheduleBook::load(&default_tuning_path());
    for w in &book.warnings {
        eprintln!("warning: {w}");
    }
    Ok(IndexKernels::compile_for(
        metric,
        traversal,
        dim,
        backend.as_ref(),
        &book,
    )?)
}

/// `--dtype` of build and demo: what the graph search walks on.
pub fn traversal(s: &str) -> Result<Traversal, String> {
    Traversal::ALL
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| format!("unknown dtype `{s}` (expected f32, sq8, f16 or bit)"))
}

/// One line per kernel: spec, tier, schedule, compile and verify time.
pub fn print_kernels(kernels: &IndexKernels) {
    println!("kernels:");
    for p in &kernels.prepared {
        let k = &p.kernel;
        let s = k.stats();
        println!(
            "  {:<28} {:<9} compiled in {:>6.2} ms, verified in {:>6.2} ms, {:>5} B  [{}]",
            k.spec().to_string(),
            k.backend().to_string(),
            s.total.as_secs_f64() * 1e3,
            s.verify.as_secs_f64() * 1e3,
            s.code_bytes,
            k.schedule()
        );
    }
}

pub fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The graph options `hektor build` and `hektor demo` share.
#[derive(clap::Args)]
pub struct GraphArgs {
    /// What graph search walks on: f32; or compact codes whose best
    /// candidates are re-ranked with exact f32 distances: sq8 (i8 with
    /// per-vector scale and offset), f16 (LLVM tier only), bit (signs
    /// around the mean, Hamming).
    #[arg(long, default_value = "f32", value_parser = traversal)]
    pub dtype: Traversal,
    /// Links per node (2·m at level 0).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    /// Candidate list size while building: higher builds slower, searches better.
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    /// Build threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Kernel backend (default: llvm when built in).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
}

/// `--threads 0` means every core.
pub fn threads(requested: usize) -> usize {
    match requested {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
}
