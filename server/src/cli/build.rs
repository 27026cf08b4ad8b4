//! `hektor build`: an HNSW index from a vector file, on all cores, saved
//! as one durable index file (with its empty write-ahead log).

use super::args;
use super::engine::{index_kernels, mib, print_kernels, threads, GraphArgs};
use super::progress::Progress;
use super::Failure;
use hektor_kernels::Metric;
use hektor_runtime::dataset::load_vectors;
use hektor_runtime::durable::DurableIndex;
use hektor_runtime::index::{HnswIndex, IndexParams};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Vectors to index: .fvecs, .bvecs or .npy (float32, uint8 or int8).
    #[arg(long)]
    input: PathBuf,
    /// Distance: l2 (squared Euclidean), ip (1 − a·b) or cosine.
    #[arg(long, value_parser = args::vector_metric)]
    metric: Metric,
    #[command(flatten)]
    graph: GraphArgs,
    /// Most vectors the index may ever hold, inserts after the build
    /// included (address space is reserved, memory is not). Default: 2 × input.
    #[arg(long)]
    max_elements: Option<usize>,
    /// The index file to write (its log is written beside it, with `.wal` appended).
    #[arg(long)]
    output: PathBuf,
}

pub fn run(a: BuildArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let t = Instant::now();
    let data = load_vectors(&a.input)?;
    println!(
        "read        {} vectors of dimension {} from {} in {:.2} s",
        data.len(),
        data.dim(),
        a.input.display(),
        t.elapsed().as_secs_f64()
    );
    let kernels = index_kernels(a.metric, data.dim(), a.graph.dtype, a.graph.backend)?;
    print_kernels(&kernels);
    let threads = threads(a.graph.threads);
    let params = IndexParams {
        m: a.graph.m,
        ef_construction: a.graph.ef_construction,
        max_elements: a.max_elements.unwrap_or(2 * data.len()).max(data.len()),
        traversal: a.graph.dtype,
        ..IndexParams::new(a.metric, data.dim())
    };
    let t = Instant::now();
    let bar = Progress::new("building");
    let index = HnswIndex::build(params, kernels, data.as_slice(), threads, &|d, n| {
        bar.update(d, n)
    })
    .map_err(|e| Failure::Usage(format!("{}: {e}", a.input.display())))?;
    bar.finish();
    let build_secs = t.elapsed().as_secs_f64();
    println!(
        "built       {} vectors, m {} ef_construction {}, on {threads} threads in {build_secs:.2} s ({:.0} inserts/s), {:.1} MiB in memory",
        index.len(),
        a.graph.m,
        a.graph.ef_construction,
        index.len() as f64 / build_secs,
        mib(index.memory_bytes())
    );
    drop(data);
    let t = Instant::now();
    DurableIndex::create(&a.output, index).map_err(|e| Failure::Runtime(e.to_string()))?;
    let bytes = std::fs::metadata(&a.output).map_or(0, |m| m.len());
    println!(
        "wrote       {} ({:.1} MiB) in {:.2} s",
        a.output.display(),
        mib(bytes as usize),
        t.elapsed().as_secs_f64()
    );
    println!("total       {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
