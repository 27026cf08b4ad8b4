//! Hektor's JIT-compiled distance kernels against their peers, in one
//! process on the same data.
//!
//! Groups are named `{shape}/{metric}/d{dim}` (e.g. `pair/l2/d768`) and
//! functions after the implementation, which is what `cargo xtask bench`
//! pivots on:
//!
//! - `cranelift`: Hektor's kernel for the spec, compiled by the Cranelift
//!   backend with the schedule the runtime serves it with
//!   (`hektor_runtime::default_schedule`), and called through the safe
//!   `Kernel::{pair, gather, scan}` (argument checks included);
//! - `llvm` (feature `llvm`, on by default): the same, compiled by the LLVM
//!   backend for this host's CPU (`LlvmBackend::host()`) with the runtime's
//!   default schedule for it (the host's widest vectors);
//! - `llvm_tuned`: the LLVM kernel with the schedule this machine's tuning
//!   file gives it (`hektor tune`), only for the specs it tunes to
//!   something other than the default;
//! - `avx2`: hand-written `std::arch` AVX2+FMA kernels
//!   (`hektor_benches::avx2`), skipped when the CPU lacks AVX2 or FMA;
//! - `simsimd`: the simsimd crate, one call per distance (per row for
//!   gather and scan);
//! - `scalar`: a plain f32 loop;
//! - `oracle_f64`: Hektor's f64 reference, for `pair` only.
//!
//! Every implementation is checked against the oracle on the benchmark data
//! before it is timed.
//!
//! Every group sets `Throughput::Elements(n)`, n = distances one iteration
//! computes (1 for pair, the row count for gather and scan), so criterion's
//! time divided by n is the time per distance.
//!
//! Working sets (f32 = 4 bytes, printed at start-up):
//! - pair: a pool of vector pairs, as many as fit in 24 KiB (at most 16,
//!   at least 1), cycled through so that the inputs stay L1-resident (d96:
//!   16 pairs in 12 KiB; d768: 4 pairs in 24 KiB; d1536: 2 pairs in 24 KiB),
//!   visited in a shuffled order (`pair_loop`);
//! - gather: 64 distinct random ids into a 4096-row matrix with stride =
//!   dim (the matrix: 1.5 MiB at d96 to 24 MiB at d1536). The same 64 rows
//!   are read every iteration, so after warm-up they sit in L2 (64·dim·4 B:
//!   24 KiB at d96, 192 KiB at d768, 384 KiB at d1536);
//! - scan: the first 256 rows of that matrix, 256·dim·4 B: 96 KiB at d96,
//!   768 KiB at d768, 1.5 MiB at d1536 (L2 on recent server cores, else L3).
//!
//! `llvm_checked` (pair groups): the LLVM kernel through the safe
//! `Kernel::pair_checked`, on rows checked once by `Kernel::check_row`:
//! the safe API for callers that reuse their rows, whose per-call check is
//! a compare of the rows' layout with the kernel's.
//!
//! `llvm_kernel` (pair groups): the LLVM kernel called as an index calls
//! it (`pair_unchecked`, the rows checked once beforehand). Each of its
//! samples is also turned into cycles per call at a clock measured right
//! after it (`record_cycles`, `target/bench-kernel-cycles.jsonl`).
//! Every pair row, Hektor's and its peers', runs in one loop (`pair_loop`).
//!
//! Integer kernels have groups of their own, `pair.i8/{l2,ip,cosine}/d768`
//! and `pair.bit/hamming/d{256,1024}` (`integer_kernels` below): Hektor's
//! tiers on quantized rows (codes + metadata) and bit words, against
//! simsimd's `i8` `l2sq`/`dot`/`cos` on the same codes and its `b8`
//! Hamming on the same bits (as bytes). simsimd's i8 functions see only
//! the codes (no scale or offset), so the comparison is of the hot loop
//! plus each side's epilogue.
//!
//! Defaults (20 samples, 300 ms warm-up, 1 s measurement) keep the whole
//! run to a few minutes; criterion's command-line options override them.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use hektor_benches::{check_close, data, mode, scalar, Avx2Kernels, Mode, Peers};
use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::host::{self, HostFeatures};
use hektor_codegen::{compile, Backend, CompileOptions, Kernel};
use hektor_kernels::{reference, ElementType, KernelSpec, Metric, Shape};
use hektor_runtime::aligned::AlignedBuf;
use hektor_runtime::default_schedule;
use hektor_runtime::timing::visiting_order;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const DIMS: [usize; 6] = [96, 128, 384, 768, 1024, 1536];
/// Rows of the matrix `gather` picks from (and `scan` reads the start of).
const MATRIX_ROWS: usize = 4096;
/// Row ids per `gather` call: a typical HNSW neighbour list.
const GATHER_IDS: usize = 64;
/// Consecutive rows per `scan` call.
const SCAN_ROWS: usize = 256;
/// The pair pool's budget: inside any L1 data cache (32 KiB and up).
const PAIR_POOL_BYTES: usize = 24 * 1024;
const MAX_PAIRS: usize = 16;
/// Every implementation must agree with the oracle this closely on the
/// benchmark data before it is timed (a sanity check, not a verifier).
const SANITY_TOLERANCE: f64 = 1e-4;

const F32: usize = std::mem::size_of::<f32>();

fn pairs_in_pool(dim: usize) -> usize {
    (PAIR_POOL_BYTES / (2 * dim * F32)).clamp(1, MAX_PAIRS)
}

type KernelKey = (Shape, Metric, usize);

