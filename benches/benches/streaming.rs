//! Hektor's `scan` and `gather` kernels over rows that stream from DRAM,
//! against a plain streaming read of the same rows: how close the kernels
//! come to the memory-bandwidth floor (the target: within 10% of it).
//!
//! Not part of `cargo xtask bench` (that runs the cache-resident `kernels`
//! bench only): it allocates a matrix of 512 MiB or more and takes several
//! minutes.
//! Run it with
//!
//! ```text
//! cargo bench -p hektor-benches --bench streaming
//! ```
//!
//! or with `cargo xtask bench --streaming`, which runs it and writes the
//! summary to `target/bench-streaming-summary.{md,json}` (criterion's
//! options go after `--` either way, e.g. `-- stream-scan/l2`).
//!
//! Groups are `stream-scan/{metric}/d{dim}` and `stream-gather/{metric}/d{dim}`
//! for metrics l2 and ip and dims 128, 384, 768 and 1536; the functions:
//!
//! - `llvm` (feature `llvm`, on by default) and `cranelift`: Hektor's
//!   kernel for the spec, compiled by that backend with the runtime's
//!   default schedule (`hektor_runtime::default_schedule`) and called
//!   through the safe `Kernel::{scan, gather}`;
//! - `simsimd`: the simsimd crate, one call per row;
//! - `read_floor`: [`hektor_benches::ReadFloor`], a streaming read of
//!   exactly the same rows with the widest loads the CPU has and no
//!   arithmetic: the bandwidth floor. A kernel's time over `read_floor`'s
//!   is how far it is from the floor.
//!
//! The data: one matrix per dim of random f32 rows (stride = dim, every
//! row on a cache line), 512 MiB or four times the last-level cache,
//! whichever is larger (1200 MiB on a 300 MiB L3), built when its dim
//! comes up and dropped before the next. The size can be changed with
//! `HEKTOR_STREAM_MIB`. (With 512 MiB on that 300 MiB L3, part of each
//! matrix was served from the cache, and the read floor moved by a fifth
//! from run to run.)
//!
//! - scan: each iteration scans the next block of 1024 consecutive rows,
//!   walking through the whole matrix and wrapping round at its end, so
//!   every block was last touched a whole matrix ago and comes from DRAM;
//! - gather: each iteration takes the next batch of 64 ids from a list of
//!   2²⁰ random row ids (uniform over the matrix, fixed seed), so nearly
//!   every row is a DRAM miss; `read_floor` reads the same 64 rows.
//!
//! The walk position lives outside criterion's timing closure and carries
//! on from one sample (and one function) to the next, so no sample re-reads
//! rows an earlier one left in the caches.
//!
//! Every group sets `Throughput::Elements(rows per iteration)` (1024 or
//! 64), so criterion's time divided by it is the time per row.
//!
//! Under `cargo test --all-targets` (every benchmark runs once) the matrix
//! is 8 MiB and the id list short, so CI never allocates 512 MiB.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use hektor_benches::{check_close, data, mode, Mode, Peers, ReadFloor};
use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::{compile, host, Backend, CompileOptions, Kernel};
use hektor_kernels::{reference, ElementType, KernelSpec, Metric, Shape};
use hektor_runtime::aligned::AlignedBuf;
use hektor_runtime::default_schedule;
use hektor_runtime::timing::{last_level_cache, memory_working_set};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

const DIMS: [usize; 4] = [128, 384, 768, 1536];
const METRICS: [Metric; 2] = [Metric::L2, Metric::Ip];
/// The matrix of a timing run, per dim.
const BENCH_MIB: usize = 512;
/// The matrix under `cargo test` and `--list`.
const TEST_MIB: usize = 8;
/// Consecutive rows per `scan` iteration.
const SCAN_ROWS: usize = 1024;
/// Row ids per `gather` iteration: a typical HNSW neighbour list.
const GATHER_IDS: usize = 64;
/// Random row ids `gather` walks through (a multiple of `GATHER_IDS`).
const BENCH_ID_LIST: usize = 1 << 20;
const TEST_ID_LIST: usize = 4 * GATHER_IDS;
/// Every implementation must agree with the oracle this closely on the
/// benchmark data before it is timed (a sanity check, not a verifier).
const SANITY_TOLERANCE: f64 = 1e-4;

const F32: usize = std::mem::size_of::<f32>();
const MIB: usize = 1 << 20;

