//! The two JIT kernels an index runs on: `gather` (a query against the
//! neighbours being expanded, the hot loop of every search and insert) and
//! `pair` (kept for single distances). Both are compiled for the index's
//! own dimension and storage metric, verified against the oracle, and
//! called through their unchecked entry points only after the index has
//! checked ids against its own bounds.

use crate::registry::{KernelRegistry, PrepareRequest, PreparedKernel, RegistryError};
use crate::tuning::ScheduleBook;
use hektor_codegen::{Backend, Kernel};
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};

/// The metric the kernels compute for a user's metric: cosine indexes
/// store each row's inverse norm, so a pair costs what a dot product costs.
pub fn storage_metric(metric: Metric) -> Metric {
    match metric {
        Metric::Cosine => Metric::CosineNorms,
        other => other,
    }
}

/// The kernels of one index, with how each was made (for reports).
#[derive(Clone)]
pub struct IndexKernels {
    pub gather: Kernel,
    pub pair: Kernel,
    /// The gather kernel graph search walks codes with, for indexes that
    /// do not traverse on the f32 rows ([`super::Traversal`]).
    pub codes: Option<Kernel>,
    pub prepared: Vec<PreparedKernel>,
}

impl IndexKernels {
    /// Compiles and verifies the index's kernels with `backend` (the
    /// schedule from `book`: this machine's tuning file, or the default).
    pub fn compile(
        metric: Metric,
        dim: usize,
        backend: &dyn Backend,
        book: &ScheduleBook,
    ) -> Result<Self, RegistryError> {
        let metric = storage_metric(metric);
        let request = PrepareRequest {
            dim,
            dtype: ElementType::F32,
            metrics: &[metric],
            shapes: &[Shape::Gather, Shape::Pair],
            schedule_override: None,
            time_budget: None,
        };
        let registry = KernelRegistry::prepare(&[backend], book, &request, |_| {})?;
        let get = |shape| {
            let spec = KernelSpec::new(metric, ElementType::F32, dim, shape)?;
            registry
                .get(&spec)
                .cloned()
                .ok_or(RegistryError::NotPrepared(spec))
        };
        Ok(IndexKernels {
            gather: get(Shape::Gather)?,
            pair: get(Shape::Pair)?,
            codes: None,
            prepared: registry.iter().cloned().collect(),
        })
    }

    /// These kernels plus the gather kernel that walks `traversal` codes
    /// of a `metric` index ([`super::code_kernel`]); the f32 traversal
    /// needs none and returns them unchanged.
    pub fn with_codes(
        mut self,
        metric: Metric,
        traversal: super::Traversal,
        backend: &dyn Backend,
        book: &ScheduleBook,
    ) -> Result<Self, RegistryError> {
        let Some((dtype, code_metric)) = super::code_kernel(traversal, metric) else {
            return Ok(self);
        };
        let dim = self.gather.spec().dim;
        let request = PrepareRequest {
            dim,
            dtype,
            metrics: &[code_metric],
            shapes: &[Shape::Gather],
            schedule_override: None,
            time_budget: None,
        };
        let registry = KernelRegistry::prepare(&[backend], book, &request, |_| {})?;
        let spec = KernelSpec::new(code_metric, dtype, dim, Shape::Gather)?;
        let kernel = registry
            .get(&spec)
            .cloned()
            .ok_or(RegistryError::NotPrepared(spec))?;
        self.prepared.extend(registry.iter().cloned());
        self.codes = Some(kernel);
        Ok(self)
    }

    /// Elements per row the kernels read (components, padding, stored norm).
    pub fn row_len(&self) -> usize {
        self.gather.row_len()
    }
}
