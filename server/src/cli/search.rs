//! `hektor search`: queries against an index file, one at a time on one
//! thread as a server answers them, with recall and the latency
//! distribution per ef.

use super::args::BackendArg;
use super::engine::{index_kernels, print_kernels};
use super::measure::{ef_list, hnsw_search, print_table, sweep_point, SweepPoint};
use super::Failure;
use hektor_runtime::dataset::{
    check_same_dim, load_ids, load_vectors, save_ids, Matrix, Neighbors,
};
use hektor_runtime::durable::DurableIndex;
use hektor_runtime::index::Search;
use hektor_runtime::ExactSearch;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The index file (from `hektor build`).
    #[arg(long)]
    index: PathBuf,
    /// Query vectors: .fvecs, .bvecs or .npy.
    #[arg(long)]
    queries: PathBuf,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=4096))]
    k: u32,
    /// Candidate list size; a list (16,32,64) prints a sweep.
    #[arg(long, default_value = "64", value_parser = ef_list)]
    ef: std::vec::Vec<usize>,
    /// Write the ids found (at the last ef) to this .ivecs, .npy or .csv file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Exact neighbours (.ivecs, .npy or .csv), for recall@k.
    #[arg(long)]
    ground_truth: Option<PathBuf>,
    /// Brute force over every vector with the scan kernel instead of HNSW.
    #[arg(long)]
    exact: bool,
    /// One JSON object per ef on stdout (and nothing else there).
    #[arg(long)]
    json: bool,
    /// Untimed queries run first, so that the timed ones do not measure
    /// cold caches.
    #[arg(long, default_value_t = 1000)]
    warmup: usize,
    /// Kernel backend (default: llvm when built in).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Level-0 layout searched: the index's own (lists and rows apart), or
    /// a read-only copy with each node's list beside its row, as hnswlib
    /// lays it out (f32 indexes; to measure the choice).
    #[arg(long, value_enum, default_value_t = Layout::Separate)]
    layout: Layout,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Layout {
    Separate,
    Interleaved,
}

pub fn run(a: SearchArgs) -> Result<(), Failure> {
    let k = a.k as usize;
    let say = |line: String| {
        // With --json, stdout carries only the JSON lines.
        if a.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let t = Instant::now();
    let (durable, report) = DurableIndex::open(
        &a.index,
        |p| index_kernels(p.metric, p.dim, p.traversal, a.backend).map_err(|f| f.message()),
        0,
    )
    .map_err(|e| Failure::Runtime(e.to_string()))?;
    let index = durable.index();
    say(format!(
        "opened      {} ({} vectors, {} live, {} {}-dim) in {:.1} ms; log replayed: {} inserts, {} deletes",
        a.index.display(),
        index.len(),
        index.live(),
        index.params().metric,
        index.params().dim,
        t.elapsed().as_secs_f64() * 1e3,
        report.replayed_inserts,
        report.replayed_deletes
    ));
    if !a.json {
        print_kernels(index.kernels());
    }
    let queries = load_vectors(&a.queries)?;
    let base_shape = Matrix::new(index.params().dim, vec![])?;
    check_same_dim(&base_shape, &queries).map_err(|e| {
        Failure::Usage(format!(
            "{}: {e} (index {})",
            a.queries.display(),
            a.index.display()
        ))
    })?;
    let gt = match &a.ground_truth {
        Some(p) => Some(load_ground_truth(p, &queries, k)?),
        None => None,
    };

    let mut points = Vec::new();
    let last_ids;
    if a.exact {
        // Brute force over the live vectors only, so that every query
        // gets k results even when some vectors are deleted; hits are
        // positions in `labels`.
        let labels = index.live_labels();
        let mut values = Vec::with_capacity(labels.len() * index.params().dim);
        for &label in &labels {
            values.extend(
                index
                    .vector(label)
                    .map_err(|e| Failure::Runtime(e.to_string()))?,
            );
        }
        let base = Matrix::new(index.params().dim, values)?;
        let exact = ExactSearch::new(index.params().metric, &base, 1)?;
        let (point, ids) = sweep_point(&queries, k, None, gt.as_ref(), |q, ids| {
            let one = Matrix::new(q.len(), q.to_vec()).map_err(|e| e.to_string())?;
            let hits = exact.search(&one, k).map_err(|e| e.to_string())?;
            ids.extend(hits[0].iter().map(|&(at, _)| labels[at as usize]));
            Ok(())
        })
        .map_err(Failure::Runtime)?;
        emit(&a, &point);
        points.push(point);
        last_ids = ids;
    } else if a.layout == Layout::Interleaved {
        let t = Instant::now();
        let copy = index
            .interleaved()
            .map_err(|e| Failure::Usage(e.to_string()))?;
        say(format!(
            "layout      interleaved copy of level 0: {:.1} MiB in {:.1} ms",
            copy.bytes() as f64 / (1 << 20) as f64,
            t.elapsed().as_secs_f64() * 1e3
        ));
        last_ids = sweep(&a, &copy, &queries, gt.as_ref(), &mut points)?;
    } else {
        last_ids = sweep(&a, index, &queries, gt.as_ref(), &mut points)?;
    }
    if !a.json {
        print_table(&points);
    }
    if let Some(path) = &a.output {
        // Queries with fewer than k live results are padded with
        // 0xFFFFFFFF (-1 as a signed id, the .ivecs convention).
        let flat: Vec<u32> = last_ids
            .iter()
            .flat_map(|ids| (0..k).map(move |i| ids.get(i).copied().unwrap_or(u32::MAX)))
            .collect();
        save_ids(path, &Neighbors::new(k, flat)?)?;
        say(format!("wrote       {}", path.display()));
    }
    Ok(())
}

/// One sweep point per ef over `index`, each after `a.warmup` untimed
/// queries; returns the ids of the last.
fn sweep<S: Search>(
    a: &SearchArgs,
    index: &S,
    queries: &Matrix,
    gt: Option<&Neighbors>,
    points: &mut Vec<SweepPoint>,
) -> Result<Vec<Vec<u32>>, Failure> {
    let mut last_ids = Vec::new();
    for &ef in &a.ef {
        let mut search = hnsw_search(index, a.k as usize, ef).map_err(Failure::Runtime)?;
        let mut ids = Vec::new();
        for q in queries.rows().take(a.warmup) {
            ids.clear();
            search(q, &mut ids).map_err(Failure::Runtime)?;
        }
        let (point, ids) = sweep_point(queries, a.k as usize, Some(ef), gt, &mut search)
            .map_err(Failure::Runtime)?;
        emit(a, &point);
        points.push(point);
        last_ids = ids;
    }
    Ok(last_ids)
}

fn emit(a: &SearchArgs, point: &SweepPoint) {
    if a.json {
        println!(
            "{}",
            serde_json::to_string(point).expect("a sweep point serialises")
        );
    }
}

fn load_ground_truth(path: &PathBuf, queries: &Matrix, k: usize) -> Result<Neighbors, Failure> {
    let gt = load_ids(path)?;
    if gt.len() != queries.len() {
        return Err(Failure::Usage(format!(
            "{}: {} ground-truth rows for {} queries",
            path.display(),
            gt.len(),
            queries.len()
        )));
    }
    if gt.k() < k {
        return Err(Failure::Usage(format!(
            "{}: ground truth has {} neighbours per query, recall@{k} needs {k}",
            path.display(),
            gt.k()
        )));
    }
    Ok(gt)
}