/// One of Hektor's code generators and every kernel it compiled for the
/// benchmarks; its name is the function id in every group.
struct Tier {
    name: &'static str,
    kernels: BTreeMap<KernelKey, Kernel>,
}

impl Tier {
    fn kernel(&self, shape: Shape, metric: Metric, dim: usize) -> &Kernel {
        &self.kernels[&(shape, metric, dim)]
    }

    /// Whether this tier has the kernel (`llvm_tuned` has only the specs
    /// the tuning file tunes).
    fn has(&self, shape: Shape, metric: Metric, dim: usize) -> bool {
        self.kernels.contains_key(&(shape, metric, dim))
    }

    /// The pair kernel, called through the safe `Kernel::pair`.
    fn pair(&self, metric: Metric, dim: usize) -> impl Fn(&[f32], &[f32]) -> f32 + '_ {
        let kernel = self.kernel(Shape::Pair, metric, dim);
        move |x, y| {
            kernel
                .pair(x, y)
                .unwrap_or_else(|e| panic!("{} pair call: {e}", self.name))
        }
    }

    /// The gather kernel, called through the safe `Kernel::gather`.
    fn gather(
        &self,
        metric: Metric,
        dim: usize,
    ) -> impl Fn(&[f32], &[f32], usize, &[u32], &mut [f32]) + '_ {
        let kernel = self.kernel(Shape::Gather, metric, dim);
        move |q, base, stride, ids, out| {
            kernel
                .gather(q, base, stride, ids, out)
                .unwrap_or_else(|e| panic!("{} gather call: {e}", self.name))
        }
    }

    /// The scan kernel, called through the safe `Kernel::scan`.
    fn scan(
        &self,
        metric: Metric,
        dim: usize,
    ) -> impl Fn(&[f32], &[f32], usize, usize, &mut [f32]) + '_ {
        let kernel = self.kernel(Shape::Scan, metric, dim);
        move |q, base, stride, count, out| {
            kernel
                .scan(q, base, stride, count, out)
                .unwrap_or_else(|e| panic!("{} scan call: {e}", self.name))
        }
    }
}

struct Setup {
    /// Cranelift, then LLVM (with the `llvm` feature), then `llvm_tuned`
    /// when this machine's tuning file has LLVM schedules for benchmarked
    /// specs (`hektor tune`).
    tiers: Vec<Tier>,
    peers: Peers,
}

impl Setup {
    /// The tiers that have a kernel for (shape, metric, dim).
    fn tiers_with(&self, shape: Shape, metric: Metric, dim: usize) -> impl Iterator<Item = &Tier> {
        self.tiers.iter().filter(move |t| t.has(shape, metric, dim))
    }
}

/// Hektor's backends for this host, in column order.
fn backends() -> Vec<Box<dyn Backend>> {
    let cranelift = CraneliftBackend::host()
        .unwrap_or_else(|e| panic!("Cranelift cannot target this host: {e}"));
    #[cfg(feature = "llvm")]
    let llvm = hektor_codegen::llvm::LlvmBackend::host()
        .unwrap_or_else(|e| panic!("LLVM cannot target this host: {e}"));
    vec![
        Box::new(cranelift),
        #[cfg(feature = "llvm")]
        Box::new(llvm),
    ]
}

/// Every benchmark kernel's spec, in compile order: each metric in each
/// shape, and cosine with stored norms (what an index serves cosine with)
/// for `pair` and `gather`.
fn specs() -> Vec<KernelSpec> {
    let mut specs = Vec::new();
    let spec = |metric, dim, shape| {
        KernelSpec::new(metric, ElementType::F32, dim, shape)
            .expect("benchmark dimensions are valid")
    };
    for &dim in &DIMS {
        for metric in Metric::ALL {
            for shape in Shape::ALL {
                specs.push(spec(metric, dim, shape));
            }
        }
        for shape in [Shape::Pair, Shape::Gather] {
            specs.push(spec(Metric::CosineNorms, dim, shape));
        }
    }
    specs
}