/// Bytes of each dim's matrix: `HEKTOR_STREAM_MIB` MiB when set (timing
/// runs only), else 512 MiB or `timing::memory_working_set` (four times
/// the last-level cache, at most 4 GiB), whichever is larger; 8 MiB when
/// not timing.
fn matrix_bytes(mode: Mode) -> usize {
    if mode != Mode::Bench {
        return TEST_MIB * MIB;
    }
    match std::env::var("HEKTOR_STREAM_MIB") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(mib) if mib > 0 => mib * MIB,
            _ => panic!("HEKTOR_STREAM_MIB must be a positive whole number of MiB, not {v:?}"),
        },
        // The tuner's rule for memory-resident timings, and 512 MiB at least.
        Err(_) => memory_working_set().max(BENCH_MIB * MIB),
    }
}

/// Hektor's backends for this host: LLVM (feature `llvm`), then Cranelift.
fn backends() -> Vec<Box<dyn Backend>> {
    let cranelift = CraneliftBackend::host()
        .unwrap_or_else(|e| panic!("Cranelift cannot target this host: {e}"));
    #[cfg(feature = "llvm")]
    let llvm = hektor_codegen::llvm::LlvmBackend::host()
        .unwrap_or_else(|e| panic!("LLVM cannot target this host: {e}"));
    vec![
        #[cfg(feature = "llvm")]
        Box::new(llvm),
        Box::new(cranelift),
    ]
}

/// One backend's kernel for a group; its name is the function id.
struct Tier {
    name: &'static str,
    kernel: Kernel,
}

fn compile_tiers(
    backends: &[Box<dyn Backend>],
    metric: Metric,
    dim: usize,
    shape: Shape,
) -> Vec<Tier> {
    let spec = KernelSpec::new(metric, ElementType::F32, dim, shape)
        .expect("benchmark dimensions are valid");
    backends
        .iter()
        .map(|backend| {
            let name = backend.kind().name();
            let schedule = default_schedule(&spec, backend.as_ref());
            let kernel = compile(
                &spec,
                &schedule,
                backend.as_ref(),
                CompileOptions::default(),
            )
            .unwrap_or_else(|e| panic!("compiling {spec} with {name} ({schedule}): {e}"))
            .kernel;
            assert_eq!(
                kernel.row_len(),
                dim,
                "{name} {spec} ({schedule}) pads its rows; the matrix has stride = dim"
            );
            Tier { name, kernel }
        })
        .collect()
}

struct Setup {
    backends: Vec<Box<dyn Backend>>,
    floor: ReadFloor,
    matrix_bytes: usize,
    id_list: usize,
}

fn setup(mode: Mode) -> Setup {
    let quiet = mode == Mode::List;
    let say = |s: &str| {
        if !quiet {
            println!("{s}");
        }
    };
    let backends = backends();
    let floor = ReadFloor::detect();
    let matrix_bytes = matrix_bytes(mode);
    let id_list = if mode == Mode::Bench {
        BENCH_ID_LIST
    } else {
        TEST_ID_LIST
    };
    let mib = |bytes: usize| bytes as f64 / MIB as f64;
    say(&format!("CPU: {}", host::cpu_model()));
    for backend in &backends {
        say(&format!(
            "{} target: {}",
            backend.kind().name(),
            backend.target_description()
        ));
    }
    say(&format!(
        "simsimd f32 kernels: {}",
        Peers::simsimd_f32_kernel()
    ));
    say(&format!("read_floor: {}", floor.isa().name()));
    say(&format!(
        "matrix: {:.0} MiB of f32 rows per dim (one dim's matrix in memory at a time){}",
        mib(matrix_bytes),
        if mode == Mode::Bench {
            ""
        } else {
            " (not a timing run: the small test matrix)"
        }
    ));
    for &dim in &DIMS {
        let rows = rows_for(matrix_bytes, dim);
        say(&format!(
            "  d{dim:<5} {rows:>8} rows of {:>5} B: scan walks {} blocks of {SCAN_ROWS} rows; \
             gather walks {id_list} random ids in batches of {GATHER_IDS}",
            dim * F32,
            rows / SCAN_ROWS
        ));
    }
    match last_level_cache() {
        Some(llc) => {
            say(&format!("last-level cache: {:.0} MiB", mib(llc)));
            if mode == Mode::Bench && matrix_bytes < 2 * llc {
                say(&format!(
                    "WARNING: the matrix is less than twice the last-level cache, so part of it \
                     may be served from the cache; set HEKTOR_STREAM_MIB={} or more to be sure \
                     the rows stream from memory",
                    (4 * llc).div_ceil(MIB)
                ));
            }
        }
        None => say("last-level cache: unknown"),
    }
    say(
        "The rows stream from memory (DRAM), not the caches: scan walks the whole matrix block \
         by block and gather picks random rows of it, so each row read was last touched a \
         whole matrix ago. Times are per row; read_floor is a plain streaming read of the same \
         rows (the bandwidth floor).\n",
    );
    Setup {
        backends,
        floor,
        matrix_bytes,
        id_list,
    }
}

