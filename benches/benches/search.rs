//! Hektor's HNSW search against the `hnsw_rs` crate, in one process on the
//! same data with the same graph parameters.
//!
//! ```text
//! cargo bench -p hektor-benches --bench search      # or: cargo xtask bench --search
//! ```
//!
//! The data: one clustered data set (`hektor_runtime::dataset::gen`,
//! seed 1), n = 100,000 base vectors (`HEKTOR_SEARCH_N` changes it) of
//! dimension 128 and 1000 queries from the same distribution, l2 distance.
//! The exact top-10 of every query comes from Hektor's brute-force scan
//! (`ExactSearch`), and is what recall is computed against.
//!
//! Both indexes are built with M = 16 and ef_construction = 200 on 2
//! threads, and the build is timed (wall seconds):
//!
//! - `hektor`: `HnswIndex::build` with the kernels start-up serves
//!   (`default_backend()`: LLVM with the feature `llvm`, on by default,
//!   else Cranelift) and the default schedules (`ScheduleBook::defaults()`,
//!   not this machine's tuning file, so that runs compare across machines).
//!   Kernel compilation is not part of the build time.
//! - `hnsw_rs`: `Hnsw::<f32, DistL2>` (max_layer 16) filled by
//!   `parallel_insert_slice` (ids = row index) inside a 2-thread rayon pool.
//!   Its feature `simdeez_f` is on: the crate's documented x86_64 SIMD
//!   distance; without it `DistL2` is a scalar loop. Its `DistL2` is the
//!   true Euclidean distance (a square root of Hektor's squared l2), which
//!   ranks neighbours identically.
//!
//! Both use M the same way: M links per node above level 0 and 2·M at level
//! 0 (Hektor: `Graph::m0 = 2·m`; hnsw_rs: `nb_conn = 2 * max_nb_connection`
//! at layer 0 in `insert_slice` and in its reverse updates), with levels
//! drawn with scale 1/ln(M) in both.
//!
//! Before criterion runs, every (engine, ef) for ef in 16, 32, 64, 128 and
//! 256 is measured as `hektor search` measures it: one pass over the 1000 queries untimed (warm-up), then one
//! pass timing each query on its own on one thread, k = 10. The summary
//! (recall@10, nearest-rank p50/p99, build seconds, and Hektor/hnsw_rs
//! latency ratios at each ef and at each engine's smallest ef reaching
//! recall@10 ≥ 0.95) is printed and, in a timing run, written to
//! `target/bench-search-summary.{md,json}`.
//!
//! Criterion groups are `search/hektor` and `search/hnsw_rs` with functions
//! `ef16`, `ef32`, `ef64` and `ef128`: each iteration searches the next
//! query (cycling through the 1000) for its 10 nearest ids. Both engines go
//! through the same `Searcher` trait, so each pays the same call and the
//! same copy of 10 ids into a reused `Vec`.
//!
//! Under `cargo test --all-targets` and `--list` the data set is 2,000 × 128
//! with 100 queries, no summary file is written, and the run fails if either
//! engine's recall@10 at ef 256 is below 0.9: that catches ids mapped wrongly
//! between an engine and the ground truth.

use criterion::{criterion_group, criterion_main, Criterion};
use hektor_benches::sweep::{hits, smallest_ef_reaching, Point};
use hektor_benches::{json_string, mode, Mode};
use hektor_kernels::Metric;
use hektor_runtime::dataset::gen::{generate, GenSpec, Kind};
use hektor_runtime::dataset::{Matrix, Neighbors};
use hektor_runtime::exact::default_backend;
use hektor_runtime::index::{HnswIndex, IndexKernels, IndexParams, Neighbor, Scratch};
use hektor_runtime::{ExactSearch, ScheduleBook};
use hnsw_rs::prelude::{DistL2, Hnsw};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const DIM: usize = 128;
const METRIC: Metric = Metric::L2;
const BENCH_N: usize = 100_000;
const BENCH_QUERIES: usize = 1000;
/// The data set under `cargo test` and `--list`: big enough for a real
/// graph, small enough to build in seconds in the test profile.
const TEST_N: usize = 2_000;
const TEST_QUERIES: usize = 100;
const SEED: u64 = 1;
const K: usize = 10;
const M: usize = 16;
const EF_CONSTRUCTION: usize = 200;
const BUILD_THREADS: usize = 2;
/// The ef of the criterion groups.
const EFS: [usize; 4] = [16, 32, 64, 128];
/// The ef of the summary sweep: `EFS` and 256, since hnsw_rs's recall on
/// this data runs below Hektor's at equal ef and may not reach
/// `TARGET_RECALL` by 128 (its parallel build differs from run to run).
const SWEEP_EFS: [usize; 5] = [16, 32, 64, 128, 256];
/// hnsw_rs's cap on levels (it allows at most 16). With 1/ln(16) scaling,
/// 100,000 nodes reach about level 4, so the cap never binds.
const HNSW_RS_MAX_LAYER: usize = 16;
/// The recall at which the two engines' latencies are compared.
const TARGET_RECALL: f64 = 0.95;
/// The least recall@10 at the largest ef a test run accepts.
const TEST_MIN_RECALL: f64 = 0.9;