/// The schedules `backend` gets from the runtime, per metric (one line).
fn schedules(backend: &dyn Backend, specs: &[KernelSpec]) -> String {
    Metric::ALL
        .iter()
        .map(|&metric| {
            let distinct: BTreeSet<String> = specs
                .iter()
                .filter(|s| s.metric == metric)
                .map(|s| default_schedule(s, backend).to_string())
                .collect();
            let list: Vec<String> = distinct.into_iter().collect();
            format!("{metric}: {}", list.join(" | "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Prints the machine and the peers, compiles every kernel on every backend
/// (printing and saving the compile times) and describes the working sets.
fn setup(mode: Mode) -> Setup {
    let quiet = mode == Mode::List;
    let say = |s: &str| {
        if !quiet {
            println!("{s}");
        }
    };
    let features = HostFeatures::detect();
    let peers = Peers::detect();
    let backends = backends();
    let specs = specs();
    say(&format!("CPU: {}", host::cpu_model()));
    say(&format!("host features: {features}"));
    say(&format!("ISA level: {}", features.isa_level()));
    for backend in &backends {
        let name = backend.kind().name();
        say(&format!("{name} target: {}", backend.target_description()));
        say(&format!(
            "{name} schedule (runtime default): {}",
            schedules(backend.as_ref(), &specs)
        ));
    }
    say(&format!(
        "simsimd capabilities: {}",
        Peers::simsimd_capabilities()
    ));
    say(&format!(
        "simsimd f32 kernels: {}",
        Peers::simsimd_f32_kernel()
    ));
    say(&match peers.avx2 {
        Some(_) => "avx2: hand-written AVX2+FMA kernels enabled".to_string(),
        None => "avx2: SKIPPED, this CPU lacks AVX2 or FMA".to_string(),
    });

    let mut tiers = Vec::new();
    let mut table = String::from(
        "\nCompile times (µs; total = passes + lowering + codegen, codegen being the \
         backend proper; verify is extra)\n",
    );
    let _ = writeln!(
        table,
        "{:<10} {:<24} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}  schedule",
        "backend", "spec", "total", "passes", "lowering", "codegen", "verify", "bytes"
    );
    let mut json_rows = Vec::new();
    let mut totals_lines = Vec::new();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    for backend in &backends {
        let name = backend.kind().name();
        let mut kernels = BTreeMap::new();
        for spec in &specs {
            let schedule = default_schedule(spec, backend.as_ref());
            let kernel = compile(spec, &schedule, backend.as_ref(), CompileOptions::default())
                .unwrap_or_else(|e| panic!("compiling {spec} with {name} ({schedule}): {e}"))
                .kernel;
            let s = *kernel.stats();
            let _ = writeln!(
                table,
                "{:<10} {:<24} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>7}  {schedule}",
                name,
                spec.to_string(),
                us(s.total),
                us(s.passes),
                us(s.lowering),
                us(s.backend),
                us(s.verify),
                s.code_bytes
            );
            json_rows.push(format!(
                "    {{\"backend\": \"{name}\", \"spec\": {}, \"shape\": \"{}\", \
                 \"metric\": \"{}\", \"dim\": {}, \"schedule\": {}, \"total_us\": {:.3}, \
                 \"passes_us\": {:.3}, \"lowering_us\": {:.3}, \"backend_us\": {:.3}, \
                 \"verify_us\": {:.3}, \"code_bytes\": {}}}",
                hektor_benches::json_string(&spec.to_string()),
                spec.shape,
                spec.metric,
                spec.dim,
                hektor_benches::json_string(&schedule.to_string()),
                us(s.total),
                us(s.passes),
                us(s.lowering),
                us(s.backend),
                us(s.verify),
                s.code_bytes
            ));
            kernels.insert((spec.shape, spec.metric, spec.dim), kernel);
        }
        let totals: Vec<f64> = kernels.values().map(|k| us(k.stats().total)).collect();
        totals_lines.push(format!(
            "{name}: {} kernels, total compile time {:.1} µs (median {:.1} µs, max {:.1} µs)",
            totals.len(),
            totals.iter().sum::<f64>(),
            median(&totals),
            totals.iter().cloned().fold(0.0, f64::max)
        ));
        tiers.push(Tier { name, kernels });
    }
    for line in totals_lines {
        let _ = writeln!(table, "{line}");
    }
    say(&table);
    if let Some(tuned) = tuned_tier(&backends, &specs, &say) {
        tiers.push(tuned);
    }

    if mode == Mode::Bench {
        // The clock `cargo xtask bench` turns pair times into a fraction
        // of the core's load bound with.
        let ghz = hektor_codegen::mca::measure_ghz();
        say(&format!("measured clock: {ghz:.2} GHz"));
        let path = hektor_benches::target_dir().join("bench-machine.json");
        let json = format!(
            "{{\"clock_ghz\": {ghz:.4}, \"cpu\": {}}}\n",
            hektor_benches::json_string(&host::cpu_model())
        );
        if let Err(e) = std::fs::write(&path, json) {
            eprintln!("warning: could not write {}: {e}", path.display());
        }
        // A fresh file for `llvm_kernel`'s per-sample cycles (`KernelCycles`).
        let path = cycles_path();
        if let Err(e) = std::fs::write(&path, "") {
            eprintln!("warning: could not write {}: {e}", path.display());
        }
    }
    let path = hektor_benches::target_dir().join("bench-compile-times.json");
    if mode == Mode::Bench {
        let targets: Vec<String> = backends
            .iter()
            .map(|b| {
                format!(
                    "\"{}\": {}",
                    b.kind().name(),
                    hektor_benches::json_string(&b.target_description())
                )
            })
            .collect();
        let json = format!(
            "{{\n  \"cpu\": {},\n  \"isa_level\": {},\n  \"targets\": {{{}}},\n  \
             \"kernels\": [\n{}\n  ]\n}}\n",
            hektor_benches::json_string(&host::cpu_model()),
            hektor_benches::json_string(features.isa_level()),
            targets.join(", "),
            json_rows.join(",\n")
        );
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, json));
        match written {
            Ok(()) => say(&format!("wrote {}", path.display())),
            Err(e) => eprintln!("warning: could not write {}: {e}", path.display()),
        }
    } else {
        say(&format!(
            "(not a timing run: {} left as it is)",
            path.display()
        ));
    }

    say("\nWorking sets per benchmark iteration (f32 = 4 B):");
    for &dim in &DIMS {
        let kib = |floats: usize| (floats * F32) as f64 / 1024.0;
        let pairs = pairs_in_pool(dim);
        say(&format!(
            "  d{dim:<5} pair: {pairs:>2} pairs cycled, {:>6.1} KiB | gather: {GATHER_IDS} of \
             {MATRIX_ROWS} rows, {:>6.1} KiB touched ({:>5.1} MiB matrix) | scan: {SCAN_ROWS} \
             rows, {:>6.1} KiB",
            kib(2 * pairs * dim),
            kib(GATHER_IDS * dim),
            kib(MATRIX_ROWS * dim) / 1024.0,
            kib(SCAN_ROWS * dim),
        ));
    }
    say("");
    Setup { tiers, peers }
}

/// `llvm_tuned`: the LLVM kernels of the specs whose schedule in this
/// machine's tuning file (`hektor tune`, `HEKTOR_TUNING_FILE`) differs
/// from the default; `None` when there are none.
fn tuned_tier(
    backends: &[Box<dyn Backend>],
    specs: &[KernelSpec],
    say: &dyn Fn(&str),
) -> Option<Tier> {
    let llvm = backends.iter().find(|b| b.kind().name() == "llvm")?;
    let path = hektor_runtime::tuning::default_tuning_path();
    let book = hektor_runtime::ScheduleBook::load(&path);
    for w in &book.warnings {
        say(&format!("tuning file: {w}"));
    }
    let mut kernels = BTreeMap::new();
    for spec in specs {
        let (schedule, source) = book.schedule_for(spec, llvm.as_ref());
        if source != hektor_runtime::ScheduleSource::Tuned
            || schedule == default_schedule(spec, llvm.as_ref())
        {
            continue;
        }
        let kernel = compile(spec, &schedule, llvm.as_ref(), CompileOptions::default())
            .unwrap_or_else(|e| panic!("compiling tuned {spec} ({schedule}): {e}"))
            .kernel;
        say(&format!(
            "llvm_tuned: {spec} with {schedule} (from {})",
            path.display()
        ));
        kernels.insert((spec.shape, spec.metric, spec.dim), kernel);
    }
    if kernels.is_empty() {
        say(&format!(
            "llvm_tuned: no tuned LLVM schedule for these specs in {} (run `hektor tune`)",
            path.display()
        ));
        return None;
    }
    Some(Tier {
        name: "llvm_tuned",
        kernels,
    })
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The inputs for one dimension.
struct Data {
    dim: usize,
    /// `pairs_in_pool(dim)` pairs, back to back: a₀ b₀ a₁ b₁ …
    pool: AlignedBuf,
    query: AlignedBuf,
    /// `MATRIX_ROWS` rows of `dim` floats (stride = dim).
    base: AlignedBuf,
    ids: Vec<u32>,
}

impl Data {
    fn new(dim: usize) -> Self {
        let seed = dim as u64;
        Data {
            dim,
            pool: data::random_vector(seed, 2 * pairs_in_pool(dim) * dim),
            query: data::random_vector(seed + 1, dim),
            base: data::random_vector(seed + 2, MATRIX_ROWS * dim),
            ids: data::random_ids(seed + 3, MATRIX_ROWS, GATHER_IDS),
        }
    }

    fn pairs(&self) -> Vec<(&[f32], &[f32])> {
        self.pool
            .chunks_exact(2 * self.dim)
            .map(|p| p.split_at(self.dim))
            .collect()
    }
}

fn sanity(what: &str, metric: Metric, got: &[f32], want: &[reference::Reference]) {
    assert_eq!(got.len(), want.len(), "{what}: wrong number of distances");
    for (i, (&g, w)) in got.iter().zip(want).enumerate() {
        if let Err(e) = check_close(metric, g, w, SANITY_TOLERANCE) {
            panic!("{what}: distance {i} disagrees with the oracle: {e}");
        }
    }
}

fn bench_pair(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    pairs: &[(&[f32], &[f32])],
    f: impl Fn(&[f32], &[f32]) -> f32,
) {
    let visits = visits(pairs);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| pair_loop(iters, &visits, |(x, y)| f(x, y)))
    });
}

/// `pairs` in the order every pair benchmark visits them
/// (`hektor_runtime::timing::visiting_order`), each pair's arguments
/// written out: the order is shuffled because in address order the core's
/// stride prefetcher spends load slots on lines already in L1 (it costs an
/// unrolled kernel, whose every load runs once a call, and not a loop),
/// and an index does not visit its rows in address order.
fn visits<P: Copy>(pairs: &[P]) -> Vec<P> {
    visiting_order(pairs.len(), 5)
        .into_iter()
        .map(|i| pairs[i])
        .collect()
}

/// `rows` two at a time: the pairs of a pool laid out a₀ b₀ a₁ b₁ ….
fn row_pairs<R: std::ops::Deref>(rows: &[R]) -> Vec<(&R::Target, &R::Target)> {
    rows.chunks_exact(2).map(|p| (&*p[0], &*p[1])).collect()
}

/// Times `iters` calls `distance(visit)`, cycling through `visits` (each
/// one a pair's arguments): the one loop every pair benchmark runs in,
/// Hektor's and its peers' alike.
///
/// Each call's arguments are one load from `visits`, whose address is in
/// a register. The core issues its oldest loads first, so loads that
/// fetch the next call's arguments after a call wait for that call's own
/// loads, and a chain of them (the loop's state spilled to the stack, an
/// order table, a table of rows) leaves the load ports idle for the
/// chain's length at the start of every call. With the address order
/// (`visits`), that cost ip d768 10 of its 66 cycles a call on the
/// Emerald Rapids machine of docs/BENCHMARKS.md.
///
/// It keeps nothing in memory but the inputs: results fold into an
/// integer register (no xmm register survives a call, so an f32 kept
/// across calls, or a `black_box` per call, would be a store per call).
/// No call can be elided: each distance is folded into the result.
#[inline(always)]
fn pair_loop<P: Copy>(iters: u64, visits: &[P], distance: impl Fn(P) -> f32) -> Duration {
    let mut visit = 0;
    let mut folded = 0u32;
    let started = Instant::now();
    for _ in 0..iters {
        visit = next_visit(visit, visits.len());
        folded ^= distance(visits[visit]).to_bits();
    }
    let elapsed = started.elapsed();
    black_box(folded);
    elapsed
}

fn pair_group(c: &mut Criterion, setup: &Setup, d: &Data, metric: Metric) {
    let dim = d.dim;
    let name = format!("pair/{metric}/d{dim}");
    let pairs = d.pairs();
    let avx2 = setup.peers.avx2;
    let avx2_pair = |k: Avx2Kernels| move |x: &[f32], y: &[f32]| k.pair(metric, x, y);
    let simsimd = Peers::simsimd_fn(metric);
    let scalar = scalar::pair_fn(metric);
    let oracle = |x: &[f32], y: &[f32]| reference::pair(metric, x, y).distance as f32;

    let want: Vec<_> = pairs
        .iter()
        .map(|(x, y)| reference::pair(metric, x, y))
        .collect();
    let all =
        |f: &dyn Fn(&[f32], &[f32]) -> f32| pairs.iter().map(|(x, y)| f(x, y)).collect::<Vec<_>>();
    for tier in setup.tiers_with(Shape::Pair, metric, dim) {
        let f = tier.pair(metric, dim);
        sanity(&format!("{name} {}", tier.name), metric, &all(&f), &want);
    }
    if let Some(k) = avx2 {
        sanity(&format!("{name} avx2"), metric, &all(&avx2_pair(k)), &want);
    }
    sanity(&format!("{name} simsimd"), metric, &all(&simsimd), &want);
    sanity(&format!("{name} scalar"), metric, &all(&scalar), &want);

    let mut g = c.benchmark_group(&name);
    g.throughput(Throughput::Elements(1));
    for tier in setup.tiers_with(Shape::Pair, metric, dim) {
        bench_pair(&mut g, tier.name, &pairs, tier.pair(metric, dim));
        if tier.name == "llvm" {
            let flat: Vec<&[f32]> = pairs.iter().flat_map(|&(x, y)| [x, y]).collect();
            let k = tier.kernel(Shape::Pair, metric, dim).clone();
            bench_checked(&mut g, &k, &flat);
            bench_kernel_alone(&mut g, &name, &[("llvm", k)], &flat);
        }
    }
    if let Some(k) = avx2 {
        bench_pair(&mut g, "avx2", &pairs, avx2_pair(k));
    }
    bench_pair(&mut g, "simsimd", &pairs, simsimd);
    bench_pair(&mut g, "scalar", &pairs, scalar);
    bench_pair(&mut g, "oracle_f64", &pairs, oracle);
    g.finish();
}

type GatherFn<'a> = dyn Fn(&[f32], &[f32], usize, &[u32], &mut [f32]) + 'a;

fn bench_gather(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    d: &Data,
    f: impl Fn(&[f32], &[f32], usize, &[u32], &mut [f32]),
) {
    g.bench_function(name, |b| {
        let mut out = vec![0.0f32; d.ids.len()];
        b.iter(|| {
            f(
                black_box(&d.query),
                black_box(&d.base),
                black_box(d.dim),
                black_box(&d.ids),
                &mut out,
            );
            black_box(&mut out);
        })
    });
}

fn gather_group(c: &mut Criterion, setup: &Setup, d: &Data, metric: Metric) {
    let dim = d.dim;
    let name = format!("gather/{metric}/d{dim}");
    let avx2 = setup.peers.avx2;
    let avx2_gather = |k: Avx2Kernels| {
        move |q: &[f32], base: &[f32], stride: usize, ids: &[u32], out: &mut [f32]| {
            k.gather(metric, q, base, stride, ids, out)
        }
    };
    let simsimd_pair = Peers::simsimd_fn(metric);
    let simsimd = |q: &[f32], base: &[f32], stride: usize, ids: &[u32], out: &mut [f32]| {
        hektor_benches::gather_with(simsimd_pair, q, base, stride, ids, out)
    };
    let scalar_pair = scalar::pair_fn(metric);
    let scalar = |q: &[f32], base: &[f32], stride: usize, ids: &[u32], out: &mut [f32]| {
        hektor_benches::gather_with(scalar_pair, q, base, stride, ids, out)
    };

    let want = reference::gather(metric, &d.query, &d.base, dim, &d.ids);
    let check = |what: &str, f: &GatherFn<'_>| {
        let mut out = vec![f32::NAN; d.ids.len()];
        f(&d.query, &d.base, dim, &d.ids, &mut out);
        sanity(&format!("{name} {what}"), metric, &out, &want);
    };
    for tier in setup.tiers_with(Shape::Gather, metric, dim) {
        check(tier.name, &tier.gather(metric, dim));
    }
    if let Some(k) = avx2 {
        check("avx2", &avx2_gather(k));
    }
    check("simsimd", &simsimd);
    check("scalar", &scalar);

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(d.ids.len() as u64));
    for tier in setup.tiers_with(Shape::Gather, metric, dim) {
        bench_gather(&mut g, tier.name, d, tier.gather(metric, dim));
    }
    if let Some(k) = avx2 {
        bench_gather(&mut g, "avx2", d, avx2_gather(k));
    }
    bench_gather(&mut g, "simsimd", d, simsimd);
    bench_gather(&mut g, "scalar", d, scalar);
    g.finish();
}