fn rows_for(matrix_bytes: usize, dim: usize) -> usize {
    (matrix_bytes / (dim * F32)).max(SCAN_ROWS)
}

/// One dim's inputs.
struct Data {
    dim: usize,
    rows: usize,
    query: AlignedBuf,
    /// `rows` rows of `dim` floats (stride = dim).
    base: AlignedBuf,
    /// Random row ids, uniform over `0..rows` (repeats allowed).
    ids: Vec<u32>,
}

impl Data {
    fn new(setup: &Setup, dim: usize) -> Self {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let rows = rows_for(setup.matrix_bytes, dim);
        let seed = 1000 + dim as u64;
        let mut rng = StdRng::seed_from_u64(seed + 2);
        let bound = u32::try_from(rows).expect("row ids are u32");
        Data {
            dim,
            rows,
            query: data::random_vector(seed, dim),
            base: data::random_vector(seed + 1, rows * dim),
            ids: (0..setup.id_list)
                .map(|_| rng.random_range(0..bound))
                .collect(),
        }
    }

    fn scan_blocks(&self) -> usize {
        self.rows / SCAN_ROWS
    }

    /// Rows `block·SCAN_ROWS ..` onwards (the kernel reads `SCAN_ROWS` of them).
    fn block(&self, block: usize) -> &[f32] {
        &self.base[block * SCAN_ROWS * self.dim..(block + 1) * SCAN_ROWS * self.dim]
    }

    fn batch(&self, batch: usize) -> &[u32] {
        &self.ids[batch * GATHER_IDS..(batch + 1) * GATHER_IDS]
    }

    fn batches(&self) -> usize {
        self.ids.len() / GATHER_IDS
    }
}

/// `*cursor`, advancing it round `0..len`.
#[inline(always)]
fn advance(cursor: &Cell<usize>, len: usize) -> usize {
    let at = cursor.get();
    cursor.set(if at + 1 == len { 0 } else { at + 1 });
    at
}

fn sanity(what: &str, metric: Metric, got: &[f32], want: &[reference::Reference]) {
    assert_eq!(got.len(), want.len(), "{what}: wrong number of distances");
    for (i, (&g, w)) in got.iter().zip(want).enumerate() {
        if let Err(e) = check_close(metric, g, w, SANITY_TOLERANCE) {
            panic!("{what}: distance {i} disagrees with the oracle: {e}");
        }
    }
}

/// `f(query, block, out)` on the next block each iteration.
fn bench_scan(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    d: &Data,
    cursor: &Cell<usize>,
    mut f: impl FnMut(&[f32], &[f32], &mut [f32]),
) {
    let mut out = vec![0.0f32; SCAN_ROWS];
    g.bench_function(name, |b| {
        b.iter(|| {
            let block = d.block(advance(cursor, d.scan_blocks()));
            f(black_box(&d.query), black_box(block), &mut out);
            black_box(&mut out);
        })
    });
}

