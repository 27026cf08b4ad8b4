//! Exact search against a naive f64 computation: the same neighbours
//! (where distances are not tied), the same distances within tolerance,
//! ties broken by the smaller id, on every metric and on both tiers.

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::Backend;
use hektor_kernels::Metric;
use hektor_runtime::dataset::{DatasetError, Matrix};
use hektor_runtime::tuning::ScheduleBook;
use hektor_runtime::{ExactError, ExactSearch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicUsize, Ordering};

fn random(n: usize, dim: usize, seed: u64, integers: bool) -> Matrix {
    let mut rng = StdRng::seed_from_u64(seed);
    let v = (0..n * dim)
        .map(|_| {
            if integers {
                rng.random_range(-3i32..=3) as f32
            } else {
                rng.random_range(-1.0f32..1.0)
            }
        })
        .collect();
    Matrix::new(dim, v).unwrap()
}

fn naive_distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    match metric {
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum(),
        Metric::Ip => 1.0 - dot,
        _ => {
            let na: f64 = a.iter().map(|&x| x as f64 * x as f64).sum();
            let nb: f64 = b.iter().map(|&x| x as f64 * x as f64).sum();
            if na < f32::MIN_POSITIVE as f64 || nb < f32::MIN_POSITIVE as f64 {
                1.0
            } else {
                1.0 - dot / (na.sqrt() * nb.sqrt())
            }
        }
    }
}

/// Every base row by (distance, id), nearest first.
fn naive(metric: Metric, base: &Matrix, q: &[f32]) -> Vec<(u32, f64)> {
    let mut all: Vec<(u32, f64)> = base
        .rows()
        .enumerate()
        .map(|(i, r)| (i as u32, naive_distance(metric, q, r)))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all
}

fn check(search: &ExactSearch, metric: Metric, base: &Matrix, queries: &Matrix, k: usize) {
    let got = search.search(queries, k).unwrap();
    assert_eq!(got.len(), queries.len());
    // f32 accumulation over `dim` terms of magnitude ≤ 1.
    let tol = 1e-5 * base.dim() as f64 + 1e-6;
    for (qi, (q, hits)) in queries.rows().zip(&got).enumerate() {
        let want = naive(metric, base, q);
        assert_eq!(hits.len(), k.min(base.len()), "query {qi}");
        for (rank, &(id, dist)) in hits.iter().enumerate() {
            let (want_id, want_dist) = want[rank];
            assert!(
                (dist as f64 - want_dist).abs() <= tol,
                "{metric} query {qi} rank {rank}: distance {dist}, naive {want_dist}"
            );
            // The id's own distance is the one reported.
            let own = naive_distance(metric, q, base.row(id as usize));
            assert!(
                (dist as f64 - own).abs() <= tol,
                "{metric} query {qi} id {id}"
            );
            // Where the naive distance is not tied (within tolerance) with
            // a neighbour in the ranking, the id must be the same.
            let isolated = (rank == 0 || want[rank - 1].1 < want_dist - 2.0 * tol)
                && want
                    .get(rank + 1)
                    .is_none_or(|n| n.1 > want_dist + 2.0 * tol);
            if isolated {
                assert_eq!(id, want_id, "{metric} query {qi} rank {rank}");
            }
        }
    }
}

fn backends() -> Vec<Box<dyn Backend>> {
    #[cfg_attr(not(feature = "llvm"), allow(unused_mut))]
    let mut v: Vec<Box<dyn Backend>> = vec![Box::new(CraneliftBackend::host().unwrap())];
    #[cfg(feature = "llvm")]
    v.push(Box::new(hektor_codegen::llvm::LlvmBackend::host().unwrap()));
    v
}

#[test]
fn matches_naive_search_on_random_data() {
    for backend in backends() {
        for dim in [1, 7, 33, 128] {
            let base = random(400, dim, dim as u64, false);
            let queries = random(25, dim, 1000 + dim as u64, false);
            for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
                let s = ExactSearch::with_backend(
                    metric,
                    &base,
                    3,
                    backend.as_ref(),
                    &ScheduleBook::defaults(),
                )
                .unwrap();
                check(&s, metric, &base, &queries, 10);
            }
        }
    }
}

