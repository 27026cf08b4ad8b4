//! Autotuning and the tuning file ("wisdom", as FFTW calls it).
//!
//! `hektor tune` times a set of candidate schedules for a spec on this
//! machine and stores the fastest in a JSON file keyed by CPU model, CPU
//! features, backend and spec. At start-up the runtime looks a spec up in
//! that file ([`ScheduleBook::schedule_for`]) and falls back to
//! [`default_schedule`] otherwise. The file is advice, never trusted: a
//! corrupt file, an entry for another CPU, or a schedule that no longer
//! parses is reported and ignored, and a tuned kernel is still verified
//! against the oracle like any other.

use crate::default_schedule;
use crate::timing::{time_kernel_in, Residency, Timing};
use hektor_codegen::host::{cpu_model, HostFeatures};
use hektor_codegen::{compile, Backend, BackendKind, CodegenError, CompileOptions};
use hektor_kernels::{KernelSpec, Schedule, TailStrategy, Unroll, DEFAULT_PREFETCH_LINES};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's format version; other versions are ignored. Version 2:
/// schedules carry `pflines`, and a `prefetch` of version 1 meant every
/// line of the row, so its entries would now be read as other schedules.
pub const FORMAT_VERSION: u32 = 2;

/// One tuned schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuningEntry {
    pub cpu: String,
    pub features: String,
    pub backend: String,
    pub spec: String,
    pub residency: Residency,
    pub schedule: String,
    pub ns_per_distance: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TuningFile {
    version: u32,
    entries: Vec<TuningEntry>,
}

/// Where the tuning file lives: `$HEKTOR_TUNING_FILE`, else
/// `$XDG_CACHE_HOME/hektor/tuning.json`, else `~/.cache/hektor/tuning.json`.
pub fn default_tuning_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HEKTOR_TUNING_FILE") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    cache.join("hektor").join("tuning.json")
}

/// The schedules this host should use: tuned ones where the file has them.
#[derive(Debug, Clone, Default)]
pub struct ScheduleBook {
    entries: Vec<TuningEntry>,
    /// Why entries (or the whole file) were ignored, for the user to see.
    pub warnings: Vec<String>,
}

/// Where a schedule came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleSource {
    Tuned,
    Default,
}

fn host_key() -> (String, String) {
    (cpu_model(), HostFeatures::detect().to_string())
}

impl ScheduleBook {
    /// No tuning: every spec gets the default schedule.
    pub fn defaults() -> Self {
        ScheduleBook::default()
    }

