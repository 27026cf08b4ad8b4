//! What a Hektor kernel computes, independent of how it is compiled.
//!
//! A [`KernelSpec`] is the *algorithm* (metric, element type, dimension,
//! shape); a [`Schedule`] is *how* it is executed (vector width, unroll,
//! accumulators, prefetch distance, tail strategy). Keeping them apart, as
//! Halide does, lets the same spec be retargeted or retuned by changing only
//! the schedule. [`reference`] holds the scalar oracle that every generated
//! kernel is checked against, and [`bound`] the error bound that check uses.

pub mod bound;
mod dtype;
mod error;
mod metric;
pub mod quant;
pub mod reference;
mod schedule;
mod shape;
mod spec;

pub use dtype::{Element, ElementType};
pub use error::SpecError;
/// IEEE half precision, the element of `f16` vectors (from the `half` crate).
pub use half::f16;
pub use metric::Metric;
pub use schedule::{
    Schedule, TailStrategy, Unroll, DEFAULT_PREFETCH_LINES, MAX_FLOAT_WIDTH, MAX_WIDTH,
};
pub use shape::Shape;
pub use spec::{check_dim as spec_check_dim, KernelSpec, MAX_DIM, MAX_U8_DIM};
