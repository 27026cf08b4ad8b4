//! The two JIT kernels an index runs on: `gather` (a query against the
//! neighbours being expanded, the hot loop of every search and insert) and
//! `pair` (kept for single distances). Both are compiled for the index's
//! own dimension and storage metric, verified against the oracle, and
//! called through their unchecked entry points only after the index has
//! checked ids against its own bounds.

use crate::registry::{KernelRegistry, PrepareRequest, PreparedKernel, RegistryError};
use crate::tuning::ScheduleBook;
use hektor_codegen::{Backend, Kernel};
use hektor_kernels::{KernelSpec, Metric, Shape};

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
    /// Compiles and verifies the kernels of an f32 index with `backend`
    /// (the schedule from `book`: this machine's tuning file, or the
    /// default).
    pub fn compile(
        metric: Metric,
        dim: usize,
        backend: &dyn Backend,
        book: &ScheduleBook,
    ) -> Result<Self, RegistryError> {
        Self::compile_for(metric, super::Traversal::F32, dim, backend, book)
    }

    /// As [`IndexKernels::compile`], for the rows a `traversal` index
    /// stores ([`super::row_format`]: f16 rows for [`super::Traversal::F16`],
    /// f32 otherwise). Code kernels come from [`IndexKernels::with_codes`].
    pub fn compile_for(
        metric: Metric,
        traversal: super::Traversal,
        dim: usize,
        backend: &dyn Backend,
        book: &ScheduleBook,
    ) -> Result<Self, RegistryError> {
        let (dtype, metric) = super::row_format(metric, traversal);
        let request = PrepareRequest {
            dim,
            dtype,
            metrics: &[metric],
            shapes: &[Shape::Gather, Shape::Pair],
            schedule_override: None,
            time_budget: None,
        };
        let registry = KernelRegistry::prepare(&[backend], book, &request, |_| {})?;
        let get = |shape| {
            let spec = KernelSpec::new(metric, dtype, dim, shape)?;
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