    /// Reads `path`. A missing file is not an error (nothing tuned yet);
    /// an unreadable or corrupt one becomes a warning and is ignored, as
    /// are entries for another CPU.
    pub fn load(path: &Path) -> Self {
        let mut book = ScheduleBook::default();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return book,
            Err(e) => {
                book.warnings
                    .push(format!("tuning file {}: {e}; ignored", path.display()));
                return book;
            }
        };
        let file: TuningFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                book.warnings.push(format!(
                    "tuning file {} is corrupt ({e}); ignored",
                    path.display()
                ));
                return book;
            }
        };
        if file.version != FORMAT_VERSION {
            book.warnings.push(format!(
                "tuning file {} has format version {}, this hektor reads {FORMAT_VERSION}; ignored",
                path.display(),
                file.version
            ));
            return book;
        }
        let (cpu, features) = host_key();
        for e in file.entries {
            if e.cpu != cpu || e.features != features {
                continue; // tuned on another machine: stale here, not wrong
            }
            let parsed = e
                .spec
                .parse::<KernelSpec>()
                .map_err(|x| x.to_string())
                .and_then(|_| e.schedule.parse::<Schedule>().map_err(|x| x.to_string()));
            match parsed {
                Ok(_) => book.entries.push(e),
                Err(why) => book.warnings.push(format!(
                    "tuning file {}: entry for {} has an invalid schedule `{}` ({why}); ignored",
                    path.display(),
                    e.spec,
                    e.schedule
                )),
            }
        }
        book
    }

    /// The schedule for `spec` on `backend`: the tuned one (cache-resident
    /// timing preferred) if the spec and the backend accept it, else the
    /// default.
    pub fn schedule_for(
        &self,
        spec: &KernelSpec,
        backend: &dyn Backend,
    ) -> (Schedule, ScheduleSource) {
        let name = spec.to_string();
        let tuned = [Residency::Cache, Residency::Memory].iter().find_map(|r| {
            self.entries
                .iter()
                .find(|e| e.spec == name && e.backend == backend.kind().name() && e.residency == *r)
                .and_then(|e| e.schedule.parse::<Schedule>().ok())
                .filter(|s| {
                    spec.check_schedule(s).is_ok() && backend.check_schedule(spec, s).is_ok()
                })
        });
        match tuned {
            Some(s) => (s, ScheduleSource::Tuned),
            None => (default_schedule(spec, backend), ScheduleSource::Default),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Records `winner` in the file at `path`, replacing the entry with the
/// same key, keeping the others (including other machines'). A corrupt
/// existing file is replaced (and said so in the returned warnings).
pub fn store(path: &Path, winner: TuningEntry) -> std::io::Result<Vec<String>> {
    let mut warnings = vec![];
    let mut file = match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str::<TuningFile>(&text) {
            Ok(f) if f.version == FORMAT_VERSION => f,
            _ => {
                warnings.push(format!(
                    "replacing unreadable tuning file {}",
                    path.display()
                ));
                TuningFile {
                    version: FORMAT_VERSION,
                    entries: vec![],
                }
            }
        },
        Err(_) => TuningFile {
            version: FORMAT_VERSION,
            entries: vec![],
        },
    };
    file.entries.retain(|e| {
        (&e.cpu, &e.features, &e.backend, &e.spec, e.residency)
            != (
                &winner.cpu,
                &winner.features,
                &winner.backend,
                &winner.spec,
                winner.residency,
            )
    });
    file.entries.push(winner);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename: a crash mid-write leaves the old file intact.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string_pretty(&file).expect("serializable"),
    )?;
    std::fs::rename(&tmp, path)?;
    Ok(warnings)
}

