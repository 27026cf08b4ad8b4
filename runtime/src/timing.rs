//! How long a kernel takes per distance on this machine, measured the way
//! the runtime will call it. Used by `hektor kernels`; criterion benches
//! (benches/) are the careful measurement.

use crate::aligned::AlignedBuf;
use hektor_codegen::Kernel;
use hektor_kernels::Shape;
use hektor_kernels::{f16, quant, Element, ElementType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Rows in the matrix that `gather` and `scan` timings walk.
pub const TIMING_ROWS: usize = 1024;
/// Rows a cache-resident `scan` timing reads per call, as the kernel bench
/// does (`benches/kernels.rs`): 1.5 MiB at d1536, inside a 2 MiB L2. All
/// [`TIMING_ROWS`] would be 6 MiB there, a timing of L3, in which the
/// tuner ranked schedules that lose in the L2-resident bench.
pub const CACHE_SCAN_ROWS: usize = 256;
/// Ids one `gather` call visits (an HNSW neighbour list is 16–64).
pub const GATHER_IDS: usize = 64;
/// Bytes of rows a `pair` timing cycles through: well inside any L1 data
/// cache (32 KiB and up), with room for the stack and the loop's own data.
const PAIR_L1_BUDGET: usize = 16 << 10;

/// Calls per round of a [`visiting_order`]: long enough that no stride
/// repeats often, short enough to stay in one cache line or two.
pub const VISITS: usize = 64;

/// An order in which to visit `n` rows (or pairs), one after another,
/// `VISITS` long, in which consecutive visits are not a fixed stride
/// apart: each `n` visits are a fresh shuffle of `0..n`, and no row
/// follows itself across a round boundary.
///
/// Why not `0, 1, 2, …`: an unrolled kernel runs each of its load
/// instructions once a call, and when every call's rows lie a constant
/// stride after the last call's, the core's stride prefetcher (which
/// tracks loads by instruction address) learns the stride and issues a
/// prefetch per load into lines already in L1. On the Emerald Rapids
/// machine of docs/BENCHMARKS.md, that and a chain of loads in the bench's
/// loop cost the ip d768 pair kernel 10 of its 66 cycles a call. An index
/// visits rows in the graph's order, not in address order, so timings
/// visit them so too.
pub fn visiting_order(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order = Vec::with_capacity(VISITS);
    while order.len() < VISITS {
        let mut round: Vec<usize> = (0..n.max(1)).collect();
        for i in (1..round.len()).rev() {
            round.swap(i, rng.random_range(0..=i));
        }
        if round.len() > 1 && order.last() == round.first() {
            round.swap(0, 1);
        }
        order.extend(round);
    }
    order.truncate(VISITS);
    order
}

/// The median over several batches of the time per distance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timing {
    pub ns_per_distance: f64,
    /// Bytes of vectors the timing loop touches (the working set).
    pub working_set_bytes: usize,
}

/// Where the vectors a timing reads live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Residency {
    /// A working set that stays in the caches (L1 for `pair`, L2/L3 for
    /// the row shapes): the kernel's own speed.
    Cache,
    /// Rows streamed from a matrix far larger than the last-level cache:
    /// what a big index costs.
    Memory,
}

/// The least the matrix of a memory-resident timing holds.
pub const MIN_MEMORY_WORKING_SET: usize = 256 << 20;
/// The most it holds, whatever the caches (4 GiB).
const MAX_MEMORY_WORKING_SET: usize = 4 << 30;

/// Bytes of the matrix that memory-resident timings stream through: four
/// times the last-level cache, at least [`MIN_MEMORY_WORKING_SET`]. A
/// fixed 256 MiB was not "far larger than the cache" on every machine: the
/// Emerald Rapids of docs/BENCHMARKS.md has 300 MiB of L3, and its
/// "memory" timings were of L3 (30 GB/s where DRAM gives about 18).
pub fn memory_working_set() -> usize {
    let llc = last_level_cache().unwrap_or(0);
    llc.saturating_mul(4)
        .clamp(MIN_MEMORY_WORKING_SET, MAX_MEMORY_WORKING_SET)
}

