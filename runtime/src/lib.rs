//! Hektor's runtime: the kernel registry and tiering (every kernel
//! compiled, verified against the oracle and timed at start-up), the
//! autotuner, the HNSW index on those kernels with its file format and
//! write-ahead log, exact search, and data sets. Pinned, real-time worker
//! threads come with the latency runtime; see docs/ARCHITECTURE.md.

pub mod aligned;
pub mod dataset;
pub mod durable;
pub mod exact;
pub mod index;
pub mod memory;
mod registry;
mod schedules;
pub mod stats;
mod tiered;
pub mod timing;
pub mod tuning;

pub use exact::{ExactError, ExactSearch, Hits};
pub use registry::{KernelRegistry, PrepareRequest, PreparedKernel, RegistryError};
pub use schedules::default_schedule;
pub use tiered::{TierEvent, TieredRegistry, TieredSlot};
pub use tuning::{ScheduleBook, ScheduleSource};