/// The schedules `hektor tune` tries for `spec` on `backend`: width ×
/// unroll × accumulators × prefetch (row shapes: rows ahead, and lines of
/// each) × tail × rows a tile (row shapes). Padded tails are
/// left out: they change the row layout, which the index fixes, not the
/// tuner.
pub fn candidates(spec: &KernelSpec, backend: &dyn Backend) -> Vec<Schedule> {
    let max = backend.max_width();
    // Integer kernels also try scalar code (`popcnt`; Cranelift's only
    // form for them); codes go up to a register of bytes, 4× the f32 lanes.
    let (smallest, max) = match spec.dtype {
        d if d.is_quantized() => (1, 4 * max),
        d if d.is_integer() => (1, max),
        _ => (4, max),
    };
    let widths: Vec<u32> = [1u32, 4, 8, 16, 32, 64]
        .into_iter()
        .filter(|&w| w >= smallest && w <= max)
        .collect();
    // (rows ahead, lines of each row): off; the first lines at a few
    // distances; and whole rows, for when the hardware prefetchers do not
    // follow a row (`Schedule::prefetch_lines`).
    let lines = DEFAULT_PREFETCH_LINES;
    let prefetches: &[(u32, u32)] = if spec.shape.has_rows() {
        &[
            (0, lines),
            (2, lines),
            (4, lines),
            (8, lines),
            (16, lines),
            (4, 0),
        ]
    } else {
        &[(0, lines)]
    };
    // Rows a tile (`Schedule::tile_rows`), up to 16 sums in all: the
    // registers hold them and a few loads besides.
    let tiles: &[u32] = if spec.shape.has_rows() {
        &[1, 2, 4]
    } else {
        &[1]
    };
    let mut out = vec![];
    for &width in &widths {
        for unroll in [1u32, 2, 4] {
            for accumulators in [1u32, 2, 4, 8] {
                for &tile_rows in tiles.iter().filter(|&&t| t * accumulators <= 16) {
                    for &(prefetch, prefetch_lines) in prefetches {
                        for tail in [TailStrategy::Scalar, TailStrategy::Masked] {
                            let s = Schedule {
                                width,
                                unroll: Unroll::Factor(unroll),
                                accumulators,
                                prefetch,
                                prefetch_lines,
                                tail,
                                tile_rows,
                            };
                            if backend.check_schedule(spec, &s).is_ok() {
                                out.push(s);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// One candidate's result.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub schedule: Schedule,
    pub timing: Timing,
    pub compile: Duration,
}

/// How many of the first pass's fastest candidates are timed again, head
/// to head, with the runtime's default schedule among them. One pass of
/// `budget` per candidate cannot separate schedules within a few percent:
/// picked on noise, a "winner" was slower in the kernel bench than the
/// default it replaced.
pub const FINALISTS: usize = 5;
/// Rounds of the head-to-head timing; each finalist keeps its median.
/// The rounds interleave the finalists, so a drift of the clock falls on
/// all of them alike.
pub const FINAL_ROUNDS: usize = 3;

/// Compiles (and so verifies), then times every candidate; then times the
/// [`FINALISTS`] fastest and the runtime's default schedule again, head to
/// head ([`FINAL_ROUNDS`] rounds). Returns the finalists first, fastest
/// first by their head-to-head median, then the other candidates by their
/// first timing. `progress(done, total)` is called after each timing.
pub fn tune(
    spec: &KernelSpec,
    backend: &dyn Backend,
    residency: Residency,
    budget: Duration,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Trial>, CodegenError> {
    let mut all = candidates(spec, backend);
    let default = default_schedule(spec, backend);
    if !all.contains(&default) && backend.check_schedule(spec, &default).is_ok() {
        all.push(default);
    }
    let finalists = FINALISTS.min(all.len()) + 1;
    let total = all.len() + finalists * FINAL_ROUNDS;
    let mut trials = Vec::with_capacity(all.len());
    for (k, schedule) in all.iter().enumerate() {
        let c = compile(spec, schedule, backend, CompileOptions::default())?;
        let timing = time_kernel_in(&c.kernel, budget, residency);
        trials.push(Trial {
            schedule: *schedule,
            timing,
            compile: c.kernel.stats().total,
        });
        progress(k + 1, total);
    }
    let by_time = |a: &Trial, b: &Trial| {
        a.timing
            .ns_per_distance
            .total_cmp(&b.timing.ns_per_distance)
    };
    trials.sort_by(by_time);

    // The head to head: the fastest few, and the default wherever it ranked.
    let mut chosen: Vec<usize> = (0..FINALISTS.min(trials.len())).collect();
    if let Some(d) = trials.iter().position(|t| t.schedule == default) {
        if !chosen.contains(&d) {
            chosen.push(d);
        }
    }
    let kernels = chosen
        .iter()
        .map(|&i| {
            compile(
                spec,
                &trials[i].schedule,
                backend,
                CompileOptions::default(),
            )
            .map(|c| c.kernel)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut samples = vec![Vec::with_capacity(FINAL_ROUNDS); chosen.len()];
    let mut done = all.len();
    for _ in 0..FINAL_ROUNDS {
        for (j, kernel) in kernels.iter().enumerate() {
            samples[j].push(time_kernel_in(kernel, budget, residency).ns_per_distance);
            done += 1;
            progress(done, total);
        }
    }
    let mut finals: Vec<Trial> = Vec::with_capacity(chosen.len());
    for (j, &i) in chosen.iter().enumerate() {
        let mut t = trials[i].clone();
        samples[j].sort_by(f64::total_cmp);
        t.timing.ns_per_distance = samples[j][samples[j].len() / 2];
        finals.push(t);
    }
    finals.sort_by(by_time);
    // The rest keep the first pass's order.
    finals.extend(
        trials
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !chosen.contains(i))
            .map(|(_, t)| t),
    );
    // When the default was one of the fastest there is one finalist fewer
    // than `total` allowed for: the bar still ends full.
    progress(total, total);
    Ok(finals)
}

/// The tuning-file entry for the winner of a tuning run on this host.
pub fn entry_for(
    spec: &KernelSpec,
    backend: BackendKind,
    residency: Residency,
    best: &Trial,
) -> TuningEntry {
    let (cpu, features) = host_key();
    TuningEntry {
        cpu,
        features,
        backend: backend.name().to_string(),
        spec: spec.to_string(),
        residency,
        schedule: best.schedule.to_string(),
        ns_per_distance: best.timing.ns_per_distance,
    }
}