/// The size of the largest (highest-level) cache CPU 0 reports in Linux
/// sysfs, in bytes; `None` where sysfs says nothing.
pub fn last_level_cache() -> Option<usize> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let mut best: Option<(u32, usize)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let read = |name: &str| std::fs::read_to_string(entry.path().join(name)).ok();
        let (Some(level), Some(size)) = (read("level"), read("size")) else {
            continue;
        };
        let (Ok(level), Some(bytes)) = (level.trim().parse::<u32>(), cache_size_bytes(&size))
        else {
            continue;
        };
        if best.is_none_or(|(l, _)| level > l) {
            best = Some((level, bytes));
        }
    }
    best.map(|(_, bytes)| bytes)
}

/// A sysfs cache size (`48K`, `2048K`, `32M`, or plain bytes) in bytes.
fn cache_size_bytes(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 10),
        b'M' => (&text[..text.len() - 1], 20),
        b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

/// Times `kernel` for roughly `budget` on cache-resident data.
pub fn time_kernel(kernel: &Kernel, budget: Duration) -> Timing {
    time_kernel_in(kernel, budget, Residency::Cache)
}

/// Times `kernel` for roughly `budget` with its data where `residency` says.
pub fn time_kernel_in(kernel: &Kernel, budget: Duration, residency: Residency) -> Timing {
    match kernel.spec().dtype {
        ElementType::F16 => time_as::<f16>(kernel, budget, residency),
        ElementType::I8 => time_as::<i8>(kernel, budget, residency),
        ElementType::U8 => time_as::<u8>(kernel, budget, residency),
        ElementType::Bit => time_as::<u64>(kernel, budget, residency),
        _ => time_as::<f32>(kernel, budget, residency),
    }
}

