//! Spec + schedule → verified kernel: the whole compile path.

use crate::backend::{Backend, LoweredCode};
use crate::kernel::{CompileStats, Kernel};
use crate::verify::{self, VerifyReport};
use crate::CodegenError;
use hektor_kernels::{KernelSpec, Schedule, Shape};
use hektor_passes::ir::Type;
use hektor_passes::pass::pipeline_for;
use hektor_passes::print::print;
use hektor_passes::{build, Function, VerifyError};
use std::time::{Duration, Instant};

/// What to keep besides the kernel.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// Keep the IR before and after every pass and the backend's IR (for
    /// `hektor ir`); costs printing time, so off by default.
    pub record: bool,
}

/// Every stage of one kernel's compilation, as text.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The pipeline that ran, in the text form `PassManager::parse` reads.
    pub pipeline: String,
    /// The naive IR from the front end.
    pub kir: String,
    /// `(pass, IR after it)` for every pass, in order.
    pub passes: Vec<(String, String)>,
    /// The backend's IR as lowered, and after the backend's optimizer.
    pub backend_ir: Option<(String, String)>,
    /// The backend's assembly listing, where it has one (LLVM).
    pub backend_asm: Option<String>,
}

#[derive(Debug)]
pub struct Compiled {
    pub kernel: Kernel,
    pub report: VerifyReport,
    pub artifacts: Option<Artifacts>,
}

/// Compiles `spec` with `schedule` on `backend` and verifies the result
/// against the oracle. Only verified kernels come out.
pub fn compile(
    spec: &KernelSpec,
    schedule: &Schedule,
    backend: &dyn Backend,
    opts: CompileOptions,
) -> Result<Compiled, CodegenError> {
    if !backend.can_execute() {
        return Err(CodegenError::HostUnsupported {
            backend: backend.kind().name(),
            reason: format!(
                "code for {} cannot run (or be verified) on this host; inspect it instead",
                backend.target_description()
            ),
        });
    }
    let (code, stats, artifacts) = generate(spec, schedule, backend, opts)?;
    let mut kernel = Kernel::new(*spec, *schedule, backend.kind(), stats, code);
    let verify_started = Instant::now();
    let report = verify::verify(&kernel)?;
    kernel.set_verify_time(verify_started.elapsed());
    Ok(Compiled {
        kernel,
        report,
        artifacts,
    })
}

/// A kernel generated but not run: for a CPU this host does not have.
#[derive(Debug)]
pub struct Inspection {
    pub stats: CompileStats,
    /// The machine code, as loaded (relocated) at `address`.
    pub code: Vec<u8>,
    pub address: u64,
    pub artifacts: Artifacts,
}

/// Generates (and loads, but never calls) the kernel, recording every stage.
pub fn inspect(
    spec: &KernelSpec,
    schedule: &Schedule,
    backend: &dyn Backend,
) -> Result<Inspection, CodegenError> {
    let (code, stats, artifacts) =
        generate(spec, schedule, backend, CompileOptions { record: true })?;
    // SAFETY: `entry` points at `code_size` loaded bytes owned by `code`,
    // which lives until the end of this function; they are only copied.
    let bytes = unsafe { std::slice::from_raw_parts(code.entry, code.code_size) }.to_vec();
    Ok(Inspection {
        stats,
        code: bytes,
        address: code.entry as u64,
        artifacts: artifacts.expect("recorded"),
    })
}

/// Front end, passes, ABI check and lowering: everything but verification.
fn generate(
    spec: &KernelSpec,
    schedule: &Schedule,
    backend: &dyn Backend,
    opts: CompileOptions,
) -> Result<(LoweredCode, CompileStats, Option<Artifacts>), CodegenError> {
    spec.check_schedule(schedule)?;
    backend.check_schedule(spec, schedule)?;
    let started = Instant::now();
    let mut f = build::kernel_ir(spec);
    let kir = opts.record.then(|| print(&f));
    let pipeline = pipeline_for(spec, schedule, backend.caps());
    let mut dumps = vec![];
    pipeline.run(&mut f, |pass, f| {
        if opts.record {
            dumps.push((pass.to_string(), print(f)));
        }
    })?;
    check_abi(spec, &f)?;
    let passes = started.elapsed();
    let mut code = backend.lower(spec, &f, opts.record)?;
    let backend_ir = code.ir_text.take();
    let backend_asm = code.asm_text.take();
    let stats = CompileStats {
        passes,
        lowering: code.lowering_time,
        backend: code.backend_time,
        total: passes + code.lowering_time + code.backend_time,
        verify: Duration::ZERO,
        code_bytes: code.code_size,
    };
    let artifacts = kir.map(|kir| Artifacts {
        pipeline: pipeline.describe(),
        kir,
        passes: dumps,
        backend_ir,
        backend_asm,
    });
    Ok((code, stats, artifacts))
}

/// The optimized kernel must have exactly the signature its handle calls
/// it with; anything else would make the handle's transmute unsound.
fn check_abi(spec: &KernelSpec, f: &Function) -> Result<(), CodegenError> {
    use Type::{Ptr, I64};
    let (params, ret): (&[Type], Option<Type>) = match spec.shape {
        Shape::Pair => (&[Ptr, Ptr], Some(Type::F32)),
        Shape::Gather => (&[Ptr, Ptr, I64, Ptr, I64, Ptr], None),
        Shape::Scan => (&[Ptr, Ptr, I64, I64, Ptr], None),
    };
    let got: Vec<Type> = f.params.iter().map(|&p| f.ty(p)).collect();
    if got != params || f.ret != ret {
        return Err(VerifyError(format!(
            "kernel {spec} has signature {got:?} -> {:?}, its shape needs {params:?} -> {ret:?}",
            f.ret
        ))
        .into());
    }
    Ok(())
}
