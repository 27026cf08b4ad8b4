//! The kernel registry: one verified kernel per spec, prepared at start-up.
//!
//! Today every kernel comes from the Cranelift backend. The tiering issue
//! turns each entry into a slot that serves the Cranelift kernel at once and
//! atomically swaps in an LLVM kernel compiled in the background; callers
//! already go through [`KernelRegistry::get`], so they will not change.

use crate::timing::{time_kernel, Timing};
use crate::tuning::{ScheduleBook, ScheduleSource};
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
    #[error("no backend given could prepare {0}")]
    NotPrepared(KernelSpec),
    #[error("{dtype} kernels are not available on the {backends} tier{plural} (f16 needs the LLVM tier: --backend llvm)", plural = if backends.contains(',') { "s" } else { "" })]
    UnsupportedType {
        dtype: hektor_kernels::ElementType,
        backends: String,
    },
}

/// One kernel ready to serve, with what it cost and how fast it is.
#[derive(Debug, Clone)]
pub struct PreparedKernel {
    pub kernel: Kernel,
    pub verification: VerifyReport,
    /// Whether the schedule came from the tuning file.
    pub source: ScheduleSource,
    /// Present when the registry was asked to time its kernels.
    pub timing: Option<Timing>,
}

#[derive(Default)]
pub struct KernelRegistry {
    kernels: BTreeMap<KernelSpec, PreparedKernel>,
}

/// What start-up prepares: every metric × shape at one dimension.
#[derive(Debug, Clone)]
pub struct PrepareRequest<'a> {
    pub dim: usize,
    pub dtype: ElementType,
    pub metrics: &'a [Metric],
    pub shapes: &'a [Shape],
    /// `key=value` overrides applied on top of each kernel's schedule.
    pub schedule_override: Option<&'a str>,
    /// Time each kernel for this long (`None`: do not time).
    pub time_budget: Option<Duration>,
}

impl KernelRegistry {
    /// Compiles and verifies the kernel for every metric × shape of `req`
    /// on every backend given that supports its element type, with the schedule `book` names,
    /// timing each when asked. `progress` hears of each kernel as it is
    /// ready. The first failure stops start-up: a kernel that cannot be
    /// verified is never served. When several backends are given, the last
    /// one's kernel is the one `get` serves.
    pub fn prepare(
        backends: &[&dyn Backend],
        book: &ScheduleBook,
        req: &PrepareRequest,
        mut progress: impl FnMut(&PreparedKernel),
    ) -> Result<Self, RegistryError> {
        let mut registry = KernelRegistry::default();
        if !backends.iter().any(|b| b.supports_dtype(req.dtype)) {
            let names: Vec<&str> = backends.iter().map(|b| b.kind().name()).collect();
            return Err(RegistryError::UnsupportedType {
                dtype: req.dtype,
                backends: names.join(", "),
            });
        }
        for &metric in req.metrics {
            for &shape in req.shapes {
                let spec = KernelSpec::new(metric, req.dtype, req.dim, shape)?;
                // A tier that cannot handle the element type (Cranelift and
                // f16) is skipped; the others serve it.
                for &backend in backends.iter().filter(|b| b.supports_dtype(req.dtype)) {
                    let (tuned, source) = book.schedule_for(&spec, backend);
                    let (schedule, source) = match req.schedule_override {
                        Some(text) => (tuned.with_overrides(text)?, ScheduleSource::Default),
                        None => (tuned, source),
                    };
                    let prepared =
                        registry.insert(backend, spec, schedule, source, req.time_budget)?;
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
        source: ScheduleSource,
        time_budget: Option<Duration>,
    ) -> Result<&PreparedKernel, RegistryError> {
        let compiled = compile(&spec, &schedule, backend, CompileOptions::default())?;
        let timing = time_budget.map(|b| time_kernel(&compiled.kernel, b));
        let prepared = PreparedKernel {
            kernel: compiled.kernel,
            verification: compiled.report,
            source,
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