/// A random row as the kernel reads it (`row_len` elements): components
/// uniform in [-1, 1), quantized (codes and metadata) for `i8`/`u8`,
/// binarized by sign for `bit`, zero padded.
fn random_row<T: Element>(kernel: &Kernel, rng: &mut StdRng) -> Vec<T> {
    let spec = kernel.spec();
    let row_len = kernel.row_len();
    let x: Vec<f32> = (0..spec.dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    // The element type is `T`'s (checked by the kernel's calls), so these
    // conversions of storage bits are the identity.
    let same = |bits: Vec<u64>| bits.into_iter().map(T::from_bits).collect();
    match spec.dtype {
        ElementType::I8 => same(
            quant::quantize::<i8>(&x, row_len)
                .expect("finite components")
                .iter()
                .map(|c| c.to_bits())
                .collect(),
        ),
        ElementType::U8 => same(
            quant::quantize::<u8>(&x, row_len)
                .expect("finite components")
                .iter()
                .map(|c| c.to_bits())
                .collect(),
        ),
        ElementType::Bit => same(quant::binarize(&x, row_len).expect("rows fit")),
        _ => {
            let mut row: Vec<T> = x.into_iter().map(T::from_f32).collect();
            row.resize(row_len, T::from_f32(0.0));
            row
        }
    }
}

fn time_as<T: Element>(kernel: &Kernel, budget: Duration, residency: Residency) -> Timing {
    if residency == Residency::Memory {
        return time_streaming::<T>(kernel, budget);
    }
    let row = kernel.row_len();
    let bytes = kernel.spec().dtype.size_bytes();
    let mut rng = StdRng::seed_from_u64(7);
    // Every vector starts on a cache line, as rows of the vector store do.
    let vector = |rng: &mut StdRng| AlignedBuf::<T>::from_slice(&random_row::<T>(kernel, rng));
    let query = vector(&mut rng);
    match kernel.spec().shape {
        Shape::Pair => {
            // A few rows besides the query, all inside L1 (at d1536 nine
            // rows would not be, and the timing would be of L2), checked
            // once: each call pays only `pair_checked`'s layout compare.
            // Results fold into one integer rather than being stored one
            // by one: a store per call cost several cycles at d768, which
            // hid the differences between schedules. The rows are visited
            // in a shuffled order (`visiting_order`).
            let others_fit = (PAIR_L1_BUDGET / (row * bytes)).saturating_sub(1);
            let others: Vec<AlignedBuf<T>> = (0..others_fit.clamp(1, 8))
                .map(|_| vector(&mut rng))
                .collect();
            let q = kernel.check_row(&query).expect("a valid row");
            let checked: Vec<_> = others
                .iter()
                .map(|b| kernel.check_row(b).expect("a valid row"))
                .collect();
            const ROUNDS: usize = 8;
            let order: Vec<_> = visiting_order(checked.len(), 11)
                .into_iter()
                .map(|i| checked[i])
                .collect();
            let ns = measure(budget, ROUNDS * order.len(), || {
                let mut folded = 0u32;
                for _ in 0..ROUNDS {
                    for &b in &order {
                        folded ^= kernel
                            .pair_checked(q, b)
                            .expect("a pair kernel, rows of its layout")
                            .to_bits();
                    }
                }
                black_box(folded);
            });
            Timing {
                ns_per_distance: ns,
                working_set_bytes: (1 + others.len()) * row * bytes,
            }
        }
        Shape::Gather | Shape::Scan => {
            let gather = kernel.spec().shape == Shape::Gather;
            // Gather picks its ids among all the rows; scan reads only the
            // rows it scans.
            let rows = if gather { TIMING_ROWS } else { CACHE_SCAN_ROWS };
            // Rows are padded to whole cache lines so that each starts on one.
            let stride = (row * bytes).div_ceil(64) * 64 / bytes;
            let mut base = AlignedBuf::<T>::zeroed(rows * stride);
            for r in 0..rows {
                base[r * stride..r * stride + row]
                    .copy_from_slice(&random_row::<T>(kernel, &mut rng));
            }
            let ids: Vec<u32> = (0..GATHER_IDS)
                .map(|_| rng.random_range(0..rows as u32))
                .collect();
            let mut out = vec![0.0f32; rows];
            let per_batch = if gather {
                GATHER_IDS * 16
            } else {
                CACHE_SCAN_ROWS
            };
            let ns = measure(budget, per_batch, || {
                if gather {
                    for _ in 0..16 {
                        kernel
                            .gather(&query, &base, stride, black_box(&ids), &mut out)
                            .expect("checked call");
                    }
                } else {
                    kernel
                        .scan(&query, &base, stride, CACHE_SCAN_ROWS, &mut out)
                        .expect("checked call");
                }
                black_box(&out);
            });
            let rows_read = if gather { GATHER_IDS } else { CACHE_SCAN_ROWS };
            Timing {
                ns_per_distance: ns,
                working_set_bytes: (rows_read * stride + row) * bytes,
            }
        }
    }
}

/// Median ns per distance over batches of `per_batch` distances.
fn measure(budget: Duration, per_batch: usize, mut batch: impl FnMut()) -> f64 {
    batch(); // warm caches and code
    let started = Instant::now();
    let mut samples = vec![];
    while samples.len() < 5 || (started.elapsed() < budget && samples.len() < 10_000) {
        let t = Instant::now();
        batch();
        samples.push(t.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Streams through a matrix of [`memory_working_set`] bytes: `scan` over
/// consecutive blocks, `gather` and `pair` over random rows.
fn time_streaming<T: Element>(kernel: &Kernel, budget: Duration) -> Timing {
    let row = kernel.row_len();
    let bytes = kernel.spec().dtype.size_bytes();
    let stride = (row * bytes).div_ceil(64) * 64 / bytes;
    let rows = (memory_working_set() / (stride * bytes)).max(2 * TIMING_ROWS);
    let mut rng = StdRng::seed_from_u64(11);
    let base = streamed_matrix::<T>(kernel, rows, stride);
    timed_over_memory(kernel, budget, &base, rows, stride, &mut rng)
}

thread_local! {
    /// The last matrix [`time_streaming`] built, and what it was built
    /// for: a tuner times hundreds of schedules of one spec, and building
    /// a matrix of gigabytes for each would take longer than timing them.
    /// It is held until the thread ends or another spec's replaces it.
    static STREAMED: std::cell::RefCell<Option<(String, std::rc::Rc<dyn std::any::Any>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `rows` rows of `stride` elements for `kernel`'s spec: one random row
/// repeated (quantizing gigabytes of rows would dominate the run; the
/// kernel's cost does not depend on the values). Reuses the last matrix
/// when it was built for the same rows.
fn streamed_matrix<T: Element>(
    kernel: &Kernel,
    rows: usize,
    stride: usize,
) -> std::rc::Rc<AlignedBuf<T>> {
    let spec = kernel.spec();
    let key = format!(
        "{}.{}.d{} row={} stride={stride} rows={rows}",
        spec.metric,
        spec.dtype,
        spec.dim,
        kernel.row_len()
    );
    let cached = STREAMED.with_borrow(|c| match c {
        Some((k, m)) if *k == key => m.clone().downcast::<AlignedBuf<T>>().ok(),
        _ => None,
    });
    if let Some(matrix) = cached {
        return matrix;
    }
    // Drop the old matrix before building the new one.
    STREAMED.with_borrow_mut(|c| *c = None);
    let row = kernel.row_len();
    let sample = random_row::<T>(kernel, &mut StdRng::seed_from_u64(13));
    let mut base = AlignedBuf::<T>::zeroed(rows * stride);
    for r in 0..rows {
        base[r * stride..r * stride + row].copy_from_slice(&sample);
    }
    let matrix = std::rc::Rc::new(base);
    STREAMED.with_borrow_mut(|c| *c = Some((key, matrix.clone())));
    matrix
}

/// Times `kernel` over `base`: `scan` over consecutive blocks, `gather`
/// and `pair` over random rows, the ids spread over the whole matrix so
/// that, like the blocks, they come from memory and not from the cache.
fn timed_over_memory<T: Element>(
    kernel: &Kernel,
    budget: Duration,
    base: &AlignedBuf<T>,
    rows: usize,
    stride: usize,
    rng: &mut StdRng,
) -> Timing {
    let row = kernel.row_len();
    let bytes = kernel.spec().dtype.size_bytes();
    let query = AlignedBuf::from_slice(&base[..row]);
    let mut out = vec![0.0f32; TIMING_ROWS];
    let mut cursor = 0usize;
    let ns = match kernel.spec().shape {
        Shape::Scan => measure(budget, TIMING_ROWS, || {
            let start = cursor * stride;
            kernel
                .scan(&query, &base[start..], stride, TIMING_ROWS, &mut out)
                .expect("checked call");
            cursor = (cursor + TIMING_ROWS) % (rows - TIMING_ROWS);
            black_box(&out);
        }),
        Shape::Gather => {
            // As many ids as the matrix has rows: a pass over them touches
            // most of it, so no batch finds its rows in the cache.
            let batches = rows / GATHER_IDS;
            let ids: Vec<u32> = (0..batches * GATHER_IDS)
                .map(|_| rng.random_range(0..rows as u32))
                .collect();
            measure(budget, GATHER_IDS, || {
                let batch = &ids[cursor * GATHER_IDS..(cursor + 1) * GATHER_IDS];
                kernel
                    .gather(&query, base, stride, batch, &mut out)
                    .expect("checked call");
                cursor = (cursor + 1) % batches;
                black_box(&out);
            })
        }
        Shape::Pair => {
            let picks: Vec<usize> = (0..rows).map(|_| rng.random_range(0..rows)).collect();
            measure(budget, 64, || {
                for k in 0..64 {
                    let r = picks[(cursor + k) % picks.len()];
                    black_box(
                        kernel
                            .pair(&query, &base[r * stride..r * stride + row])
                            .expect("checked call"),
                    );
                }
                cursor = (cursor + 64) % picks.len();
            })
        }
    };
    Timing {
        ns_per_distance: ns,
        working_set_bytes: rows * stride * bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hektor_codegen::cranelift::CraneliftBackend;
    use hektor_codegen::{compile, CompileOptions};
    use hektor_kernels::{KernelSpec, Metric, Schedule};

    fn pair_kernel(dim: usize) -> Kernel {
        let spec = KernelSpec::new(Metric::Ip, ElementType::F32, dim, Shape::Pair).unwrap();
        let backend = CraneliftBackend::host().unwrap();
        compile(
            &spec,
            &Schedule::default_for(&spec),
            &backend,
            CompileOptions::default(),
        )
        .unwrap()
        .kernel
    }

    #[test]
    fn cache_sizes_parse_as_sysfs_writes_them() {
        assert_eq!(cache_size_bytes("48K\n"), Some(48 << 10));
        assert_eq!(cache_size_bytes("307200K"), Some(300 << 20));
        assert_eq!(cache_size_bytes("32M"), Some(32 << 20));
        assert_eq!(cache_size_bytes("1G"), Some(1 << 30));
        assert_eq!(cache_size_bytes("4096"), Some(4096));
        assert_eq!(cache_size_bytes(""), None);
        assert_eq!(cache_size_bytes("K"), None);
        assert_eq!(cache_size_bytes("12X"), None);
        assert_eq!(cache_size_bytes("99999999999999999999G"), None);
    }

    /// The memory timing's matrix is at least four times the last-level
    /// cache (when sysfs tells it), and within its bounds.
    #[test]
    fn memory_working_set_outgrows_the_last_level_cache() {
        let set = memory_working_set();
        assert!((MIN_MEMORY_WORKING_SET..=MAX_MEMORY_WORKING_SET).contains(&set));
        if let Some(llc) = last_level_cache() {
            assert!(
                set >= (4 * llc).min(MAX_MEMORY_WORKING_SET),
                "{set} for {llc}"
            );
        }
    }

    /// Every row is visited, each round of `n` visits is a permutation, no
    /// row follows itself, and the strides between visits are not all one
    /// stride (what the order exists to avoid).
    #[test]
    fn visiting_order_shuffles_without_repeats() {
        assert_eq!(visiting_order(1, 3), vec![0; VISITS]);
        for n in [2usize, 3, 4, 8, 16] {
            let order = visiting_order(n, 3);
            assert_eq!(order.len(), VISITS);
            for round in order.chunks_exact(n) {
                let mut sorted = round.to_vec();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n={n}");
            }
            assert!(order.windows(2).all(|w| w[0] != w[1]), "n={n}: {order:?}");
            let strides: Vec<isize> = order
                .windows(2)
                .map(|w| w[1] as isize - w[0] as isize)
                .collect();
            if n > 2 {
                assert!(strides.iter().any(|&s| s != strides[0]), "n={n}");
            }
        }
    }

    /// Pair timings are of the kernel over L1-resident rows: the query and
    /// as many rows as fit in `PAIR_L1_BUDGET`, at least one.
    #[test]
    fn pair_timings_stay_inside_l1() {
        for dim in [96, 768, 1536, 4096] {
            let k = pair_kernel(dim);
            let t = time_kernel(&k, Duration::from_millis(1));
            let row_bytes = dim * 4;
            assert!(t.ns_per_distance.is_finite() && t.ns_per_distance > 0.0);
            assert!(
                t.working_set_bytes <= PAIR_L1_BUDGET.max(2 * row_bytes),
                "d{dim}: {} bytes",
                t.working_set_bytes
            );
            assert!(t.working_set_bytes >= 2 * row_bytes, "d{dim}");
        }
    }
}
