//! `hektor tune`: time candidate schedules for a spec on this machine and
//! store the fastest in the tuning file, which the runtime reads at start-up.

use super::args::{self, BackendArg};
use super::Failure;
use hektor_codegen::host::cpu_model;
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};
use hektor_runtime::timing::Residency;
use hektor_runtime::tuning::{self, default_tuning_path};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct TuneArgs {
    #[arg(long, value_parser = args::metric)]
    metric: Metric,
    #[arg(long, value_parser = args::dim, allow_negative_numbers = true)]
    dim: usize,
    #[arg(long, value_parser = args::dtype, default_value = "f32")]
    dtype: ElementType,
    /// Shapes to tune, comma-separated.
    #[arg(long, value_parser = args::shape, value_delimiter = ',', default_value = "pair,gather,scan")]
    shape: Vec<Shape>,
    /// The tier to tune (default: the optimizing tier when built in).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Where the data lives while timing: cache-resident or streamed from memory.
    #[arg(long, value_enum, default_value = "cache")]
    residency: ResidencyArg,
    /// Time per candidate, in milliseconds.
    #[arg(long, default_value_t = 30)]
    time_ms: u64,
    /// Rows of the ranking to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// The tuning file (default: $HEKTOR_TUNING_FILE or ~/.cache/hektor/tuning.json).
    #[arg(long)]
    tuning_file: Option<PathBuf>,
    /// Rank only; do not write the tuning file.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ResidencyArg {
    Cache,
    Memory,
}

pub fn run(a: TuneArgs) -> Result<(), Failure> {
    let kind = a
        .backend
        .unwrap_or(*args::default_backends().last().expect("one tier at least"));
    let backend = args::backend(kind, None)?;
    let residency = match a.residency {
        ResidencyArg::Cache => Residency::Cache,
        ResidencyArg::Memory => Residency::Memory,
    };
    let path = a.tuning_file.clone().unwrap_or_else(default_tuning_path);
    let budget = Duration::from_millis(a.time_ms.max(1));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "hektor tune on {} ({})",
        cpu_model(),
        backend.target_description()
    )
    .ok();
    for &shape in &a.shape {
        let spec = KernelSpec::new(a.metric, a.dtype, a.dim, shape)?;
        let total = tuning::candidates(&spec, backend.as_ref()).len();
        writeln!(
            out,
            "\n{spec}: {total} candidate schedules, {residency:?}-resident data, {} ms each",
            a.time_ms
        )
        .ok();
        let trials = tuning::tune(&spec, backend.as_ref(), residency, budget, |done, total| {
            progress_bar(done, total);
        })?;
        eprintln!();
        writeln!(
            out,
            "{:>4}  {:<48} {:>10} {:>12}",
            "rank", "schedule", "ns/dist", "compile µs"
        )
        .ok();
        for (rank, t) in trials.iter().take(a.top).enumerate() {
            writeln!(
                out,
                "{:>4}  {:<48} {:>10.1} {:>12.0}",
                rank + 1,
                t.schedule.to_string(),
                t.timing.ns_per_distance,
                t.compile.as_secs_f64() * 1e6
            )
            .ok();
        }
        writeln!(
            out,
            "(the first pass's {} fastest and the default schedule were timed again, head to head, {} rounds each; they lead by their median)",
            tuning::FINALISTS,
            tuning::FINAL_ROUNDS
        )
        .ok();
        let best = &trials[0];
        let slowest = trials.last().expect("at least one candidate");
        writeln!(
            out,
            "best {} at {:.1} ns/distance ({:.2}x faster than the slowest candidate)",
            best.schedule,
            best.timing.ns_per_distance,
            slowest.timing.ns_per_distance / best.timing.ns_per_distance
        )
        .ok();
        if !a.dry_run {
            let entry = tuning::entry_for(&spec, backend.kind(), residency, best);
            let warnings = tuning::store(&path, entry).map_err(|e| {
                Failure::Runtime(format!("writing tuning file {}: {e}", path.display()))
            })?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            writeln!(out, "stored in {}", path.display()).ok();
        }
    }
    Ok(())
}

/// `[#########           ] 45/96` on stderr, redrawn in place.
fn progress_bar(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = done * WIDTH / total.max(1);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    std::io::stderr().flush().ok();
}
