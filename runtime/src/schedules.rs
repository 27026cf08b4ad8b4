//! The schedule a kernel gets when nobody asked for a particular one.
//! The autotuner's tuning file (a later issue) takes precedence over it.

use hektor_codegen::Backend;
use hektor_kernels::{KernelSpec, Metric, Schedule};

/// The schedule the runtime compiles `spec` with on `backend`: the
/// backend's widest vectors, and accumulators chosen by measurement
/// (`hektor kernels --dim 768 --backend ... --schedule ...`).
pub fn default_schedule(spec: &KernelSpec, backend: &dyn Backend) -> Schedule {
    let width = backend.max_width();
    if width <= 4 {
        // 128-bit vectors in 16 registers (the Cranelift tier).
        return Schedule::default_for(spec);
    }
    // 256/512-bit vectors: l2/ip stay load-bound with four accumulators;
    // cosine's three sums get two each.
    let accumulators = match spec.metric {
        Metric::L2 | Metric::Ip => 4,
        Metric::Cosine => 2,
    };
    Schedule {
        width,
        accumulators,
        ..Schedule::default()
    }
}
