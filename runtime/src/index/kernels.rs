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

    /// As [`IndexKernels::compile`], for everything a `traversal` index
    /// runs on: the kernels of the rows it stores ([`super::row_format`]:
    /// f16 rows for [`super::Traversal::F16`], f32 otherwise) and, for
    /// code traversals, the gather kernel that walks the codes
    /// ([`super::code_kernel`]).
    pub fn compile_for(
        metric: Metric,
        traversal: super::Traversal,
        dim: usize,
        backend: &dyn Backend,
        book: &ScheduleBook,
    ) -> Result<Self, RegistryError> {
        let mut prepared = Vec::new();
        let (dtype, row_metric) = super::row_format(metric, traversal);
        let [gather, pair] = prepare(
            backend,
            book,
            KernelSpec::new(row_metric, dtype, dim, Shape::Gather)?,
            [Shape::Gather, Shape::Pair],
            &mut prepared,
        )?;
        let codes = match super::code_kernel(traversal, metric) {
            Some((dtype, code_metric)) => {
                let spec = KernelSpec::new(code_metric, dtype, dim, Shape::Gather)?;
                let [codes] = prepare(backend, book, spec, [Shape::Gather], &mut prepared)?;
                Some(codes)
            }
            None => None,
        };
        Ok(IndexKernels {
            gather,
            pair,
            codes,
            prepared,
        })
    }

    /// Elements per row the kernels read (components, padding, stored norm).
    pub fn row_len(&self) -> usize {
        self.gather.row_len()
    }
}

/// Compiles and verifies `spec` in each of `shapes` with `backend` (the
/// schedule from `book`), appending how each was made to `prepared`.
fn prepare<const N: usize>(
    backend: &dyn Backend,
    book: &ScheduleBook,
    spec: KernelSpec,
    shapes: [Shape; N],
    prepared: &mut Vec<PreparedKernel>,
) -> Result<[Kernel; N], RegistryError> {
    let request = PrepareRequest {
        dim: spec.dim,
        dtype: spec.dtype,
        metrics: &[spec.metric],
        shapes: &shapes,
        schedule_override: None,
        time_budget: None,
    };
    let registry = KernelRegistry::prepare(&[backend], book, &request, |_| {})?;
    prepared.extend(registry.iter().cloned());
    let kernels = shapes
        .iter()
        .map(|&shape| {
            let spec = KernelSpec { shape, ..spec };
            registry
                .get(&spec)
                .cloned()
                .ok_or(RegistryError::NotPrepared(spec))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(kernels
        .try_into()
        .unwrap_or_else(|_| unreachable!("one kernel per shape")))
}
