//! The Cranelift backend: compiles a kernel in a few hundred microseconds
//! (`hektor kernels` prints each one's time), emits 128-bit
//! vector code (Cranelift's x64 backend lowers 128-bit vectors only), FMA
//! where the host has it.

mod lower;

use crate::backend::{Backend, BackendKind, LoweredCode};
use crate::host::HostFeatures;
use crate::CodegenError;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use hektor_kernels::{KernelSpec, Schedule};
use hektor_passes::pass::TargetCaps;
use hektor_passes::Function;
use std::time::Instant;

/// Vector widths (f32 lanes) this backend lowers: scalar and 128-bit.
pub const SUPPORTED_WIDTHS: [u32; 2] = [1, 4];

pub struct CraneliftBackend {
    isa: OwnedTargetIsa,
    features: HostFeatures,
}

impl CraneliftBackend {
    /// A backend for the host CPU, with the features Cranelift detects.
    pub fn host() -> Result<Self, CodegenError> {
        let unsupported = |reason: String| CodegenError::HostUnsupported {
            backend: "cranelift",
            reason,
        };
        let mut flags = settings::builder();
        for (k, v) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("use_colocated_libcalls", "false"),
            // The IR is verified by Hektor's own verifier before lowering;
            // Cranelift's verifier doubles compile time, so it runs in debug
            // builds (tests) only.
            (
                "enable_verifier",
                if cfg!(debug_assertions) {
                    "true"
                } else {
                    "false"
                },
            ),
        ] {
            flags
                .set(k, v)
                .map_err(|e| unsupported(format!("setting {k}={v}: {e}")))?;
        }
        let isa_builder = cranelift_native::builder().map_err(|e| unsupported(e.to_string()))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| unsupported(e.to_string()))?;
        Ok(CraneliftBackend {
            isa,
            features: HostFeatures::detect(),
        })
    }
}

/// Owns a kernel's JIT module; unmaps its code when dropped.
struct JitMemory(Option<JITModule>);

// SAFETY: after `finalize_definitions` the module is never mutated again;
// it only owns the mapped code pages, which any thread may execute.
unsafe impl Send for JitMemory {}
// SAFETY: as above: no method that mutates the module is ever called
// through a shared reference.
unsafe impl Sync for JitMemory {}

impl Drop for JitMemory {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // SAFETY: JitMemory is dropped only when the last Kernel handle
            // (which owns it through an Arc) goes away, so no code pointer
            // into this module can be called any more.
            unsafe { m.free_memory() };
        }
    }
}

/// The runtime helper that `prefetch_row` lowers to: Cranelift's IR has no
/// prefetch instruction, so the kernel calls this once per row ahead.
extern "C" fn hektor_prefetch_row(ptr: *const u8, bytes: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut off = 0u64;
        while off < bytes {
            // SAFETY: prefetch never faults, whatever the address; it is
            // only a hint to the cache.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr.wrapping_add(off as usize) as *const i8) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, bytes);
}

impl Backend for CraneliftBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cranelift
    }

    fn caps(&self) -> TargetCaps {
        TargetCaps {
            fma: self.features.fma,
        }
    }

    fn target_description(&self) -> String {
        format!(
            "{} (host; {})",
            self.isa.triple(),
            self.features.isa_level()
        )
    }

    fn max_width(&self) -> u32 {
        4
    }

    fn supports_dtype(&self, dtype: hektor_kernels::ElementType) -> bool {
        use hektor_kernels::ElementType::*;
        matches!(dtype, F32 | I8 | U8 | Bit)
    }

    fn check_schedule(&self, spec: &KernelSpec, schedule: &Schedule) -> Result<(), CodegenError> {
        schedule.validate()?;
        if spec.dtype.is_integer() && schedule.width != 1 {
            return Err(CodegenError::UnsupportedSchedule {
                backend: "cranelift",
                schedule: *schedule,
                reason: format!(
                    "{} kernels are scalar on this tier (width=1): their 128-bit vector forms need widening multiplies and vector popcounts that are left to the LLVM tier",
                    spec.dtype
                ),
            });
        }
        if spec.dtype == hektor_kernels::ElementType::F16 {
            return Err(CodegenError::UnsupportedSchedule {
                backend: "cranelift",
                schedule: *schedule,
                reason: format!(
                    "{} vectors need the LLVM tier (Cranelift's x64 backend has no half-precision vector conversion)",
                    spec.dtype
                ),
            });
        }
        if !SUPPORTED_WIDTHS.contains(&schedule.width) {
            return Err(CodegenError::UnsupportedSchedule {
                backend: "cranelift",
                schedule: *schedule,
                reason: format!(
                    "width={} (Cranelift's x64 backend lowers only 128-bit vectors: width 1 or 4)",
                    schedule.width
                ),
            });
        }
        Ok(())
    }

    fn lower(
        &self,
        spec: &KernelSpec,
        f: &Function,
        want_ir_text: bool,
    ) -> Result<LoweredCode, CodegenError> {
        let fail = |message: String| CodegenError::Backend {
            backend: "cranelift",
            spec: *spec,
            message,
        };
        let started = Instant::now();
        let mut builder = JITBuilder::with_isa(self.isa.clone(), default_libcall_names());
        builder.symbol("hektor_prefetch_row", hektor_prefetch_row as *const u8);
        let mut module = JITModule::new(builder);
        let mut ctx = module.make_context();
        lower::translate(&mut module, &mut ctx.func, f).map_err(fail)?;
        let lowering_time = started.elapsed();
        let input_text = want_ir_text.then(|| ctx.func.display().to_string());

        let backend_started = Instant::now();
        let id = module
            .declare_function(&f.name, Linkage::Local, &ctx.func.signature)
            .map_err(|e| fail(e.to_string()))?;
        module
            .define_function(id, &mut ctx)
            .map_err(|e| fail(format!("{e:?}")))?;
        let code_size = ctx
            .compiled_code()
            .map(|c| c.code_info().total_size as usize)
            .ok_or_else(|| fail("no compiled code".into()))?;
        let optimized_text = want_ir_text.then(|| ctx.func.display().to_string());
        module.clear_context(&mut ctx);
        module
            .finalize_definitions()
            .map_err(|e| fail(e.to_string()))?;
        let entry = module.get_finalized_function(id);
        let backend_time = backend_started.elapsed();
        Ok(LoweredCode {
            entry,
            code_size,
            owner: Box::new(JitMemory(Some(module))),
            ir_text: input_text.zip(optimized_text),
            asm_text: None,
            backend_time,
            lowering_time,
        })
    }
}