type ScanFn<'a> = dyn Fn(&[f32], &[f32], usize, usize, &mut [f32]) + 'a;

fn bench_scan(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    d: &Data,
    f: impl Fn(&[f32], &[f32], usize, usize, &mut [f32]),
) {
    let rows = &d.base[..SCAN_ROWS * d.dim];
    g.bench_function(name, |b| {
        let mut out = vec![0.0f32; SCAN_ROWS];
        b.iter(|| {
            f(
                black_box(&d.query),
                black_box(rows),
                black_box(d.dim),
                black_box(SCAN_ROWS),
                &mut out,
            );
            black_box(&mut out);
        })
    });
}

fn scan_group(c: &mut Criterion, setup: &Setup, d: &Data, metric: Metric) {
    let dim = d.dim;
    let name = format!("scan/{metric}/d{dim}");
    let avx2 = setup.peers.avx2;
    let avx2_scan = |k: Avx2Kernels| {
        move |q: &[f32], base: &[f32], stride: usize, count: usize, out: &mut [f32]| {
            k.scan(metric, q, base, stride, count, out)
        }
    };
    let simsimd_pair = Peers::simsimd_fn(metric);
    let simsimd = |q: &[f32], base: &[f32], stride: usize, count: usize, out: &mut [f32]| {
        hektor_benches::scan_with(simsimd_pair, q, base, stride, count, out)
    };
    let scalar_pair = scalar::pair_fn(metric);
    let scalar = |q: &[f32], base: &[f32], stride: usize, count: usize, out: &mut [f32]| {
        hektor_benches::scan_with(scalar_pair, q, base, stride, count, out)
    };

    let want = reference::scan(metric, &d.query, &d.base, dim, SCAN_ROWS);
    let check = |what: &str, f: &ScanFn<'_>| {
        let mut out = vec![f32::NAN; SCAN_ROWS];
        f(
            &d.query,
            &d.base[..SCAN_ROWS * dim],
            dim,
            SCAN_ROWS,
            &mut out,
        );
        sanity(&format!("{name} {what}"), metric, &out, &want);
    };
    for tier in setup.tiers_with(Shape::Scan, metric, dim) {
        check(tier.name, &tier.scan(metric, dim));
    }
    if let Some(k) = avx2 {
        check("avx2", &avx2_scan(k));
    }
    check("simsimd", &simsimd);
    check("scalar", &scalar);

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(SCAN_ROWS as u64));
    for tier in setup.tiers_with(Shape::Scan, metric, dim) {
        bench_scan(&mut g, tier.name, d, tier.scan(metric, dim));
    }
    if let Some(k) = avx2 {
        bench_scan(&mut g, "avx2", d, avx2_scan(k));
    }
    bench_scan(&mut g, "simsimd", d, simsimd);
    bench_scan(&mut g, "scalar", d, scalar);
    g.finish();
}

