//! Hektor's runtime. Today: the kernel registry that prepares, at start-up,
//! every kernel an index needs (compiled, verified against the oracle and
//! timed on this machine). Later issues add tiering (Cranelift first, LLVM
//! swapped in), autotuning, the vector store, the HNSW index and pinned,
//! real-time worker threads; see docs/ARCHITECTURE.md.

pub mod aligned;
pub mod dataset;
pub mod exact;
mod registry;
mod schedules;
mod tiered;
pub mod timing;
pub mod tuning;

pub use exact::{ExactError, ExactSearch, Hits};
pub use registry::{KernelRegistry, PrepareRequest, PreparedKernel, RegistryError};
pub use schedules::default_schedule;
pub use tiered::{TierEvent, TieredRegistry, TieredSlot};
pub use tuning::{ScheduleBook, ScheduleSource};
