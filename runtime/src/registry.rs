//! The kernel registry: one verified kernel per spec, prepared at start-up.
//!
//! Today every kernel comes from the Cranelift backend. The tiering issue
//! turns each entry into a slot that serves the Cranelift kernel at once and
//! atomically swaps in an LLVM kernel compiled in the background; callers
//! already go through [`KernelRegistry::get`], so they will not change.

use crate::default_schedule;
use crate::timing::{time_kernel, Timing};
use hektor_codegen::verify::VerifyReport;
use hektor_codegen::{compile, Backend, CodegenError, CompileOptions, Kernel};
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape, SpecError};
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Codegen(#[from] CodegenError),
}

/// One kernel ready to serve, with what it cost and how fast it is.
#[derive(Debug, Clone)]
pub struct PreparedKernel {
    pub kernel: Kernel,
    pub verification: VerifyReport,
    /// Present when the registry was asked to time its kernels.
    pub timing: Option<Timing>,
}

#[derive(Default)]
pub struct KernelRegistry {
    kernels: BTreeMap<KernelSpec, PreparedKernel>,
}

impl KernelRegistry {
    /// Compiles and verifies the kernel for every metric × shape at `dim`
    /// (f32) on every backend given, timing each for `time_budget` when
    /// given. `progress` hears of each kernel as it is ready. The first
    /// failure stops start-up: a kernel that cannot be verified is never
    /// served. When several backends are given, the last one's kernel is
    /// the one `get` serves (list them slowest-to-compile last).
    pub fn prepare(
        backends: &[&dyn Backend],
        dim: usize,
        metrics: &[Metric],
        shapes: &[Shape],
        schedule_override: Option<&str>,
        time_budget: Option<Duration>,
        mut progress: impl FnMut(&PreparedKernel),
    ) -> Result<Self, RegistryError> {
        let mut registry = KernelRegistry::default();
        for &metric in metrics {
            for &shape in shapes {
                let spec = KernelSpec::new(metric, ElementType::F32, dim, shape)?;
                for &backend in backends {
                    let schedule = match schedule_override {
                        Some(text) => default_schedule(&spec, backend).with_overrides(text)?,
                        None => default_schedule(&spec, backend),
                    };
                    let prepared = registry.insert(backend, spec, schedule, time_budget)?;
                    progress(prepared);
                }
            }
        }
        Ok(registry)
    }

    /// Compiles, verifies (and optionally times) one kernel and keeps it.
    pub fn insert(
        &mut self,
        backend: &dyn Backend,
        spec: KernelSpec,
        schedule: Schedule,
        time_budget: Option<Duration>,
    ) -> Result<&PreparedKernel, RegistryError> {
        let compiled = compile(&spec, &schedule, backend, CompileOptions::default())?;
        let timing = time_budget.map(|b| time_kernel(&compiled.kernel, b));
        let prepared = PreparedKernel {
            kernel: compiled.kernel,
            verification: compiled.report,
            timing,
        };
        self.kernels.insert(spec, prepared);
        Ok(&self.kernels[&spec])
    }

    /// The kernel for `spec`, if prepared.
    pub fn get(&self, spec: &KernelSpec) -> Option<&Kernel> {
        self.kernels.get(spec).map(|p| &p.kernel)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PreparedKernel> {
        self.kernels.values()
    }

    pub fn len(&self) -> usize {
        self.kernels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kernels.is_empty()
    }
}
