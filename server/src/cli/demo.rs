//! `hektor demo`: the whole engine on built-in data, no files needed.
//! Generates a clustered data set, computes its exact neighbours with the
//! scan kernel, builds the index with a progress bar, and sweeps ef,
//! printing recall@10 and latency per ef and the kernels the run compiled.

use super::engine::{index_kernels, mib, print_kernels, threads, GraphArgs};
use super::measure::{ef_list, hnsw_search, print_table, sweep_point};
use super::progress::Progress;
use super::Failure;
use hektor_kernels::Metric;
use hektor_runtime::dataset::gen::{generate_with_progress, GenSpec, Kind};
use hektor_runtime::dataset::Neighbors;
use hektor_runtime::index::{HnswIndex, IndexParams};
use hektor_runtime::ExactSearch;
use std::time::Instant;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Base vectors.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..))]
    n: u32,
    /// Dimension.
    #[arg(long, default_value_t = 128, value_parser = super::args::dim)]
    dim: usize,
    /// Queries (each timed on its own, one thread).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    queries: u32,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    k: u32,
    /// The ef sweep.
    #[arg(long, default_value = "10,16,32,64,128,256", value_parser = ef_list)]
    ef: std::vec::Vec<usize>,
    /// Distance: l2, ip or cosine.
    #[arg(long, default_value = "l2", value_parser = super::args::vector_metric)]
    metric: Metric,
    #[command(flatten)]
    graph: GraphArgs,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(a: DemoArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let (n, nq, k) = (a.n as usize, a.queries as usize, a.k as usize);
    println!(
        "hektor demo: {n} clustered vectors of dimension {}, {nq} queries, {} distance, k = {k}",
        a.dim, a.metric
    );
    let threads = threads(a.graph.threads);

    let t = Instant::now();
    let bar = Progress::new("generating");
    let spec = GenSpec {
        kind: Kind::Clustered,
        n,
        dim: a.dim,
        queries: nq,
        seed: a.seed,
        threads,
    };
    let data = generate_with_progress(&spec, &|d, t| bar.update(d, t))?;
    bar.finish();
    println!("generated   in {:.2} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let exact = ExactSearch::new(a.metric, &data.base, threads)?;
    let bar = Progress::new("exact top-k");
    let hits = exact.search_with_progress(&data.queries, k, &|d, t| bar.update(d, t))?;
    bar.finish();
    let gt = Neighbors::from_results(&hits)?;
    println!(
        "ground truth by brute force ({} on {}) in {:.2} s",
        exact.kernel().spec(),
        exact.kernel().backend(),
        t.elapsed().as_secs_f64()
    );
    drop(exact);

    let kernels = index_kernels(a.metric, a.dim, a.graph.dtype, a.graph.backend)?;
    let params = IndexParams {
        m: a.graph.m,
        ef_construction: a.graph.ef_construction,
        max_elements: n,
        seed: a.seed,
        traversal: a.graph.dtype,
        ..IndexParams::new(a.metric, a.dim)
    };
    let t = Instant::now();
    let bar = Progress::new("building");
    let index = HnswIndex::build(params, kernels, data.base.as_slice(), threads, &|d, n| {
        bar.update(d, n)
    })
    .map_err(|e| Failure::Runtime(e.to_string()))?;
    bar.finish();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "built HNSW  m {} ef_construction {} on {threads} threads in {secs:.2} s ({:.0} inserts/s), {:.1} MiB",
        a.graph.m,
        a.graph.ef_construction,
        n as f64 / secs,
        mib(index.memory_bytes())
    );

    let warmup = nq.min(1000);
    println!("\nsearch: one query at a time on one thread, each timed; {warmup} untimed warm-up queries per ef");
    let mut points = Vec::new();
    for &ef in &a.ef {
        let mut search = hnsw_search(&index, k, ef).map_err(Failure::Runtime)?;
        let mut ids = Vec::new();
        for q in data.queries.rows().take(warmup) {
            ids.clear();
            search(q, &mut ids).map_err(Failure::Runtime)?;
        }
        let (point, _) = sweep_point(&data.queries, k, Some(ef), Some(&gt), &mut search)
            .map_err(Failure::Runtime)?;
        points.push(point);
    }
    print_table(&points);
    println!();
    print_kernels(index.kernels());
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