/// One engine's search as a server calls it: one query, the ids of its `K`
/// nearest (nearest first) left in `ids`.
trait Searcher {
    fn search(&mut self, query: &[f32], ef: usize, ids: &mut Vec<u32>);
}

struct HektorSearcher<'a> {
    index: &'a HnswIndex,
    scratch: Scratch,
    found: Vec<Neighbor>,
}

impl Searcher for HektorSearcher<'_> {
    #[inline]
    fn search(&mut self, query: &[f32], ef: usize, ids: &mut Vec<u32>) {
        self.index
            .search_into(query, K, ef, &mut self.scratch, &mut self.found)
            .unwrap_or_else(|e| panic!("hektor search failed: {e}"));
        ids.clear();
        ids.extend(self.found.iter().map(|n| n.id));
    }
}

struct HnswRsSearcher<'a, 'b> {
    hnsw: &'a Hnsw<'b, f32, DistL2>,
}

impl Searcher for HnswRsSearcher<'_, '_> {
    #[inline]
    fn search(&mut self, query: &[f32], ef: usize, ids: &mut Vec<u32>) {
        // hnsw_rs allocates its result; that is part of what its users pay.
        let found = self.hnsw.search(query, K, ef);
        ids.clear();
        // Row ids were inserted as `usize` from `u32`-sized row indices.
        ids.extend(found.iter().map(|n| n.d_id as u32));
    }
}

/// An engine under test: its build time, its searcher, and its sweep.
struct Engine<'a> {
    name: &'static str,
    build_secs: f64,
    /// What it computes distances with, for the summary.
    distance: String,
    searcher: Box<dyn Searcher + 'a>,
    points: Vec<Point>,
}

