//! How close a `pair` kernel comes to the core's limit.
//!
//! A pair kernel on L1-resident f32 vectors is bound by loads: it must
//! load both vectors, 2·dim floats, and the core loads at most two vectors
//! of `lanes` floats a cycle (two load ports: `lanes` = 16 with AVX-512, 8
//! with AVX2, 4 with SSE). So a pair takes at least `dim / lanes` cycles,
//! whatever the metric (cosine's three sums and l2's subtraction add
//! arithmetic, not loads; on a core with one 512-bit FMA port they can make
//! arithmetic the tighter bound, so the fraction reported for them is an
//! upper bound on how close they are). The clock is measured by the bench
//! itself (`hektor_codegen::mca::measure_ghz`: a chain of dependent 1-cycle
//! adds) and saved in `target/bench-machine.json`.

use crate::cpu::CpuInfo;
use std::path::Path;
use std::time::SystemTime;

/// The file the kernel bench writes its clock measurement to.
pub const MACHINE_FILE: &str = "bench-machine.json";

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
        dim as f64 / f64::from(self.lanes) / self.ghz
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
