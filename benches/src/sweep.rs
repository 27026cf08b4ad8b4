//! The measurements of an HNSW search sweep (`benches/search.rs`), made
//! exactly as `hektor search` makes them (server/src/cli/measure.rs), so
//! that the bench's numbers and the CLI's can be read side by side:
//! latencies are nearest-rank percentiles of per-query times, and recall@k
//! counts the ids found among the first `k` of the exact ground truth.

/// Nearest-rank percentile `p` (0..=100) of sorted samples: the smallest
/// sample at least `p`% of the samples are ≤ to; NaN for no samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The epsilon keeps 99.9% of 1000 at rank 999: in binary floating
    // point the product is a hair above it.
    let rank = (p / 100.0 * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

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
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 500.0);
        assert_eq!(percentile(&v, 99.0), 990.0);
        assert_eq!(percentile(&v, 100.0), 1000.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

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
