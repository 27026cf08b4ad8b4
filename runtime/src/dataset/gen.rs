//! Synthetic data sets for benchmarks and tests.
//!
//! `clustered` is a Gaussian mixture at SIFT's scale: cluster centres
//! uniform in `[0, 128]^dim`, each cluster with its own spread, weight and
//! a low-rank shape, values clamped to `[0, 255]` like SIFT's byte
//! histograms. Real embeddings are not isotropic: most of their variance
//! lies in a few directions (SIFT's intrinsic dimension is in the teens).
//! Isotropic Gaussian noise in 128 dimensions makes every point nearly
//! equidistant from every other in its cluster, which no real corpus does
//! and which makes any approximate index look worse than it is; so each
//! cluster spreads mostly along its own random `LATENT`-dimensional
//! subspace, plus a little isotropic noise.
//!
//! Determinism: every random number comes from `ChaCha8Rng` (rand_chacha
//! 0.9, a portable, specified stream, unlike `StdRng`, whose algorithm may
//! change between rand versions) seeded with the user's seed. The model
//! (centres, spreads, weights, subspaces) uses stream 0; base rows come in
//! fixed chunks of [`CHUNK_ROWS`], chunk `c` of part `p` (1 = base, 2 =
//! queries) from stream `p << 48 | c`. Which thread fills a chunk therefore
//! does not matter: the output depends on the seed alone, not on the
//! thread count.

use super::{DatasetError, Matrix};
use hektor_kernels::MAX_DIM;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Rows per independently seeded chunk.
pub const CHUNK_ROWS: usize = 1024;

/// Dimension of each cluster's subspace (fewer when `dim` is smaller).
const LATENT: usize = 16;

/// The kinds of synthetic data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Gaussian mixture at SIFT's scale (see the module docs).
    Clustered,
}

impl FromStr for Kind {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, DatasetError> {
        match s {
            "clustered" => Ok(Kind::Clustered),
            _ => Err(DatasetError::Invalid {
                what: "data kind",
                reason: format!("unknown kind `{s}` (known: clustered)"),
            }),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub kind: Kind,
    /// Base vectors (≥ 1).
    pub n: usize,
    /// Dimension, 1..=65536.
    pub dim: usize,
    /// Query vectors, drawn from the same distribution (may be 0).
    pub queries: usize,
    pub seed: u64,
    /// Worker threads; 0 = every core.
    pub threads: usize,
}

/// Base and query vectors of one distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub base: Matrix,
    pub queries: Matrix,
}

/// Generates the data set `spec` describes.
pub fn generate(spec: &GenSpec) -> Result<Dataset, DatasetError> {
    generate_with_progress(spec, &|_, _| {})
}

/// As [`generate`], calling `progress(rows done, rows total)` (base and
/// queries together) from the worker threads as chunks finish.
pub fn generate_with_progress(
    spec: &GenSpec,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Dataset, DatasetError> {
    let invalid = |reason: String| DatasetError::Invalid {
        what: "generator",
        reason,
    };
    if spec.n == 0 {
        return Err(invalid("n must be at least 1".into()));
    }
    if spec.dim == 0 || spec.dim > MAX_DIM {
        return Err(invalid(format!(
            "dimension {} is out of range (must be 1..={MAX_DIM})",
            spec.dim
        )));
    }
    // Refuse what cannot be allocated before trying: ids are u32, and
    // the values must be addressable.
    let total_rows = spec
        .n
        .checked_add(spec.queries)
        .filter(|&r| r <= u32::MAX as usize)
        .ok_or_else(|| invalid("n + queries must fit in u32 ids".into()))?;
    total_rows
        .checked_mul(spec.dim)
        .and_then(|v| v.checked_mul(4))
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| invalid("the data set would not fit in memory".into()))?;
    let Kind::Clustered = spec.kind;
    let model = Model::new(spec.seed, spec.n + spec.queries, spec.dim);
    let threads = match spec.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    };
    let done = AtomicUsize::new(0);
    let on_chunk = |rows: usize| {
        let d = done.fetch_add(rows, Ordering::Relaxed) + rows;
        progress(d, total_rows);
    };
    let base = model.sample(spec.seed, 1, spec.n, threads, &on_chunk);
    let queries = model.sample(spec.seed, 2, spec.queries, threads, &on_chunk);
    Ok(Dataset {
        base: Matrix::new(spec.dim, base)?,
        queries: Matrix::new(spec.dim, queries)?,
    })
}

/// The mixture: per cluster a centre, a spread, a weight and a basis.
struct Model {
    dim: usize,
    latent: usize,
    centres: Vec<f32>,
    /// Standard deviation along the cluster's subspace, per coordinate.
    spread: Vec<f32>,
    /// `latent × dim` per cluster, entries N(0, 1/latent), so that a
    /// standard normal latent vector has unit variance per coordinate.
    bases: Vec<f32>,
    /// Cumulative cluster weights, ending at 1.
    cumulative: Vec<f64>,
}

/// Isotropic noise on top of each cluster's subspace (per coordinate).
const NOISE: f32 = 2.0;

