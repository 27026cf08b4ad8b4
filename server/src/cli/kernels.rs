//! `hektor kernels`: what the runtime does at start-up for an index of a
//! given dimension — generate every kernel it needs, verify each against
//! the oracle, time it — shown as a table (or JSON).

use super::args::{self, BackendArg};
use super::Failure;
use hektor_codegen::host::{cpu_model, HostFeatures};
use hektor_kernels::{Metric, Shape};
use hektor_runtime::timing::{GATHER_IDS, TIMING_ROWS};
use hektor_runtime::{KernelRegistry, PrepareRequest, PreparedKernel};
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

#[derive(clap::Args)]
pub struct KernelsArgs {
    /// Vector dimension of the index, 1..=65536.
    #[arg(long, value_parser = args::dim, allow_negative_numbers = true)]
    dim: usize,
    /// Element type of the index's vectors (f16 is served by the LLVM tier).
    #[arg(long, value_parser = args::dtype, default_value = "f32")]
    dtype: hektor_kernels::ElementType,
    /// Metrics, comma-separated.
    /// (default: every metric the element type supports)
    #[arg(long, value_parser = args::metric, value_delimiter = ',')]
    metric: Vec<Metric>,
    /// Shapes, comma-separated.
    #[arg(long, value_parser = args::shape, value_delimiter = ',', default_value = "pair,gather,scan")]
    shape: Vec<Shape>,
    /// Backends (tiers), comma-separated; default: every tier built in.
    #[arg(long, value_enum, value_delimiter = ',')]
    backend: Vec<BackendArg>,
    /// Overrides of the default schedule for every kernel.
    #[arg(long, value_parser = args::schedule)]
    schedule: Option<String>,
    /// Time spent timing each kernel, in milliseconds (0 = do not time).
    #[arg(long, default_value_t = 200)]
    time_ms: u64,
    /// The tuning file (default: $HEKTOR_TUNING_FILE or ~/.cache/hektor/tuning.json).
    #[arg(long)]
    tuning_file: Option<std::path::PathBuf>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    spec: String,
    schedule: String,
    backend: String,
    compile_us: f64,
    code_bytes: usize,
    verified_distances: usize,
    worst_error_of_bound: f64,
    schedule_source: hektor_runtime::ScheduleSource,
    ns_per_distance: Option<f64>,
    working_set_bytes: Option<usize>,
}

#[derive(Serialize)]
struct Report {
    cpu: String,
    isa_level: &'static str,
    features: String,
    target: String,
    dim: usize,
    kernels: Vec<Row>,
}

fn row(p: &PreparedKernel) -> Row {
    let k = &p.kernel;
    Row {
        spec: k.spec().to_string(),
        schedule: k.schedule().to_string(),
        backend: k.backend().to_string(),
        compile_us: k.stats().total.as_secs_f64() * 1e6,
        code_bytes: k.stats().code_bytes,
        verified_distances: p.verification.checked,
        worst_error_of_bound: p.verification.worst_error_ratio,
        schedule_source: p.source,
        ns_per_distance: p.timing.map(|t| t.ns_per_distance),
        working_set_bytes: p.timing.map(|t| t.working_set_bytes),
    }
}

pub fn run(a: KernelsArgs) -> Result<(), Failure> {
    let kinds = if a.backend.is_empty() {
        args::default_backends()
    } else {
        a.backend.clone()
    };
    let backends = kinds
        .iter()
        .map(|&k| args::backend(k, None))
        .collect::<Result<Vec<_>, _>>()?;
    let backend_refs: Vec<&dyn hektor_codegen::Backend> =
        backends.iter().map(|b| b.as_ref()).collect();
    let tuning_path = a
        .tuning_file
        .clone()
        .unwrap_or_else(hektor_runtime::tuning::default_tuning_path);
    let book = hektor_runtime::ScheduleBook::load(&tuning_path);
    for w in &book.warnings {
        eprintln!("warning: {w}");
    }
    let metrics: Vec<Metric> = if a.metric.is_empty() {
        Metric::for_element_type(a.dtype)
            .iter()
            .copied()
            .filter(|&m| hektor_kernels::KernelSpec::new(m, a.dtype, a.dim, Shape::Pair).is_ok())
            .collect()
    } else {
        // A metric the element type does not have (hamming on f32, l2 on
        // bit) is a usage error, before anything is compiled.
        for &m in &a.metric {
            hektor_kernels::KernelSpec::new(m, a.dtype, a.dim, Shape::Pair)?;
        }
        a.metric.clone()
    };
    let features = HostFeatures::detect();
    let budget = (a.time_ms > 0).then(|| Duration::from_millis(a.time_ms));
    let mut stdout = std::io::stdout().lock();
    if !a.json {
        writeln!(stdout, "hektor kernels --dim {}", a.dim).ok();
        writeln!(
            stdout,
            "tuning   {} ({} entries for this CPU)",
            tuning_path.display(),
            book.len()
        )
        .ok();
        writeln!(
            stdout,
            "cpu      {} ({}; {})",
            cpu_model(),
            features.isa_level(),
            features
        )
        .ok();
        for b in &backends {
            writeln!(
                stdout,
                "target   {:<10} {}",
                b.kind(),
                b.target_description()
            )
            .ok();
        }
        writeln!(
            stdout,
            "timing   pair: 8 vectors in L1; gather: {GATHER_IDS} random ids and scan: {TIMING_ROWS} rows of a {TIMING_ROWS}-row matrix ({} KiB)\n",
            TIMING_ROWS * a.dim * 4 / 1024
        )
        .ok();
        writeln!(
            stdout,
            "{:<30} {:<56} {:<10} {:>10} {:>7} {:>18} {:>8}",
            "kernel", "schedule (source)", "backend", "compile µs", "code B", "verified", "ns/dist"
        )
        .ok();
    }
    let mut rows = vec![];
    KernelRegistry::prepare(
        &backend_refs,
        &book,
        &PrepareRequest {
            dim: a.dim,
            dtype: a.dtype,
            metrics: &metrics,
            shapes: &a.shape,
            schedule_override: a.schedule.as_deref(),
            time_budget: budget,
        },
        |p| {
            let r = row(p);
            if !a.json {
                let verified = format!(
                    "ok {} ({:.0}%)",
                    r.verified_distances,
                    r.worst_error_of_bound * 100.0
                );
                let ns = r
                    .ns_per_distance
                    .map_or("-".to_string(), |n| format!("{n:.1}"));
                writeln!(
                    stdout,
                    "{:<30} {:<56} {:<10} {:>10.0} {:>7} {:>18} {:>8}",
                    r.spec,
                    format!("{} ({:?})", r.schedule, r.schedule_source).to_lowercase(),
                    r.backend,
                    r.compile_us,
                    r.code_bytes,
                    verified,
                    ns
                )
                .ok();
                stdout.flush().ok();
            }
            rows.push(r);
        },
    )?;
    if a.json {
        let report = Report {
            cpu: cpu_model(),
            isa_level: features.isa_level(),
            features: features.to_string(),
            target: backends
                .iter()
                .map(|b| format!("{}: {}", b.kind(), b.target_description()))
                .collect::<Vec<_>>()
                .join("; "),
            dim: a.dim,
            kernels: rows,
        };
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::Runtime(e.to_string()))?;
        writeln!(stdout, "{text}").ok();
    } else {
        writeln!(
            stdout,
            "\n{} kernels compiled and verified against the f64 oracle ('verified': distances checked, worst error as % of the bound).",
            rows.len()
        )
        .ok();
    }
    Ok(())
}
