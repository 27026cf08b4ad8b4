//! Hektor's kernel IR and its optimization passes.
//!
//! The IR is a small, typed, SSA-style *structured* loop IR (in the spirit
//! of MLIR's `scf` dialect): a kernel is a list of instructions, some of
//! which are loops that carry values from one iteration to the next
//! (`iter(...)` arguments, `yield`) and produce them as results. That is
//! enough to express the three kernel shapes — `pair` (one reduction loop),
//! `gather` and `scan` (a loop over rows around a reduction loop) — and
//! keeps every transformation a rewrite of a tree instead of a CFG surgery.
//!
//! * [`ir`] — the data structures; [`print`] / [`parse`] — the text form
//!   (round-trips exactly; it is what golden tests and `hektor ir` show);
//!   [`verify`] — type and scope checking, run after every pass.
//! * [`build`] — the front end: a [`hektor_kernels::KernelSpec`] to naive IR.
//! * [`pass`] — one module per pass, and the [`pass::PassManager`] that runs
//!   the pipeline a [`hektor_kernels::Schedule`] asks for.

pub mod build;
mod error;
pub mod ir;
pub mod parse;
pub mod pass;
pub mod print;
pub mod verify;

pub use error::{ParseError, PassError, VerifyError};
pub use ir::Function;
