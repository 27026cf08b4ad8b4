//! The schedule a kernel gets when nobody asked for a particular one.
//! The autotuner's tuning file (a later issue) takes precedence over it.

use hektor_kernels::{KernelSpec, Schedule};

/// The schedule the runtime compiles `spec` with.
pub fn default_schedule(spec: &KernelSpec) -> Schedule {
    Schedule::default_for(spec)
}