impl Model {
    fn new(seed: u64, rows: usize, dim: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0);
        // About a thousand points per cluster, as in a SIFT-sized corpus
        // partitioned by k-means, within bounds that keep the model small.
        let clusters = (rows / 1000).clamp(8, 1024);
        let latent = LATENT.min(dim);
        let centres = (0..clusters * dim)
            .map(|_| rng.random_range(0.0f32..128.0))
            .collect();
        let spread = (0..clusters)
            .map(|_| rng.random_range(6.0f32..20.0))
            .collect();
        let scale = 1.0 / (latent as f32).sqrt();
        let bases = (0..clusters * latent * dim)
            .map(|_| rng.sample::<f32, _>(StandardNormal) * scale)
            .collect();
        // Log-normal weights: some clusters several times denser than
        // others, as real data has.
        let weights: Vec<f64> = (0..clusters)
            .map(|_| rng.sample::<f64, _>(StandardNormal).exp())
            .collect();
        let sum: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / sum;
                acc
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Model {
            dim,
            latent,
            centres,
            spread,
            bases,
            cumulative,
        }
    }

    /// `rows` vectors of part `part`, filled chunk by chunk on `threads`.
    fn sample(
        &self,
        seed: u64,
        part: u64,
        rows: usize,
        threads: usize,
        on_chunk: &(dyn Fn(usize) + Sync),
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; rows * self.dim];
        if rows == 0 {
            return out;
        }
        // Threads take the next chunk from a shared iterator, so a slow
        // thread (a busy core) does not hold the others up.
        let chunks = Mutex::new(out.chunks_mut(CHUNK_ROWS * self.dim).enumerate());
        std::thread::scope(|s| {
            for _ in 0..threads.min(rows.div_ceil(CHUNK_ROWS)) {
                s.spawn(|| loop {
                    // A poisoned lock means another worker panicked; the
                    // scope re-raises that panic, so just stop.
                    let next = match chunks.lock() {
                        Ok(mut it) => it.next(),
                        Err(_) => None,
                    };
                    let Some((c, chunk)) = next else { break };
                    let mut rng = ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(part << 48 | c as u64);
                    self.fill(&mut rng, chunk);
                    on_chunk(chunk.len() / self.dim);
                });
            }
        });
        out
    }

    fn fill(&self, rng: &mut ChaCha8Rng, chunk: &mut [f32]) {
        let (dim, latent) = (self.dim, self.latent);
        let mut z = vec![0.0f32; latent];
        for row in chunk.chunks_exact_mut(dim) {
            let u: f64 = rng.random();
            let c = self
                .cumulative
                .partition_point(|&w| w < u)
                .min(self.cumulative.len() - 1);
            for v in z.iter_mut() {
                *v = rng.sample::<f32, _>(StandardNormal) * self.spread[c];
            }
            row.copy_from_slice(&self.centres[c * dim..(c + 1) * dim]);
            let basis = &self.bases[c * latent * dim..(c + 1) * latent * dim];
            for (&zj, b) in z.iter().zip(basis.chunks_exact(dim)) {
                for (x, &bj) in row.iter_mut().zip(b) {
                    *x += zj * bj;
                }
            }
            for x in row.iter_mut() {
                let noise: f32 = rng.sample(StandardNormal);
                *x = (*x + NOISE * noise).clamp(0.0, 255.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(n: usize, queries: usize, threads: usize) -> GenSpec {
        GenSpec {
            kind: Kind::Clustered,
            n,
            dim: 24,
            queries,
            seed: 7,
            threads,
        }
    }

    #[test]
    fn output_depends_on_the_seed_not_the_thread_count() {
        let one = generate(&spec(3000, 500, 1)).unwrap();
        let four = generate(&spec(3000, 500, 4)).unwrap();
        assert_eq!(one, four);
        assert_eq!(one.base.len(), 3000);
        assert_eq!(one.queries.len(), 500);
        let other = generate(&GenSpec {
            seed: 8,
            ..spec(3000, 500, 4)
        })
        .unwrap();
        assert_ne!(one.base, other.base);
        // Queries are not copies of base rows.
        assert_ne!(one.queries.row(0), one.base.row(0));
    }

    #[test]
    fn values_are_at_sift_scale_and_clustered() {
        let d = generate(&spec(5000, 0, 2)).unwrap();
        let v = d.base.as_slice();
        assert!(v.iter().all(|x| (0.0..=255.0).contains(x)));
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        assert!((40.0..90.0).contains(&mean), "mean {mean}");
        // Clustered: a row's nearest other row is much closer than a
        // random row is.
        let dist = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
        };
        let q = d.base.row(0);
        let nearest = (1..d.base.len())
            .map(|i| dist(q, d.base.row(i)))
            .fold(f64::INFINITY, f64::min);
        let typical = (1..d.base.len())
            .map(|i| dist(q, d.base.row(i)))
            .sum::<f64>()
            / (d.base.len() - 1) as f64;
        assert!(
            nearest < typical / 4.0,
            "nearest {nearest} typical {typical}"
        );
    }

    #[test]
    fn progress_counts_every_row_and_bad_specs_are_refused() {
        let seen = AtomicUsize::new(0);
        generate_with_progress(&spec(2500, 100, 3), &|done, total| {
            assert_eq!(total, 2600);
            seen.fetch_max(done, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 2600);
        assert!(generate(&spec(0, 1, 1)).is_err());
        assert!(generate(&GenSpec {
            dim: 0,
            ..spec(1, 1, 1)
        })
        .is_err());
        assert!(generate(&GenSpec {
            dim: MAX_DIM + 1,
            ..spec(1, 1, 1)
        })
        .is_err());
        assert!("gaussian".parse::<Kind>().is_err());
        assert_eq!("clustered".parse::<Kind>().unwrap(), Kind::Clustered);
    }
}
