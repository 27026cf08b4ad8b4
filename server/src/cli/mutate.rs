//! Changing an index file after it was built: `hektor insert`, `hektor
//! delete` and `hektor compact`. Every insert and delete is in the
//! write-ahead log, synced, before it is reported done.

use super::args::BackendArg;
use super::engine::index_kernels;
use super::progress::Progress;
use super::Failure;
use hektor_runtime::dataset::{load_ids, load_vectors};
use hektor_runtime::durable::DurableIndex;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct InsertArgs {
    /// The index file.
    #[arg(long)]
    index: PathBuf,
    /// Vectors to add: .fvecs, .bvecs or .npy.
    #[arg(long)]
    input: PathBuf,
    /// Kernel backend (default: llvm when built in).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
}

#[derive(clap::Args)]
pub struct DeleteArgs {
    /// The index file.
    #[arg(long)]
    index: PathBuf,
    /// Ids to delete, comma-separated.
    #[arg(long, value_delimiter = ',', required_unless_present = "ids_file")]
    ids: Vec<u32>,
    /// Ids to delete from a file (.ivecs, .npy or .csv; every id in it).
    #[arg(long, conflicts_with = "ids")]
    ids_file: Option<PathBuf>,
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
}

#[derive(clap::Args)]
pub struct CompactArgs {
    /// The index file.
    #[arg(long)]
    index: PathBuf,
    /// Rebuild threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
}

fn open(path: &Path, backend: Option<BackendArg>) -> Result<DurableIndex, Failure> {
    let (index, report) = DurableIndex::open(
        path,
        |p| index_kernels(p.metric, p.dim, p.traversal, backend).map_err(Failure::message),
        0,
    )
    .map_err(|e| Failure::Runtime(e.to_string()))?;
    if report.replayed_inserts + report.replayed_deletes > 0 || report.torn_bytes > 0 {
        println!(
            "log         replayed {} inserts and {} deletes{}",
            report.replayed_inserts,
            report.replayed_deletes,
            if report.torn_bytes > 0 {
                format!(", cut a torn last record of {} bytes", report.torn_bytes)
            } else {
                String::new()
            }
        );
    }
    Ok(index)
}

fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

pub fn insert(a: InsertArgs) -> Result<(), Failure> {
    let index = open(&a.index, a.backend)?;
    let data = load_vectors(&a.input)?;
    let dim = index.index().params().dim;
    if data.dim() != dim {
        return Err(Failure::Usage(format!(
            "{}: vectors of dimension {}, the index has dimension {dim}",
            a.input.display(),
            data.dim()
        )));
    }
    let t = Instant::now();
    let bar = Progress::new("inserting");
    let mut first = None;
    let mut last = 0;
    for (row, v) in data.rows().enumerate() {
        let label = index
            .insert(v)
            .map_err(|e| Failure::Runtime(format!("{} row {row}: {e}", a.input.display())))?;
        first.get_or_insert(label);
        last = label;
        bar.update(row + 1, data.len());
    }
    bar.finish();
    println!(
        "inserted    {} vectors as ids {}..={last} in {:.2} s (each synced to the log before the next)",
        data.len(),
        first.unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn delete(a: DeleteArgs) -> Result<(), Failure> {
    let ids: Vec<u32> = match &a.ids_file {
        Some(p) => load_ids(p)?.as_slice().to_vec(),
        None => a.ids.clone(),
    };
    let index = open(&a.index, a.backend)?;
    // Check every id first, so a typo deletes nothing.
    for &id in &ids {
        index.index().check_delete(id).map_err(runtime)?;
    }
    for &id in &ids {
        index.delete(id).map_err(runtime)?;
    }
    println!(
        "deleted     {} ids; {} of {} vectors live (`hektor compact` reclaims the rest)",
        ids.len(),
        index.index().live(),
        index.index().len()
    );
    Ok(())
}

pub fn compact(a: CompactArgs) -> Result<(), Failure> {
    let index = open(&a.index, a.backend)?;
    let before = (index.index().len(), index.index().memory_bytes());
    let threads = super::engine::threads(a.threads);
    let t = Instant::now();
    let bar = Progress::new("compacting");
    let index = index
        .compact(threads, &|d, n| bar.update(d, n))
        .map_err(runtime)?;
    bar.finish();
    println!(
        "compacted   {} → {} vectors, {:.1} → {:.1} MiB, in {:.2} s; ids are unchanged",
        before.0,
        index.index().len(),
        super::engine::mib(before.1),
        super::engine::mib(index.index().memory_bytes()),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