#[test]
fn padded_schedules_and_tied_integer_data_match_exactly() {
    // Small integers: every l2 distance is exact in f32, so ranks must
    // match the naive order exactly, ties going to the smaller id.
    let base = random(500, 19, 5, true);
    let queries = random(30, 19, 6, true);
    let s = ExactSearch::new(Metric::L2, &base, 2).unwrap();
    let got = s.search(&queries, 50).unwrap();
    for (q, hits) in queries.rows().zip(&got) {
        let want = naive(Metric::L2, &base, q);
        let want: Vec<(u32, f32)> = want[..50].iter().map(|&(i, d)| (i, d as f32)).collect();
        assert_eq!(hits, &want);
    }
    // The row layout of a padded (tail=padded) schedule from a tuning
    // book is honoured too: compare with the default schedule's results.
    let dir = tempfile::tempdir().unwrap();
    let backend = CraneliftBackend::host().unwrap();
    let spec: hektor_kernels::KernelSpec = "l2.f32.d19.scan".parse().unwrap();
    let schedule: hektor_kernels::Schedule = "width=4,unroll=1,acc=2,prefetch=0,tail=padded"
        .parse()
        .unwrap();
    let trial = hektor_runtime::tuning::Trial {
        schedule,
        timing: hektor_runtime::timing::Timing {
            ns_per_distance: 1.0,
            working_set_bytes: 0,
        },
        compile: std::time::Duration::ZERO,
    };
    let path = dir.path().join("tuning.json");
    hektor_runtime::tuning::store(
        &path,
        hektor_runtime::tuning::entry_for(
            &spec,
            backend.kind(),
            hektor_runtime::timing::Residency::Cache,
            &trial,
        ),
    )
    .unwrap();
    let book = ScheduleBook::load(&path);
    let padded = ExactSearch::with_backend(Metric::L2, &base, 2, &backend, &book).unwrap();
    assert_eq!(padded.kernel().schedule().to_string(), schedule.to_string());
    assert_eq!(padded.kernel().row_len(), 20);
    assert_eq!(padded.search(&queries, 50).unwrap(), got);
}

#[test]
fn thread_count_does_not_change_results_and_progress_reaches_the_end() {
    let base = random(3000, 24, 9, false);
    let queries = random(97, 24, 10, false);
    let one = ExactSearch::new(Metric::Cosine, &base, 1).unwrap();
    let four = ExactSearch::new(Metric::Cosine, &base, 4).unwrap();
    let seen = AtomicUsize::new(0);
    let a = one.search(&queries, 7).unwrap();
    let b = four
        .search_with_progress(&queries, 7, &|done, total| {
            assert_eq!(total, 97);
            seen.fetch_max(done, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(seen.load(Ordering::Relaxed), 97);
}

#[test]
fn k_beyond_n_k_zero_and_mismatched_queries() {
    let base = random(5, 8, 1, false);
    let queries = random(3, 8, 2, false);
    let s = ExactSearch::new(Metric::Ip, &base, 2).unwrap();
    let hits = s.search(&queries, 10).unwrap();
    assert!(hits.iter().all(|h| h.len() == 5));
    // All five ids, each once.
    let mut ids: Vec<u32> = hits[0].iter().map(|h| h.0).collect();
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3, 4]);
    assert!(matches!(s.search(&queries, 0), Err(ExactError::ZeroK)));
    let other = random(2, 9, 3, false);
    let e = s.search(&other, 1).unwrap_err();
    assert!(
        matches!(
            e,
            ExactError::Dataset(DatasetError::DimMismatch {
                base: 8,
                queries: 9
            })
        ),
        "{e:?}"
    );
    // No queries: no results, no error.
    let none = Matrix::new(8, vec![]).unwrap();
    assert!(s.search(&none, 3).unwrap().is_empty());
    // An empty base is refused up front.
    assert!(matches!(
        ExactSearch::new(Metric::L2, &none, 1),
        Err(ExactError::EmptyBase)
    ));
}
