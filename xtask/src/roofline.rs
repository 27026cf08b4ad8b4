//! How close a `pair` kernel comes to the core's limit.
//!
//! A pair kernel on L1-resident f32 vectors is bound by loads: it must
//! load both vectors, 2·dim floats, and the core loads at most two vectors
//! of `lanes` floats a cycle (two load ports: `lanes` = 16 with AVX-512, 8
//! with AVX2, 4 with SSE). So a pair takes at least `dim / lanes` cycles,
//! whatever the metric (cosine's three sums and l2's subtraction add
//! arithmetic, not loads; on a core with one 512-bit FMA port they can make
//! arithmetic the tighter bound, so the fraction reported for them is an
//! upper bound on how close they are).
//!
//! Cycles come from clocks measured by the bench itself with a chain of
//! dependent 1-cycle adds (`hektor_codegen::mca::add_chain`): once at the
//! start (`target/bench-machine.json`), and, for `llvm_kernel`, after every
//! criterion sample, so that each sample's time per call turns into
//! cycles at the clock of that moment (`target/bench-kernel-cycles.jsonl`,
//! one line a sample). This VM's clock was seen anywhere from 3.2 to
//! 4.1 GHz within one session.

use crate::cpu::CpuInfo;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// The file the kernel bench writes its clock measurement to.
pub const MACHINE_FILE: &str = "bench-machine.json";
/// The file the kernel bench appends `llvm_kernel`'s per-sample cycles to.
pub const CYCLES_FILE: &str = "bench-kernel-cycles.jsonl";

/// `llvm_kernel`'s cycles per call in one group: medians over its samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelCycles {
    pub cycles: f64,
    /// The clock the samples were taken at.
    pub ghz: f64,
}

impl KernelCycles {
    /// Per group id, from the lines of `target/bench-kernel-cycles.jsonl`
    /// (`{"group": …, "cycles": …, "ghz": …}`) if the bench wrote the file
    /// after `started`. Lines that do not parse are skipped.
    pub fn of_run(target: &Path, started: SystemTime) -> BTreeMap<String, KernelCycles> {
        let path = target.join(CYCLES_FILE);
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= started);
        let text = if fresh {
            std::fs::read_to_string(&path).unwrap_or_default()
        } else {
            String::new()
        };
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> BTreeMap<String, KernelCycles> {
        let mut samples: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(group), Some(cycles), Some(ghz)) = (
                v.get("group").and_then(|g| g.as_str()),
                v.get("cycles")
                    .and_then(|c| c.as_f64())
                    .filter(|c| *c > 0.0),
                v.get("ghz").and_then(|g| g.as_f64()).filter(|g| *g > 0.0),
            ) else {
                continue;
            };
            let entry = samples.entry(group.to_string()).or_default();
            entry.0.push(cycles);
            entry.1.push(ghz);
        }
        samples
            .into_iter()
            .map(|(group, (cycles, ghz))| {
                let c = KernelCycles {
                    cycles: median(cycles),
                    ghz: median(ghz),
                };
                (group, c)
            })
            .collect()
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roofline {
    /// Measured core clock.
    pub ghz: f64,
    /// f32 lanes of the widest vector the CPU has.
    pub lanes: u32,
}

impl Roofline {
    /// The roofline of this run: the clock from `target/bench-machine.json`
    /// if the bench wrote it after `started`, the lanes from the CPU flags.
    pub fn of_run(target: &Path, cpu: &CpuInfo, started: SystemTime) -> Option<Roofline> {
        let path = target.join(MACHINE_FILE);
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= started);
        if !fresh {
            return None;
        }
        let text = std::fs::read_to_string(&path).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        let ghz = value.get("clock_ghz")?.as_f64().filter(|g| *g > 0.0)?;
        Some(Roofline {
            ghz,
            lanes: lanes(cpu),
        })
    }

    /// The fewest nanoseconds one `dim`-dimensional f32 pair can take.
    pub fn pair_floor_ns(&self, dim: u64) -> f64 {
        self.bound_cycles(dim) / self.ghz
    }

    /// The fewest cycles one `dim`-dimensional f32 pair can take.
    pub fn bound_cycles(&self, dim: u64) -> f64 {
        dim as f64 / f64::from(self.lanes)
    }

    /// The fraction of the load bound a pair taking `ns` reaches.
    pub fn fraction(&self, dim: u64, ns: f64) -> f64 {
        self.pair_floor_ns(dim) / ns
    }
}

/// f32 lanes of the widest vectors `cpu` has.
pub fn lanes(cpu: &CpuInfo) -> u32 {
    if cpu.flags.contains("avx512f") {
        16
    } else if cpu.flags.contains("avx") {
        8
    } else {
        4
    }
}

/// Floating-point operations of one `metric` distance of `dim`
/// components: 2 per component for a dot product (multiply, add), 3 for
/// l2 (subtract, multiply, add), 6 for cosine (three dot products), 2 for
/// cosine with stored norms (one dot product; the final multiply is not
/// counted). `None` for metrics that are not f32 arithmetic.
pub fn flops(metric: &str, dim: u64) -> Option<f64> {
    let per_component = match metric {
        "ip" | "cosine_norms" => 2.0,
        "l2" => 3.0,
        "cosine" => 6.0,
        _ => return None,
    };
    Some(per_component * dim as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_cycles_are_medians_per_group() {
        let text = "{\"group\": \"pair/ip/d768\", \"cycles\": 60.0, \"ghz\": 4.0}\n\
                    {\"group\": \"pair/ip/d768\", \"cycles\": 50.0, \"ghz\": 3.0}\n\
                    {\"group\": \"pair/ip/d768\", \"cycles\": 70.0, \"ghz\": 3.5}\n\
                    not json\n\
                    {\"group\": \"pair/l2/d768\", \"cycles\": -1, \"ghz\": 4.0}\n\
                    {\"group\": \"pair/l2/d96\", \"cycles\": 9.0, \"ghz\": 4.0}\n";
        let c = KernelCycles::parse(text);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(
            c["pair/ip/d768"],
            KernelCycles {
                cycles: 60.0,
                ghz: 3.5
            }
        );
        assert_eq!(c["pair/l2/d96"].cycles, 9.0);
    }

    #[test]
    fn the_floor_is_dim_over_lanes_cycles() {
        let r = Roofline {
            ghz: 4.0,
            lanes: 16,
        };
        // 768 / 16 = 48 cycles = 12 ns at 4 GHz.
        assert_eq!(r.pair_floor_ns(768), 12.0);
        assert_eq!(r.fraction(768, 24.0), 0.5);
        assert_eq!(flops("l2", 100), Some(300.0));
        assert_eq!(flops("hamming", 100), None);
    }

    #[test]
    fn lanes_follow_the_widest_vectors() {
        let cpu = |flags: &str| crate::cpu::parse(&format!("flags : {flags}\n"));
        assert_eq!(lanes(&cpu("sse4_2 avx avx2 avx512f")), 16);
        assert_eq!(lanes(&cpu("sse4_2 avx avx2")), 8);
        assert_eq!(lanes(&cpu("sse4_2")), 4);
    }
}