/// Base vectors and queries for this mode.
fn sizes(mode: Mode) -> (usize, usize) {
    if mode != Mode::Bench {
        return (TEST_N, TEST_QUERIES);
    }
    let n = match std::env::var("HEKTOR_SEARCH_N") {
        Ok(v) => match v.trim().parse::<usize>() {
            // More rows than queries keeps the data set a search problem.
            Ok(n) if n >= K && n <= u32::MAX as usize => n,
            _ => panic!("HEKTOR_SEARCH_N must be a whole number of base vectors ≥ {K}, not {v:?}"),
        },
        Err(_) => BENCH_N,
    };
    (n, BENCH_QUERIES)
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages, as the VM is shared and
/// its load moves latencies.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The sweep point of `searcher` at `ef`: one untimed pass over the
/// queries (so neither engine is measured on cold caches or cold branch
/// predictors), then one pass timing each query on its own.
fn measure(searcher: &mut dyn Searcher, queries: &Matrix, gt: &Neighbors, ef: usize) -> Point {
    let mut ids = Vec::with_capacity(K);
    for q in queries.rows() {
        searcher.search(q, ef, &mut ids);
        black_box(&ids);
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let mut found = 0usize;
    for (row, q) in queries.rows().enumerate() {
        let t = Instant::now();
        searcher.search(q, ef, &mut ids);
        latencies.push(t.elapsed().as_nanos() as f64 / 1e3);
        found += hits(&ids, &gt.row(row)[..K]);
    }
    Point::new(ef, latencies, found, queries.len(), K)
}

/// The Hektor/hnsw_rs ratio `a / b` as the summary prints it.
fn ratio(a: f64, b: f64) -> f64 {
    a / b
}

/// What the summary is made of, apart from the engines.
struct RunInfo {
    n: usize,
    queries: usize,
    cpu: String,
    load_before: String,
    load_after: String,
    ground_truth: String,
}

/// The Markdown summary.
fn render_markdown(info: &RunInfo, engines: &[Engine]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## HNSW search: Hektor against hnsw_rs\n\n\
         Clustered data (seed {SEED}): n = {} base vectors, dim {DIM}, {} queries, {METRIC}, k = {K}; \
         exact top-{K} by {}. Both indexes: M = {M} (2·M = {} links at level 0), \
         ef_construction = {EF_CONSTRUCTION}, built on {BUILD_THREADS} threads. Search: one query \
         at a time on one thread, each query timed, after one untimed pass over the queries; \
         p50/p99 are nearest-rank over all {} queries.\n",
        info.n,
        info.queries,
        info.ground_truth,
        2 * M,
        info.queries
    );
    let _ = writeln!(s, "CPU: {}  ", info.cpu);
    let _ = writeln!(
        s,
        "Load average (1/5/15 min): {} before the builds, {} after the sweep.  ",
        info.load_before, info.load_after
    );
    for e in engines {
        let _ = writeln!(s, "{} distance: {}  ", e.name, e.distance);
    }
    let _ = writeln!(
        s,
        "\n| engine | ef | recall@{K} | p50 µs | p99 µs | build s |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for e in engines {
        for p in &e.points {
            let _ = writeln!(
                s,
                "| {} | {} | {:.4} | {:.1} | {:.1} | {:.2} |",
                e.name, p.ef, p.recall, p.p50_us, p.p99_us, e.build_secs
            );
        }
    }
    let [hektor, peer] = engines else {
        return s;
    };
    let _ = writeln!(
        s,
        "\nHektor/{0} (below 1: Hektor is faster), same ef:\n\n\
         | ef | recall hektor | recall {0} | p50 ratio | p99 ratio |\n| ---: | ---: | ---: | ---: | ---: |",
        peer.name
    );
    for (h, p) in hektor.points.iter().zip(&peer.points) {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {:.4} | {:.2} | {:.2} |",
            h.ef,
            h.recall,
            p.recall,
            ratio(h.p50_us, p.p50_us),
            ratio(h.p99_us, p.p99_us)
        );
    }
    let at = |e: &Engine| smallest_ef_reaching(&e.points, TARGET_RECALL).cloned();
    let describe = |e: &Engine, p: &Option<Point>| match p {
        Some(p) => format!(
            "{} ef {} (recall {:.4}, p50 {:.1} µs, p99 {:.1} µs)",
            e.name, p.ef, p.recall, p.p50_us, p.p99_us
        ),
        None => format!(
            "{} does not reach it at ef ≤ {}",
            e.name,
            SWEEP_EFS[SWEEP_EFS.len() - 1]
        ),
    };
    let (h, p) = (at(hektor), at(peer));
    let _ = writeln!(
        s,
        "\nAt the smallest ef reaching recall@{K} ≥ {TARGET_RECALL}: {}; {}.",
        describe(hektor, &h),
        describe(peer, &p)
    );
    if let (Some(h), Some(p)) = (&h, &p) {
        let _ = writeln!(
            s,
            "Hektor/{}: p50 {:.2}, p99 {:.2}; build {:.2}.",
            peer.name,
            ratio(h.p50_us, p.p50_us),
            ratio(h.p99_us, p.p99_us),
            ratio(hektor.build_secs, peer.build_secs)
        );
    } else {
        let _ = writeln!(
            s,
            "No latency ratio at that recall; build Hektor/{}: {:.2}.",
            peer.name,
            ratio(hektor.build_secs, peer.build_secs)
        );
    }
    s
}

/// A finite number as JSON (`null` otherwise: JSON has no NaN).
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

