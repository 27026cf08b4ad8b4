//! Measuring searches as a server runs them: one query at a time on one
//! thread, each timed on its own, and the latency distribution reported
//! as it is (nearest-rank percentiles, the maximum included).

use hektor_runtime::dataset::{Matrix, Neighbors};
use hektor_runtime::index::{Neighbor, Search};
use hektor_runtime::stats::percentile;
use serde::Serialize;
use std::time::Instant;

/// One point of an ef sweep: the `--json` line of `hektor search`.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// `null` for exact search.
    pub ef: Option<usize>,
    pub k: usize,
    /// recall@k against the ground truth; `null` without one.
    pub recall: Option<f64>,
    pub qps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub queries: usize,
}

/// recall@k of `results` (one row of ids per query) against the first `k`
/// ids of each ground-truth row.
pub fn recall(results: &[Vec<u32>], gt: &Neighbors, k: usize) -> f64 {
    let mut hits = 0usize;
    for (row, got) in results.iter().enumerate() {
        let truth = &gt.row(row)[..k];
        hits += got.iter().filter(|id| truth.contains(id)).count();
    }
    hits as f64 / (results.len() * k).max(1) as f64
}

/// Runs every query through `search` once, timing each, and summarises.
/// Returns the point and the ids found per query.
pub fn sweep_point(
    queries: &Matrix,
    k: usize,
    ef: Option<usize>,
    gt: Option<&Neighbors>,
    mut search: impl FnMut(&[f32], &mut Vec<u32>) -> Result<(), String>,
) -> Result<(SweepPoint, Vec<Vec<u32>>), String> {
    let mut latencies = Vec::with_capacity(queries.len());
    let mut results = Vec::with_capacity(queries.len());
    let total = Instant::now();
    for q in queries.rows() {
        let mut ids = Vec::with_capacity(k);
        let t = Instant::now();
        search(q, &mut ids)?;
        latencies.push(t.elapsed().as_nanos() as f64 / 1e3);
        results.push(ids);
    }
    let secs = total.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let point = SweepPoint {
        ef,
        k,
        recall: gt.map(|g| recall(&results, g, k)),
        qps: queries.len() as f64 / secs,
        p50_us: percentile(&latencies, 50.0),
        p90_us: percentile(&latencies, 90.0),
        p99_us: percentile(&latencies, 99.0),
        p999_us: percentile(&latencies, 99.9),
        max_us: latencies.last().copied().unwrap_or(f64::NAN),
        queries: queries.len(),
    };
    Ok((point, results))
}

/// One search as `sweep_point` runs it: the query in, the ids found out.
pub trait SearchFn: FnMut(&[f32], &mut Vec<u32>) -> Result<(), String> {}
impl<F: FnMut(&[f32], &mut Vec<u32>) -> Result<(), String>> SearchFn for F {}

/// An HNSW search for `sweep_point`: ids only, through a reused scratch.
pub fn hnsw_search<S: Search>(
    index: &S,
    k: usize,
    ef: usize,
) -> Result<impl SearchFn + '_, String> {
    let mut scratch = index.scratch().map_err(|e| e.to_string())?;
    let mut found: Vec<Neighbor> = Vec::with_capacity(ef.max(k));
    Ok(move |q: &[f32], ids: &mut Vec<u32>| {
        index
            .search_into(q, k, ef, &mut scratch, &mut found)
            .map_err(|e| e.to_string())?;
        ids.extend(found.iter().map(|n| n.id));
        Ok(())
    })
}

/// The table `hektor search` and `hektor demo` print.
pub fn print_table(points: &[SweepPoint]) {
    println!(
        "{:>6} {:>4} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "ef", "k", "recall", "qps", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    for p in points {
        let ef = p.ef.map_or("exact".to_string(), |e| e.to_string());
        let recall = p.recall.map_or("-".to_string(), |r| format!("{r:.4}"));
        println!(
            "{ef:>6} {:>4} {recall:>9} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            p.k, p.qps, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us
        );
    }
}

/// Parses `--ef 16,32,64`.
pub fn ef_list(s: &str) -> Result<Vec<usize>, String> {
    let list: Result<Vec<usize>, String> = s
        .split(',')
        .map(|part| match part.trim().parse::<usize>() {
            Ok(n) if (1..=65_536).contains(&n) => Ok(n),
            _ => Err(format!("`{part}` is not an ef in 1..=65536")),
        })
        .collect();
    match list {
        Ok(l) if !l.is_empty() => Ok(l),
        Ok(_) => Err("--ef needs at least one value".into()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_overlap_with_the_first_k() {
        let gt = Neighbors::new(3, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let got = vec![vec![1, 9], vec![5, 4]];
        assert_eq!(recall(&got, &gt, 2), 0.75);
    }

    #[test]
    fn ef_lists() {
        assert_eq!(ef_list("16, 32,64").unwrap(), vec![16, 32, 64]);
        assert!(ef_list("0").is_err());
        assert!(ef_list("16,x").is_err());
        assert!(ef_list("").is_err());
    }
}