fn scan_group(c: &mut Criterion, setup: &Setup, d: &Data, metric: Metric) {
    let dim = d.dim;
    let name = format!("stream-scan/{metric}/d{dim}");
    let tiers = compile_tiers(&setup.backends, metric, dim, Shape::Scan);
    let simsimd_pair = Peers::simsimd_fn(metric);
    let simsimd = |q: &[f32], rows: &[f32], out: &mut [f32]| {
        hektor_benches::scan_with(simsimd_pair, q, rows, dim, SCAN_ROWS, out)
    };
    let floor = setup.floor;

    // Sanity checks on the first and the last block.
    for block in [0, d.scan_blocks() - 1] {
        let rows = d.block(block);
        let want = reference::scan(metric, &d.query, rows, dim, SCAN_ROWS);
        let mut out = vec![f32::NAN; SCAN_ROWS];
        for tier in &tiers {
            tier.kernel
                .scan(&d.query, rows, dim, SCAN_ROWS, &mut out)
                .unwrap_or_else(|e| panic!("{name} {} scan call: {e}", tier.name));
            sanity(
                &format!("{name} {} block {block}", tier.name),
                metric,
                &out,
                &want,
            );
        }
        simsimd(&d.query, rows, &mut out);
        sanity(
            &format!("{name} simsimd block {block}"),
            metric,
            &out,
            &want,
        );
        assert_eq!(
            floor.read(rows),
            hektor_benches::floor::scalar(rows),
            "{name} read_floor block {block}"
        );
    }

    let cursor = Cell::new(0);
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(SCAN_ROWS as u64));
    for tier in &tiers {
        let kernel = &tier.kernel;
        bench_scan(&mut g, tier.name, d, &cursor, |q, rows, out| {
            kernel
                .scan(q, rows, dim, SCAN_ROWS, out)
                .unwrap_or_else(|e| panic!("{} scan call: {e}", tier.name))
        });
    }
    bench_scan(&mut g, "simsimd", d, &cursor, simsimd);
    bench_scan(&mut g, "read_floor", d, &cursor, |_, rows, out| {
        out[0] = f32::from_bits(floor.read(rows));
    });
    g.finish();
}

/// `f(query, base, ids, out)` on the next batch of ids each iteration.
fn bench_gather(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    d: &Data,
    cursor: &Cell<usize>,
    mut f: impl FnMut(&[f32], &[f32], &[u32], &mut [f32]),
) {
    let mut out = vec![0.0f32; GATHER_IDS];
    g.bench_function(name, |b| {
        b.iter(|| {
            let ids = d.batch(advance(cursor, d.batches()));
            f(
                black_box(&d.query),
                black_box(&d.base),
                black_box(ids),
                &mut out,
            );
            black_box(&mut out);
        })
    });
}

fn gather_group(c: &mut Criterion, setup: &Setup, d: &Data, metric: Metric) {
    let dim = d.dim;
    let name = format!("stream-gather/{metric}/d{dim}");
    let tiers = compile_tiers(&setup.backends, metric, dim, Shape::Gather);
    let simsimd_pair = Peers::simsimd_fn(metric);
    let simsimd = |q: &[f32], base: &[f32], ids: &[u32], out: &mut [f32]| {
        hektor_benches::gather_with(simsimd_pair, q, base, dim, ids, out)
    };
    let floor = setup.floor;

    // Sanity checks on the first and the last batch.
    for batch in [0, d.batches() - 1] {
        let ids = d.batch(batch);
        let want = reference::gather(metric, &d.query, &d.base, dim, ids);
        let mut out = vec![f32::NAN; GATHER_IDS];
        for tier in &tiers {
            tier.kernel
                .gather(&d.query, &d.base, dim, ids, &mut out)
                .unwrap_or_else(|e| panic!("{name} {} gather call: {e}", tier.name));
            sanity(
                &format!("{name} {} batch {batch}", tier.name),
                metric,
                &out,
                &want,
            );
        }
        simsimd(&d.query, &d.base, ids, &mut out);
        sanity(
            &format!("{name} simsimd batch {batch}"),
            metric,
            &out,
            &want,
        );
        let scalar = ids.iter().fold(0, |acc, &id| {
            let start = id as usize * dim;
            acc | hektor_benches::floor::scalar(&d.base[start..start + dim])
        });
        assert_eq!(
            floor.read_rows(&d.base, dim, dim, ids),
            scalar,
            "{name} read_floor batch {batch}"
        );
    }

    let cursor = Cell::new(0);
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(GATHER_IDS as u64));
    for tier in &tiers {
        let kernel = &tier.kernel;
        bench_gather(&mut g, tier.name, d, &cursor, |q, base, ids, out| {
            kernel
                .gather(q, base, dim, ids, out)
                .unwrap_or_else(|e| panic!("{} gather call: {e}", tier.name))
        });
    }
    bench_gather(&mut g, "simsimd", d, &cursor, simsimd);
    bench_gather(&mut g, "read_floor", d, &cursor, |_, base, ids, out| {
        out[0] = f32::from_bits(floor.read_rows(base, dim, dim, ids));
    });
    g.finish();
}

fn streaming(c: &mut Criterion) {
    let setup = setup(mode());
    for &dim in &DIMS {
        // One matrix at a time: built here, dropped before the next dim.
        let d = Data::new(&setup, dim);
        for metric in METRICS {
            scan_group(c, &setup, &d, metric);
            gather_group(c, &setup, &d, metric);
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = streaming
}
criterion_main!(benches);