fn kernels(c: &mut Criterion) {
    let setup = setup(mode());
    for &dim in &DIMS {
        let d = Data::new(dim);
        for metric in Metric::ALL {
            pair_group(c, &setup, &d, metric);
            gather_group(c, &setup, &d, metric);
            scan_group(c, &setup, &d, metric);
        }
        cosine_norms_groups(c, &setup, &d);
    }
}

/// `v` as a `cosine_norms` row of `row_len`, starting on a cache line:
/// components, zero padding, and the inverse norm in the last slot (how
/// an index stores cosine rows).
fn with_norm(v: &[f32], row_len: usize) -> AlignedBuf {
    let mut row = AlignedBuf::zeroed(row_len);
    row[..v.len()].copy_from_slice(v);
    row[row_len - 1] = reference::inverse_norm(v);
    row
}

/// Cosine as an index serves it (`cosine_norms`: each row carries its
/// inverse norm, so a distance is one dot product) against simsimd's
/// cosine on the same vectors (which computes both norms every call): the
/// `pair/cosine_norms` and `gather/cosine_norms` groups. Hektor's rows are
/// one slot longer (padded to a cache line in the gather matrix).
fn cosine_norms_groups(c: &mut Criterion, setup: &Setup, d: &Data) {
    let dim = d.dim;
    let pairs = d.pairs();
    let want: Vec<_> = pairs
        .iter()
        .map(|(x, y)| reference::pair(Metric::Cosine, x, y))
        .collect();
    let simsimd = Peers::simsimd_fn(Metric::Cosine);
    let tiers: Vec<&Tier> = setup
        .tiers_with(Shape::Pair, Metric::CosineNorms, dim)
        .collect();
    let rows: Vec<Vec<(AlignedBuf, AlignedBuf)>> = tiers
        .iter()
        .map(|tier| {
            let len = tier.kernel(Shape::Pair, Metric::CosineNorms, dim).row_len();
            pairs
                .iter()
                .map(|(x, y)| (with_norm(x, len), with_norm(y, len)))
                .collect()
        })
        .collect();
    let group = format!("pair/cosine_norms/d{dim}");
    let mut g = c.benchmark_group(&group);
    g.throughput(Throughput::Elements(1));
    for (tier, rows) in tiers.iter().zip(&rows) {
        let rows: Vec<(&[f32], &[f32])> = rows.iter().map(|(x, y)| (&x[..], &y[..])).collect();
        let f = tier.pair(Metric::CosineNorms, dim);
        let got: Vec<f32> = rows.iter().map(|(x, y)| f(x, y)).collect();
        sanity(
            &format!("pair/cosine_norms/d{dim} {}", tier.name),
            Metric::Cosine,
            &got,
            &want,
        );
        bench_pair(&mut g, tier.name, &rows, f);
        if tier.name == "llvm" {
            let flat: Vec<&[f32]> = rows.iter().flat_map(|&(x, y)| [x, y]).collect();
            let k = tier.kernel(Shape::Pair, Metric::CosineNorms, dim).clone();
            bench_kernel_alone(&mut g, &group, &[("llvm", k)], &flat);
        }
    }
    bench_pair(&mut g, "simsimd", &pairs, simsimd);
    g.finish();

    let want = reference::gather(Metric::Cosine, &d.query, &d.base, dim, &d.ids);
    let mut g = c.benchmark_group(format!("gather/cosine_norms/d{dim}"));
    g.throughput(Throughput::Elements(d.ids.len() as u64));
    for tier in setup.tiers_with(Shape::Gather, Metric::CosineNorms, dim) {
        let f = tier.gather(Metric::CosineNorms, dim);
        let len = tier
            .kernel(Shape::Gather, Metric::CosineNorms, dim)
            .row_len();
        let stride = len.next_multiple_of(64 / F32);
        let query = with_norm(&d.query, len);
        let mut base = AlignedBuf::zeroed(MATRIX_ROWS * stride);
        for (row, v) in base.chunks_exact_mut(stride).zip(d.base.chunks_exact(dim)) {
            row[..len].copy_from_slice(&with_norm(v, len));
        }
        let mut out = vec![f32::NAN; d.ids.len()];
        f(&query, &base, stride, &d.ids, &mut out);
        sanity(
            &format!("gather/cosine_norms/d{dim} {}", tier.name),
            Metric::Cosine,
            &out,
            &want,
        );
        g.bench_function(tier.name, |b| {
            b.iter(|| {
                f(
                    black_box(&query),
                    black_box(&base),
                    black_box(stride),
                    black_box(&d.ids),
                    &mut out,
                );
                black_box(&mut out);
            })
        });
    }
    bench_gather(&mut g, "simsimd", d, |q, base, stride, ids, out| {
        hektor_benches::gather_with(simsimd, q, base, stride, ids, out)
    });
    g.finish();
}