fn render_json(info: &RunInfo, engines: &[Engine]) -> String {
    let point = |p: &Point| {
        format!(
            "{{\"ef\": {}, \"recall\": {}, \"p50_us\": {}, \"p99_us\": {}}}",
            p.ef,
            num(p.recall),
            num(p.p50_us),
            num(p.p99_us)
        )
    };
    let engine_json: Vec<String> = engines
        .iter()
        .map(|e| {
            let points: Vec<String> = e.points.iter().map(point).collect();
            let at = smallest_ef_reaching(&e.points, TARGET_RECALL).map_or("null".into(), point);
            format!(
                "    {{\"name\": {}, \"distance\": {}, \"build_s\": {}, \"points\": [\n      {}\n    ], \
                 \"at_target_recall\": {at}}}",
                json_string(e.name),
                json_string(&e.distance),
                num(e.build_secs),
                points.join(",\n      ")
            )
        })
        .collect();
    let mut ratios = Vec::new();
    let mut at_target = "null".to_string();
    if let [hektor, peer] = engines {
        for (h, p) in hektor.points.iter().zip(&peer.points) {
            ratios.push(format!(
                "{{\"ef\": {}, \"p50\": {}, \"p99\": {}}}",
                h.ef,
                num(ratio(h.p50_us, p.p50_us)),
                num(ratio(h.p99_us, p.p99_us))
            ));
        }
        if let (Some(h), Some(p)) = (
            smallest_ef_reaching(&hektor.points, TARGET_RECALL),
            smallest_ef_reaching(&peer.points, TARGET_RECALL),
        ) {
            at_target = format!(
                "{{\"hektor_ef\": {}, \"peer_ef\": {}, \"p50\": {}, \"p99\": {}}}",
                h.ef,
                p.ef,
                num(ratio(h.p50_us, p.p50_us)),
                num(ratio(h.p99_us, p.p99_us))
            );
        }
    }
    format!(
        "{{\n  \"n\": {}, \"dim\": {DIM}, \"queries\": {}, \"metric\": {}, \"k\": {K}, \"seed\": {SEED},\n  \
         \"m\": {M}, \"ef_construction\": {EF_CONSTRUCTION}, \"build_threads\": {BUILD_THREADS},\n  \
         \"cpu\": {}, \"load_average_before\": {}, \"load_average_after\": {},\n  \
         \"ground_truth\": {},\n  \"target_recall\": {TARGET_RECALL},\n  \"engines\": [\n{}\n  ],\n  \
         \"hektor_over_hnsw_rs\": {{\"same_ef\": [{}], \"at_target_recall\": {at_target}, \"build\": {}}}\n}}\n",
        info.n,
        info.queries,
        json_string(&METRIC.to_string()),
        json_string(&info.cpu),
        json_string(&info.load_before),
        json_string(&info.load_after),
        json_string(&info.ground_truth),
        engine_json.join(",\n"),
        ratios.join(", "),
        match engines {
            [h, p] => num(ratio(h.build_secs, p.build_secs)),
            _ => "null".into(),
        }
    )
}

