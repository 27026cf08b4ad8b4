//! From kernel IR to verified machine code.
//!
//! [`compile`] is the one entry point: it builds the naive IR for a spec,
//! runs the pass pipeline the schedule asks for, lowers the result through a
//! [`Backend`] (Cranelift today; LLVM plugs in beside it behind the same
//! trait), JIT-loads it, and checks it against the scalar oracle before it
//! hands out a [`Kernel`]. A kernel that disagrees with the oracle is an
//! error, never a silent fallback.

mod backend;
pub mod cranelift;
pub mod disasm;
mod error;
pub mod host;
mod kernel;
#[cfg(feature = "llvm")]
pub mod llvm;
pub mod mca;
mod pipeline;
pub mod verify;

pub use backend::{Backend, BackendKind, LoweredCode};
pub use error::{CallError, CodegenError};
pub use kernel::{CheckedRow, CompileStats, Kernel, RowLayout};
pub use pipeline::{compile, inspect, Artifacts, CompileOptions, Compiled, Inspection};