/// Integer pair kernels: `i8` (quantized) and `bit` against simsimd.
fn integer_kernels(c: &mut Criterion) {
    use hektor_kernels::quant;
    use simsimd::{BinarySimilarity, SpatialSimilarity};
    let backends = backends();
    let compile_for = |spec: &KernelSpec| -> Vec<(&'static str, Kernel)> {
        backends
            .iter()
            .map(|b| {
                let schedule = default_schedule(spec, b.as_ref());
                let k = compile(spec, &schedule, b.as_ref(), CompileOptions::default())
                    .unwrap_or_else(|e| panic!("compiling {spec} ({schedule}): {e}"))
                    .kernel;
                (b.kind().name(), k)
            })
            .collect()
    };
    const POOL: usize = 4;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };

    let dim = 768;
    for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
        let spec = KernelSpec::new(metric, ElementType::I8, dim, Shape::Pair).unwrap();
        let tiers = compile_for(&spec);
        let row_len = tiers[0].1.row_len();
        let rows: Vec<Vec<i8>> = (0..2 * POOL)
            .map(|_| {
                let x: Vec<f32> = (0..dim).map(|_| uniform()).collect();
                quant::quantize::<i8>(&x, row_len).expect("finite")
            })
            .collect();
        for (name, k) in &tiers {
            let got = k.pair(&rows[0], &rows[1]).unwrap() as f64;
            let want = reference::quantized_pair(metric, dim, &rows[0], &rows[1]);
            assert!(
                (got - want.distance).abs()
                    <= hektor_kernels::bound::quantized_tolerance(metric, &want),
                "{name} {spec}: {got} vs {}",
                want.distance
            );
        }
        let dot: i64 = rows[0][..dim]
            .iter()
            .zip(&rows[1][..dim])
            .map(|(&a, &b)| a as i64 * b as i64)
            .sum();
        let simsimd_dot = <i8 as SpatialSimilarity>::dot(&rows[0][..dim], &rows[1][..dim]).unwrap();
        assert_eq!(simsimd_dot, dot as f64, "simsimd i8 dot");
        let simsimd: fn(&[i8], &[i8]) -> Option<f64> = match metric {
            Metric::L2 => <i8 as SpatialSimilarity>::l2sq,
            Metric::Ip => <i8 as SpatialSimilarity>::dot,
            _ => <i8 as SpatialSimilarity>::cos,
        };
        let group = format!("pair.i8/{metric}/d{dim}");
        let mut g = c.benchmark_group(&group);
        g.throughput(Throughput::Elements(1));
        bench_tier_pairs(&mut g, &group, &tiers, &rows);
        let pairs: Vec<(&[i8], &[i8])> = row_pairs(&rows)
            .into_iter()
            .map(|(x, y)| (&x[..dim], &y[..dim]))
            .collect();
        let visits = visits(&pairs);
        g.bench_function("simsimd", |b| {
            b.iter_custom(|iters| {
                pair_loop(iters, &visits, |(x, y)| {
                    simsimd(x, y).expect("same lengths") as f32
                })
            })
        });
        g.finish();
    }

    for dim in [256usize, 1024] {
        let spec = KernelSpec::new(Metric::Hamming, ElementType::Bit, dim, Shape::Pair).unwrap();
        let tiers = compile_for(&spec);
        let row_len = tiers[0].1.row_len();
        let words: Vec<Vec<u64>> = (0..2 * POOL)
            .map(|_| {
                let x: Vec<f32> = (0..dim).map(|_| uniform()).collect();
                quant::binarize(&x, row_len).expect("rows fit")
            })
            .collect();
        let bytes: Vec<Vec<u8>> = words
            .iter()
            .map(|w| {
                w.iter()
                    .flat_map(|x| x.to_le_bytes())
                    .take(dim / 8)
                    .collect()
            })
            .collect();
        let want = reference::hamming(dim, &words[0], &words[1]).distance;
        for (name, k) in &tiers {
            assert_eq!(k.pair(&words[0], &words[1]).unwrap() as f64, want, "{name}");
        }
        assert_eq!(
            <u8 as BinarySimilarity>::hamming(&bytes[0], &bytes[1]).unwrap(),
            want,
            "simsimd hamming"
        );
        let group = format!("pair.bit/hamming/d{dim}");
        let mut g = c.benchmark_group(&group);
        g.throughput(Throughput::Elements(1));
        bench_tier_pairs(&mut g, &group, &tiers, &words);
        let visits = visits(&row_pairs(&bytes));
        g.bench_function("simsimd", |b| {
            b.iter_custom(|iters| {
                pair_loop(iters, &visits, |(x, y)| {
                    <u8 as BinarySimilarity>::hamming(x, y).expect("same lengths") as f32
                })
            })
        });
        g.finish();
    }
}