fn search(c: &mut Criterion) {
    let mode = mode();
    let quiet = mode == Mode::List;
    let say = |s: &str| {
        if !quiet {
            println!("{s}");
        }
    };
    let (n, nq) = sizes(mode);
    let load_before = load_average();

    let t = Instant::now();
    let data = generate(&GenSpec {
        kind: Kind::Clustered,
        n,
        dim: DIM,
        queries: nq,
        seed: SEED,
        // Untimed set-up: every core.
        threads: 0,
    })
    .unwrap_or_else(|e| panic!("generating the data set failed: {e}"));
    let exact = ExactSearch::new(METRIC, &data.base, 0)
        .unwrap_or_else(|e| panic!("setting up exact search failed: {e}"));
    let ground_truth = format!("{} on {}", exact.kernel().spec(), exact.kernel().backend());
    let hits_exact = exact
        .search(&data.queries, K)
        .unwrap_or_else(|e| panic!("exact search failed: {e}"));
    let gt = Neighbors::from_results(&hits_exact)
        .unwrap_or_else(|e| panic!("ground truth is malformed: {e}"));
    drop(exact);
    say(&format!(
        "search bench: {n} clustered vectors, dim {DIM}, {nq} queries, {METRIC}, k = {K}; \
         data and exact top-{K} in {:.1} s (load average {load_before})",
        t.elapsed().as_secs_f64()
    ));

    let backend = default_backend().unwrap_or_else(|e| panic!("no kernel backend: {e}"));
    let kernels = IndexKernels::compile(METRIC, DIM, backend.as_ref(), &ScheduleBook::defaults())
        .unwrap_or_else(|e| panic!("compiling the index kernels failed: {e}"));
    let hektor_distance = kernels
        .prepared
        .iter()
        .map(|p| format!("{} on {}", p.kernel.spec(), p.kernel.backend()))
        .collect::<Vec<_>>()
        .join(", ");
    let params = IndexParams {
        m: M,
        ef_construction: EF_CONSTRUCTION,
        max_elements: n,
        seed: SEED,
        ..IndexParams::new(METRIC, DIM)
    };
    let t = Instant::now();
    let index = HnswIndex::build(
        params,
        kernels,
        data.base.as_slice(),
        BUILD_THREADS,
        &|_, _| {},
    )
    .unwrap_or_else(|e| panic!("building Hektor's index failed: {e}"));
    let hektor_build = t.elapsed().as_secs_f64();
    say(&format!("hektor  built in {hektor_build:.2} s"));

    // hnsw_rs inserts on rayon's current pool: a pool of its own pins it
    // to the same thread count as Hektor's build.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(BUILD_THREADS)
        .build()
        .unwrap_or_else(|e| panic!("starting a rayon pool failed: {e}"));
    let rows: Vec<(&[f32], usize)> = data.base.rows().enumerate().map(|(i, r)| (r, i)).collect();
    let t = Instant::now();
    let mut hnsw = Hnsw::<f32, DistL2>::new(M, n, HNSW_RS_MAX_LAYER, EF_CONSTRUCTION, DistL2 {});
    pool.install(|| hnsw.parallel_insert_slice(&rows));
    let hnsw_rs_build = t.elapsed().as_secs_f64();
    drop(pool);
    drop(rows);
    // hnsw_rs's documented switch from inserting to searching.
    hnsw.set_searching_mode(true);
    assert_eq!(hnsw.get_nb_point(), n, "hnsw_rs lost points");
    say(&format!("hnsw_rs built in {hnsw_rs_build:.2} s"));
    #[cfg(target_arch = "x86_64")]
    let hnsw_rs_distance = if std::arch::is_x86_feature_detected!("avx2") {
        "DistL2 (√ of the squared sum), simdeez AVX2"
    } else {
        "DistL2 (√ of the squared sum), scalar: no AVX2"
    };
    #[cfg(not(target_arch = "x86_64"))]
    let hnsw_rs_distance = "DistL2 (√ of the squared sum)";

    let mut engines = [
        Engine {
            name: "hektor",
            build_secs: hektor_build,
            distance: hektor_distance,
            searcher: Box::new(HektorSearcher {
                index: &index,
                scratch: index.scratch().expect("search scratch memory"),
                found: Vec::with_capacity(SWEEP_EFS[SWEEP_EFS.len() - 1]),
            }),
            points: Vec::new(),
        },
        Engine {
            name: "hnsw_rs",
            build_secs: hnsw_rs_build,
            distance: hnsw_rs_distance.to_string(),
            searcher: Box::new(HnswRsSearcher { hnsw: &hnsw }),
            points: Vec::new(),
        },
    ];

    // ef by ef, both engines back to back, so a burst of load on the
    // shared machine lands on both rather than on one engine's whole sweep.
    for &ef in &SWEEP_EFS {
        for e in engines.iter_mut() {
            let point = measure(e.searcher.as_mut(), &data.queries, &gt, ef);
            e.points.push(point);
        }
    }
    let info = RunInfo {
        n,
        queries: nq,
        cpu: hektor_codegen::host::cpu_model(),
        load_before,
        load_after: load_average(),
        ground_truth,
    };
    let markdown = render_markdown(&info, &engines);
    say(&markdown);

    if mode == Mode::Bench {
        let dir = hektor_benches::target_dir();
        let write = |name: &str, contents: &str| {
            let path = dir.join(name);
            let written =
                std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, contents));
            match written {
                Ok(()) => say(&format!("wrote {}", path.display())),
                Err(e) => eprintln!("warning: could not write {}: {e}", path.display()),
            }
        };
        write("bench-search-summary.md", &markdown);
        write("bench-search-summary.json", &render_json(&info, &engines));
    } else {
        for e in &engines {
            let last = e.points.last().expect("the sweep has points");
            assert!(
                last.recall >= TEST_MIN_RECALL,
                "{} recall@{K} at ef {} is {:.4} < {TEST_MIN_RECALL} on {n} points: \
                 ids or ground truth are mixed up",
                e.name,
                last.ef,
                last.recall
            );
        }
        say("(not a timing run: no summary file written)");
    }

    for e in engines.iter_mut() {
        let mut g = c.benchmark_group(format!("search/{}", e.name));
        for &ef in &EFS {
            let mut next = 0usize;
            let mut ids = Vec::with_capacity(K);
            g.bench_function(format!("ef{ef}"), |b| {
                b.iter(|| {
                    let q = data.queries.row(next);
                    next = (next + 1) % nq;
                    e.searcher.search(black_box(q), ef, &mut ids);
                    black_box(&ids);
                })
            });
        }
        g.finish();
    }
}

fn config() -> Criterion {
    // A search takes tens to hundreds of µs: 3 s gives thousands of
    // iterations per sample set, several passes over the 1000 queries.
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = search
}
criterion_main!(benches);
