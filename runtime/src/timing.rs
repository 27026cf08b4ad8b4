//! How long a kernel takes per distance on this machine, measured the way
//! the runtime will call it. Used by `hektor kernels`; criterion benches
//! (benches/) are the careful measurement.

use hektor_codegen::Kernel;
use hektor_kernels::Shape;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Rows in the matrix that `gather` and `scan` timings walk.
pub const TIMING_ROWS: usize = 1024;
/// Ids one `gather` call visits (an HNSW neighbour list is 16–64).
pub const GATHER_IDS: usize = 64;

/// The median over several batches of the time per distance.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timing {
    pub ns_per_distance: f64,
    /// Bytes of vectors the timing loop touches (the working set).
    pub working_set_bytes: usize,
}

/// Times `kernel` for roughly `budget`.
pub fn time_kernel(kernel: &Kernel, budget: Duration) -> Timing {
    let row = kernel.row_len();
    let dim = kernel.spec().dim;
    let mut rng = StdRng::seed_from_u64(7);
    let vector = |rng: &mut StdRng| {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        v.resize(row, 0.0);
        v
    };
    let query = vector(&mut rng);
    match kernel.spec().shape {
        Shape::Pair => {
            // A few pairs, L1-resident, so the number is the kernel's own.
            let others: Vec<Vec<f32>> = (0..8).map(|_| vector(&mut rng)).collect();
            let per_batch = 8 * 64;
            let ns = measure(budget, per_batch, || {
                for _ in 0..64 {
                    for b in &others {
                        black_box(
                            kernel
                                .pair(black_box(&query), black_box(b))
                                .expect("checked shape"),
                        );
                    }
                }
            });
            Timing {
                ns_per_distance: ns,
                working_set_bytes: 9 * row * 4,
            }
        }
        Shape::Gather | Shape::Scan => {
            let base: Vec<f32> = (0..TIMING_ROWS).flat_map(|_| vector(&mut rng)).collect();
            let ids: Vec<u32> = (0..GATHER_IDS)
                .map(|_| rng.random_range(0..TIMING_ROWS as u32))
                .collect();
            let mut out = vec![0.0f32; TIMING_ROWS];
            let gather = kernel.spec().shape == Shape::Gather;
            let per_batch = if gather { GATHER_IDS * 16 } else { TIMING_ROWS };
            let ns = measure(budget, per_batch, || {
                if gather {
                    for _ in 0..16 {
                        kernel
                            .gather(&query, &base, row, black_box(&ids), &mut out)
                            .expect("checked call");
                    }
                } else {
                    kernel
                        .scan(&query, &base, row, TIMING_ROWS, &mut out)
                        .expect("checked call");
                }
                black_box(&out);
            });
            Timing {
                ns_per_distance: ns,
                working_set_bytes: (TIMING_ROWS + 1) * row * 4,
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
