//! The schedule a kernel gets when nobody asked for a particular one.
//! A tuning file entry (`tuning.rs`, written by `hektor tune`) takes
//! precedence over it.

use hektor_codegen::Backend;
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape, Unroll};

/// The schedule the runtime compiles `spec` with on `backend`: the
/// backend's widest vectors, and accumulators chosen by measurement
/// (`hektor kernels --dim 768 --backend ... --schedule ...`).
pub fn default_schedule(spec: &KernelSpec, backend: &dyn Backend) -> Schedule {
    default_compute_schedule(spec, backend).with_default_prefetch(spec)
}

/// The width, accumulators and unrolling of [`default_schedule`].
fn default_compute_schedule(spec: &KernelSpec, backend: &dyn Backend) -> Schedule {
    let width = backend.max_width();
    if width <= 4 {
        // 128-bit vectors in 16 registers (the Cranelift tier).
        return Schedule::default_for(spec);
    }
    // 256/512-bit vectors. Short vectors (fewer than 32 registers' worth)
    // finish before a deep accumulator tree pays for its extra reduction:
    // two accumulators there, four for long l2/ip (load-bound); cosine's
    // three sums get two each (`hektor tune --dry-run` on AVX-512 at dims
    // 96..1536 ranks these first or within noise of first).
    if spec.dtype == ElementType::Bit {
        // Bit words: `vpopcntq` on zmm where the CPU has it (8 words a
        // vector); elsewhere scalar `popcnt`, four sums deep.
        let words = spec.elements();
        return if backend.vector_popcount() {
            Schedule {
                width: 8,
                accumulators: if words >= 64 { 4 } else { 2 },
                ..Schedule::default()
            }
        } else {
            Schedule {
                width: 1,
                accumulators: 4,
                ..Schedule::default()
            }
        };
    }
    if spec.dtype.is_quantized() {
        // Codes: a register of bytes a step (64 on AVX-512, which LLVM
        // turns into `vpmovsxbw` + `vpdpwssd` on two halves), two sums.
        return Schedule {
            width: 4 * width,
            accumulators: 2,
            ..Schedule::default()
        };
    }
    let vectors = spec.dim / width as usize;
    if spec.shape == Shape::Pair && vectors >= 48 {
        return long_pair_schedule(spec.metric, width, vectors);
    }
    if spec.shape.has_rows() && spec.dim >= LONG_ROW_DIM {
        return long_row_schedule(spec.metric, width);
    }
    let accumulators = match spec.metric {
        Metric::L2 | Metric::Ip | Metric::CosineNorms if vectors >= 32 => 4,
        _ => 2,
    };
    Schedule {
        width,
        accumulators,
        ..Schedule::default()
    }
}

/// A pair kernel of 48 vectors or more (d768 and up on AVX-512): a call
/// runs long enough that its own instruction mix, not its call overhead,
/// sets its speed (`cargo bench --bench kernels -- pair/`, cycles per call
/// in `bench-kernel-cycles.jsonl`, on the Emerald Rapids machine of
/// docs/BENCHMARKS.md):
/// - ip and cosine with norms do one FMA a vector beside two loads, so
///   the FMA ports have room; eight sums keep each dependency chain short
///   enough for the next call's loads to start before this call's sums
///   are done (ip d1536: 114 cycles a call with four sums, 104 with eight).
/// - l2 does a subtract and an FMA a vector, which fills both FMA ports
///   exactly when the loads fill both load ports, so every extra add of a
///   deeper reduction tree costs time: four sums, and no loop left (l2
///   d1536: 132 cycles as a loop of twelve steps, 119 fully unrolled).
///   Past 128 vectors the code would outgrow the micro-op cache, so
///   longer vectors keep a loop.
fn long_pair_schedule(metric: Metric, width: u32, vectors: usize) -> Schedule {
    let (accumulators, unroll) = match metric {
        Metric::L2 if vectors <= 128 => (4, Unroll::Full),
        Metric::L2 => (4, Unroll::Factor(4)),
        Metric::Ip | Metric::CosineNorms => (8, Unroll::Factor(2)),
        _ => (2, Unroll::Factor(2)),
    };
    Schedule {
        width,
        accumulators,
        unroll,
        ..Schedule::default()
    }
}

/// From this dimension on, `gather` and `scan` compute rows in tiles
/// ([`long_row_schedule`]).
pub const LONG_ROW_DIM: usize = 1536;

/// `gather` and `scan` over rows of 1536 elements or more: four rows a
/// tile, one sum each, the element loop unrolled four times. The query
/// (96 zmm registers at d1536) cannot stay in registers, so untiled each
/// row loads it again beside its own row, three micro-ops a vector for l2
/// (load, subtract, FMA); a tile of four loads it once for four rows. At
/// d1536 on the Emerald Rapids machine (`hektor tune --residency memory`
/// and `--residency cache`, ns a row, first pass) the tiles ranked first
/// for l2 and ip gather and for l2 scan, from memory (l2 scan 342–355
/// against 396 untiled, gather 328 against 381) and from L2 (l2 scan 36–41
/// against 50, gather 37–40 against 46). At d768 they won from L2 but lost
/// from memory, so shorter rows keep one row at a time.
///
/// cosine carries three sums a row, twelve a tile: already enough
/// independent chains, so it is not unrolled. That runs as fast in the
/// kernel bench at d1536 (scan and gather within 1%) and keeps LLVM's
/// compile time under 20 ms (about 19 ms unrolled four times).
fn long_row_schedule(metric: Metric, width: u32) -> Schedule {
    let unroll = if metric == Metric::Cosine { 1 } else { 4 };
    Schedule {
        width,
        accumulators: 1,
        unroll: Unroll::Factor(unroll),
        tile_rows: 4,
        ..Schedule::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hektor_codegen::cranelift::CraneliftBackend;

    fn spec(text: &str) -> KernelSpec {
        text.parse().unwrap()
    }

    #[test]
    fn long_rows_stay_untiled_on_128_bit_vectors() {
        let cl = CraneliftBackend::host().expect("Cranelift supports this host");
        assert_eq!(
            default_schedule(&spec("l2.f32.d1536.scan"), &cl).tile_rows,
            1
        );
    }

    #[cfg(feature = "llvm")]
    #[test]
    fn long_rows_are_tiled_on_the_wide_tier() {
        let llvm = hektor_codegen::llvm::LlvmBackend::host().expect("LLVM targets this host");
        // AVX2 and AVX-512 hosts alike: 8 or 16 lanes.
        assert!(llvm.max_width() >= 8, "{}", llvm.target_description());
        for text in [
            "l2.f32.d1536.scan",
            "ip.f32.d2048.gather",
            "cosine.f32.d1536.scan",
        ] {
            let s = default_schedule(&spec(text), &llvm);
            assert_eq!((s.tile_rows, s.accumulators), (4, 1), "{text}: {s}");
        }
        for text in ["l2.f32.d768.scan", "l2.f32.d1536.pair", "l2.i8.d1536.scan"] {
            assert_eq!(default_schedule(&spec(text), &llvm).tile_rows, 1, "{text}");
        }
    }
}