/// Each tier's pair kernel through the safe `Kernel::pair`, then
/// [`bench_kernel_alone`], over `rows` taken two at a time.
fn bench_tier_pairs<T: hektor_kernels::Element, R: std::ops::Deref<Target = [T]>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &str,
    tiers: &[(&'static str, Kernel)],
    rows: &[R],
) {
    let visits = visits(&row_pairs(rows));
    for (name, k) in tiers {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                pair_loop(iters, &visits, |(x, y)| k.pair(x, y).expect("checked rows"))
            })
        });
    }
    if let Some((_, k)) = tiers.iter().find(|(name, _)| *name == "llvm") {
        bench_checked(g, k, rows);
    }
    bench_kernel_alone(g, group, tiers, rows);
}

/// `llvm_checked`: the LLVM kernel through the safe `Kernel::pair_checked`,
/// on rows checked once by `Kernel::check_row` (as a caller that reuses
/// its rows uses the safe API): per call, only the layouts are compared.
fn bench_checked<T: hektor_kernels::Element, R: std::ops::Deref<Target = [T]>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    k: &Kernel,
    rows: &[R],
) {
    let checked: Vec<_> = rows
        .iter()
        .map(|r| k.check_row(r).expect("valid rows"))
        .collect();
    let pairs: Vec<_> = checked.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let visits = visits(&pairs);
    g.bench_function("llvm_checked", |b| {
        b.iter_custom(|iters| {
            pair_loop(iters, &visits, |(x, y)| {
                k.pair_checked(x, y).expect("rows of this layout")
            })
        })
    });
}

