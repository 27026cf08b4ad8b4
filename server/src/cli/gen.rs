//! `hektor gen`: a synthetic data set with its exact ground truth, in the
//! SIFT file layout (`base.fvecs`, `queries.fvecs`, `gt.ivecs`) that
//! ann-benchmarks tools and `hektor build/search` read.

use super::args;
use super::progress::Progress;
use super::Failure;
use hektor_kernels::Metric;
use hektor_runtime::dataset::gen::{self, GenSpec, Kind};
use hektor_runtime::dataset::{write_fvecs, write_ivecs, DatasetError, Neighbors};
use hektor_runtime::{ExactError, ExactSearch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct GenArgs {
    /// The distribution to draw from.
    #[arg(long, value_enum, default_value = "clustered")]
    kind: KindArg,
    /// Base vectors.
    #[arg(long, value_parser = positive, allow_negative_numbers = true)]
    n: usize,
    /// Vector dimension, 1..=65536.
    #[arg(long, value_parser = args::dim, allow_negative_numbers = true)]
    dim: usize,
    /// Query vectors, from the same distribution as the base.
    #[arg(long, value_parser = positive, allow_negative_numbers = true, default_value = "10000")]
    queries: usize,
    /// Seed: the same seed gives the same files, whatever the thread count.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory for base.fvecs, queries.fvecs and gt.ivecs (created if missing).
    #[arg(long)]
    output: PathBuf,
    /// Neighbours per query in the ground truth.
    #[arg(long, value_parser = positive, allow_negative_numbers = true, default_value = "100")]
    k: usize,
    /// Metric of the ground truth: l2, ip or cosine.
    #[arg(long, value_parser = args::vector_metric, default_value = "l2")]
    metric: Metric,
    /// Worker threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KindArg {
    /// Gaussian mixture at SIFT's scale, each cluster spread along its own low-rank subspace.
    Clustered,
}

fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a positive integer")),
    }
}

impl From<DatasetError> for Failure {
    fn from(e: DatasetError) -> Self {
        Failure::Runtime(e.to_string())
    }
}

impl From<ExactError> for Failure {
    fn from(e: ExactError) -> Self {
        match e {
            ExactError::Registry(r) => r.into(),
            ExactError::Codegen(c) => c.into(),
            e => Failure::Runtime(e.to_string()),
        }
    }
}

pub fn run(a: GenArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let KindArg::Clustered = a.kind;
    // Fail on an unusable output directory now, not after minutes of work.
    std::fs::create_dir_all(&a.output).map_err(|e| {
        Failure::Runtime(format!(
            "cannot create output directory {}: {e}",
            a.output.display()
        ))
    })?;
    let paths = ["base.fvecs", "queries.fvecs", "gt.ivecs"].map(|f| a.output.join(f));
    for p in &paths {
        std::fs::File::create(p)
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", p.display())))?;
    }
    let [base_path, query_path, gt_path] = &paths;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "hektor gen --kind clustered --n {} --dim {} --queries {} --seed {} --metric {} --k {}",
        a.n, a.dim, a.queries, a.seed, a.metric, a.k
    )
    .ok();

    let t = Instant::now();
    let spec = GenSpec {
        kind: Kind::Clustered,
        n: a.n,
        dim: a.dim,
        queries: a.queries,
        seed: a.seed,
        threads: a.threads,
    };
    let bar = Progress::new("generating");
    let data = gen::generate_with_progress(&spec, &|d, t| bar.update(d, t))?;
    bar.finish();
    writeln!(
        out,
        "generated     {} base + {} query vectors in {:.2} s",
        a.n,
        a.queries,
        t.elapsed().as_secs_f64()
    )
    .ok();

    let t = Instant::now();
    write_fvecs(base_path, &data.base)?;
    write_fvecs(query_path, &data.queries)?;
    writeln!(
        out,
        "wrote         {} ({}), {} ({}) in {:.2} s",
        base_path.display(),
        size(base_path),
        query_path.display(),
        size(query_path),
        t.elapsed().as_secs_f64()
    )
    .ok();

    let t = Instant::now();
    // The tuned scan schedule when `hektor tune` stored one, as the
    // runtime does at start-up.
    let book = hektor_runtime::ScheduleBook::load(&hektor_runtime::tuning::default_tuning_path());
    for w in &book.warnings {
        eprintln!("warning: {w}");
    }
    let backend = hektor_runtime::exact::default_backend()?;
    let search =
        ExactSearch::with_backend(a.metric, &data.base, a.threads, backend.as_ref(), &book)?;
    let setup = t.elapsed();
    let base_len = data.base.len();
    // The search keeps its own aligned copy of the base.
    drop(data.base);
    let k = a.k.min(base_len);
    if k < a.k {
        eprintln!("note: --k {} exceeds the {base_len} base vectors; the ground truth holds {k} per query", a.k);
    }
    let t = Instant::now();
    let bar = Progress::new("ground truth");
    let hits = search.search_with_progress(&data.queries, k, &|d, t| bar.update(d, t))?;
    bar.finish();
    let secs = t.elapsed().as_secs_f64();
    let kernel = search.kernel();
    writeln!(
        out,
        "ground truth  exact top-{k} by {} ({} backend, {}; kernel compiled and verified in {:.1} ms, base laid out in {:.2} s) on {} threads in {secs:.2} s ({:.1} ns per distance)",
        kernel.spec(),
        kernel.backend(),
        kernel.schedule(),
        (kernel.stats().total + kernel.stats().verify).as_secs_f64() * 1e3,
        setup.saturating_sub(kernel.stats().total + kernel.stats().verify).as_secs_f64(),
        super::engine::threads(a.threads),
        secs * 1e9 / (a.queries as f64 * base_len as f64),
    )
    .ok();
    write_ivecs(gt_path, &Neighbors::from_results(&hits)?)?;
    writeln!(
        out,
        "wrote         {} ({})",
        gt_path.display(),
        size(gt_path)
    )
    .ok();
    writeln!(
        out,
        "total         {:.2} s",
        started.elapsed().as_secs_f64()
    )
    .ok();
    Ok(())
}

fn size(p: &Path) -> String {
    let bytes = std::fs::metadata(p).map_or(0, |m| m.len());
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{bytes} B")
    }
}
