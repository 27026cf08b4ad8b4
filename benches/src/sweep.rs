//! The measurements of an HNSW search sweep (`benches/search.rs`), made
//! exactly as `hektor search` makes them (server/src/cli/measure.rs), so
//! that the bench's numbers and the CLI's can be read side by side:
//! latencies are nearest-rank percentiles of per-query times, and recall@k
//! counts the ids found among the first `k` of the exact ground truth.

pub use hektor_runtime::stats::percentile;

/// How many of `found` are among `truth` (the first `k` exact ids of one
/// query). Duplicates in `found` count once each, as in `hektor search`;
/// neither engine returns duplicates.
pub fn hits(found: &[u32], truth: &[u32]) -> usize {
    found.iter().filter(|id| truth.contains(id)).count()
}

/// One engine at one ef: what the summary table shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub ef: usize,
    /// recall@k over all queries.
    pub recall: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Point {
    /// Summarises per-query latencies (µs, any order) and the total hits
    /// of `queries` searches for `k` neighbours each.
    pub fn new(
        ef: usize,
        mut latencies_us: Vec<f64>,
        hits: usize,
        queries: usize,
        k: usize,
    ) -> Self {
        latencies_us.sort_by(f64::total_cmp);
        Point {
            ef,
            recall: hits as f64 / (queries * k).max(1) as f64,
            p50_us: percentile(&latencies_us, 50.0),
            p99_us: percentile(&latencies_us, 99.0),
        }
    }
}

/// The point with the smallest ef whose recall reaches `target`, if any.
pub fn smallest_ef_reaching(points: &[Point], target: f64) -> Option<&Point> {
    points
        .iter()
        .filter(|p| p.recall >= target)
        .min_by_key(|p| p.ef)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_sort_latencies_and_count_recall() {
        let p = Point::new(32, vec![3.0, 1.0, 2.0, 4.0], 15, 2, 10);
        assert_eq!(p.p50_us, 2.0);
        assert_eq!(p.p99_us, 4.0);
        assert_eq!(p.recall, 0.75);
        assert_eq!(hits(&[1, 9, 2], &[1, 2, 3]), 2);
    }

    #[test]
    fn smallest_ef_reaching_a_recall() {
        let point = |ef, recall| Point {
            ef,
            recall,
            p50_us: 1.0,
            p99_us: 1.0,
        };
        let points = [point(64, 0.97), point(16, 0.9), point(32, 0.95)];
        assert_eq!(smallest_ef_reaching(&points, 0.95).map(|p| p.ef), Some(32));
        assert_eq!(smallest_ef_reaching(&points, 0.99), None);
    }
}
