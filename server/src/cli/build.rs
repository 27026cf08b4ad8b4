//! `hektor build`: an HNSW index from a vector file, on all cores, saved
//! as one durable index file (with its empty write-ahead log).

use super::args::{self, BackendArg};
use super::engine::{index_kernels, mib, print_kernels};
use super::progress::Progress;
use super::Failure;
use hektor_kernels::Metric;
use hektor_runtime::dataset::load_vectors;
use hektor_runtime::durable::DurableIndex;
use hektor_runtime::index::{HnswIndex, IndexParams, Traversal};
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
    /// What graph search walks on: f32, or sq8 (i8 codes with per-vector
    /// scale and offset, re-ranked with exact f32 distances).
    #[arg(long, default_value = "f32", value_parser = super::engine::traversal)]
    dtype: Traversal,
    /// Links per node (2·m at level 0).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Candidate list size while building: higher builds slower, searches better.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Build threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Most vectors the index may ever hold, inserts after the build
    /// included (address space is reserved, memory is not). Default: 2 × input.
    #[arg(long)]
    max_elements: Option<usize>,
    /// Kernel backend (default: llvm when built in).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
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
    let kernels = index_kernels(a.metric, data.dim(), a.dtype, a.backend)?;
    print_kernels(&kernels);
    let threads = match a.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    let params = IndexParams {
        m: a.m,
        ef_construction: a.ef_construction,
        max_elements: a.max_elements.unwrap_or(2 * data.len()).max(data.len()),
        traversal: a.dtype,
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
        a.m,
        a.ef_construction,
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
