use crate::CodegenError;
use hektor_kernels::{KernelSpec, Schedule};
use hektor_passes::pass::TargetCaps;
use hektor_passes::Function;
use std::any::Any;
use std::fmt;
use std::time::Duration;

/// Which code generator produced a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Cranelift,
    Llvm,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cranelift => "cranelift",
            BackendKind::Llvm => "llvm",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Machine code loaded into executable memory, and what owns that memory.
pub struct LoweredCode {
    /// The kernel's entry point; valid while `owner` lives.
    pub entry: *const u8,
    /// Bytes of machine code at `entry`.
    pub code_size: usize,
    /// Keeps the executable memory mapped; dropping it unmaps the code.
    pub owner: Box<dyn Any + Send + Sync>,
    /// The backend's own IR, when the caller asked for it (`hektor ir`):
    /// as lowered, and after the backend's optimizer.
    pub ir_text: Option<(String, String)>,
    /// The backend's own assembly listing with labels (LLVM only), for
    /// static analysis by llvm-mca.
    pub asm_text: Option<String>,
    /// Time spent in the backend proper (its optimizer, instruction
    /// selection, register allocation, emission and loading).
    pub backend_time: Duration,
    /// Time spent translating kernel IR into the backend's IR.
    pub lowering_time: Duration,
}

// SAFETY: `entry` points into memory owned by `owner`, which is immutable
// once loaded; sharing the pointer across threads is as safe as sharing the
// owner, which is `Send + Sync`.
unsafe impl Send for LoweredCode {}
// SAFETY: as above; nothing mutates the code after loading.
unsafe impl Sync for LoweredCode {}

/// A code generator for kernel IR. Callers (the pipeline, the runtime's
/// registry, `hektor ir`) see only this trait, so an LLVM backend plugs in
/// beside Cranelift without changing them.
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// What the passes may assume about the target (e.g. FMA).
    fn caps(&self) -> TargetCaps;

    /// The CPU the code is generated for, in words (for reports).
    fn target_description(&self) -> String;

    /// The CPU name (LLVM's naming) code is generated for, where the
    /// backend has one; tools such as llvm-mca need it.
    fn target_cpu(&self) -> Option<String> {
        None
    }

    /// The widest f32 vector (in lanes) this backend can use on its target:
    /// the width default schedules start from.
    fn max_width(&self) -> u32;

    /// Whether the target counts bits in vector lanes (AVX512-VPOPCNTDQ),
    /// which decides the default width of `bit` kernels.
    fn vector_popcount(&self) -> bool {
        false
    }

    /// Whether this backend can generate kernels over `dtype` vectors.
    fn supports_dtype(&self, dtype: hektor_kernels::ElementType) -> bool {
        dtype == hektor_kernels::ElementType::F32
    }

    /// Whether the generated code can run here (false when generating for
    /// another CPU, to inspect its machine code).
    fn can_execute(&self) -> bool {
        true
    }

    /// Rejects schedules this backend cannot lower (e.g. a vector width
    /// wider than its registers), before any work is done.
    fn check_schedule(&self, spec: &KernelSpec, schedule: &Schedule) -> Result<(), CodegenError>;

    /// Lowers optimized kernel IR to machine code and loads it.
    fn lower(
        &self,
        spec: &KernelSpec,
        f: &Function,
        want_ir_text: bool,
    ) -> Result<LoweredCode, CodegenError>;
}