/// The visit after `visit` in an order of `len` visits, round again at
/// the end. Not `% len`: a division would cost more than a short kernel.
#[inline(always)]
fn next_visit(visit: usize, len: usize) -> usize {
    if visit + 1 >= len {
        0
    } else {
        visit + 1
    }
}

/// `llvm_kernel`: the LLVM tier's pair kernel called as an index calls it,
/// through `pair_unchecked` (the rows were checked once, above), so the
/// group shows the kernel's own time beside the safe call's, whose
/// argument checks (lengths, padding, metadata) cost about as much as a
/// short kernel.
fn bench_kernel_alone<T: hektor_kernels::Element, R: std::ops::Deref<Target = [T]>>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &str,
    tiers: &[(&'static str, Kernel)],
    rows: &[R],
) {
    let Some((_, k)) = tiers.iter().find(|(name, _)| *name == "llvm") else {
        return;
    };
    assert!(rows
        .iter()
        .all(|r| r.len() == k.row_len() && k.pair(r, r).is_ok()));
    let pointers: Vec<(*const T, *const T)> = row_pairs(rows)
        .into_iter()
        .map(|(x, y)| (x.as_ptr(), y.as_ptr()))
        .collect();
    let visits = visits(&pointers);
    g.bench_function("llvm_kernel", |b| {
        b.iter_custom(|iters| {
            let elapsed = pair_loop(iters, &visits, |(x, y)| {
                // SAFETY: a pair kernel, and every row holds `row_len()`
                // elements that passed the safe call's checks just above.
                unsafe { k.pair_unchecked(x, y) }
            });
            record_cycles(group, elapsed, iters);
            elapsed
        })
    });
}

fn cycles_path() -> std::path::PathBuf {
    hektor_benches::target_dir().join("bench-kernel-cycles.jsonl")
}

/// Appends one sample's cycles per call to `bench-kernel-cycles.jsonl`:
/// its time per call at the clock measured right after it (about 1 ms of
/// dependent adds), for `cargo xtask bench`'s `kernel cycles` column.
/// Samples shorter than 1 ms (criterion's first warm-up calls) are skipped:
/// the timer's own cost would show in them.
fn record_cycles(group: &str, elapsed: Duration, calls: u64) {
    #[cfg(target_arch = "x86_64")]
    if mode() == Mode::Bench && elapsed >= Duration::from_millis(1) && calls > 0 {
        const ROUNDS: u64 = 40_000; // 4 million adds: about 1 ms
        let t = Instant::now();
        black_box(hektor_codegen::mca::add_chain(black_box(ROUNDS)));
        let adds = (ROUNDS * hektor_codegen::mca::ADDS_PER_ROUND) as f64;
        let ghz = adds / t.elapsed().as_nanos() as f64;
        let cycles = elapsed.as_nanos() as f64 / calls as f64 * ghz;
        let line = format!(
            "{{\"group\": {}, \"cycles\": {cycles:.3}, \"ghz\": {ghz:.4}}}\n",
            hektor_benches::json_string(group)
        );
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .open(cycles_path())
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            eprintln!(
                "warning: could not append to {}: {e}",
                cycles_path().display()
            );
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = kernels, integer_kernels
}
criterion_main!(benches);
