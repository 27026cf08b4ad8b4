//! The LLVM backend (feature `llvm`): the best code for the exact CPU.
//! Vectors as wide as the target allows, `llvm.fma`, `llvm.prefetch`, the
//! O3 pipeline for the target CPU, then the object is loaded by Hektor's own
//! loader ([`loader`]). It can also generate code for a CPU this host does
//! not have (`--target-cpu sapphirerapids`), to inspect but not to run.

mod loader;
mod lower;

use crate::backend::{Backend, BackendKind, LoweredCode};
use crate::host::HostFeatures;
use crate::CodegenError;
use hektor_kernels::{KernelSpec, Schedule};
use hektor_passes::pass::TargetCaps;
use hektor_passes::Function;
use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use std::sync::Once;
use std::time::Instant;

/// x86-64 CPUs (LLVM names) a kernel may be generated for, with the widest
/// f32 vector each has registers for and whether it has FMA3. LLVM itself
/// accepts any name (and silently falls back to a baseline CPU), so names
/// are checked against this table.
const KNOWN_CPUS: &[(&str, u32, bool)] = &[
    ("x86-64", 4, false),
    ("x86-64-v2", 4, false),
    ("x86-64-v3", 8, true),
    ("x86-64-v4", 16, true),
    ("nehalem", 4, false),
    ("westmere", 4, false),
    ("sandybridge", 8, false),
    ("ivybridge", 8, false),
    ("haswell", 8, true),
    ("broadwell", 8, true),
    ("skylake", 8, true),
    ("skylake-avx512", 16, true),
    ("skx", 16, true),
    ("cascadelake", 16, true),
    ("cooperlake", 16, true),
    ("cannonlake", 16, true),
    ("icelake-client", 16, true),
    ("icelake-server", 16, true),
    ("tigerlake", 16, true),
    ("rocketlake", 16, true),
    ("alderlake", 8, true),
    ("raptorlake", 8, true),
    ("meteorlake", 8, true),
    ("arrowlake", 8, true),
    ("lunarlake", 8, true),
    ("sierraforest", 8, true),
    ("grandridge", 8, true),
    ("sapphirerapids", 16, true),
    ("emeraldrapids", 16, true),
    ("graniterapids", 16, true),
    ("graniterapids-d", 16, true),
    ("diamondrapids", 16, true),
    ("btver2", 8, false),
    ("bdver2", 8, true),
    ("bdver3", 8, true),
    ("bdver4", 8, true),
    ("znver1", 8, true),
    ("znver2", 8, true),
    ("znver3", 8, true),
    ("znver4", 16, true),
    ("znver5", 16, true),
];

/// Named CPUs with AVX512-VPOPCNTDQ (`vpopcntq` on zmm).
const VECTOR_POPCOUNT: &[&str] = &[
    "icelake-client",
    "icelake-server",
    "tigerlake",
    "rocketlake",
    "sapphirerapids",
    "emeraldrapids",
    "graniterapids",
    "graniterapids-d",
    "diamondrapids",
    "znver4",
    "znver5",
];

/// The CPU code is generated for.
#[derive(Debug, Clone)]
pub struct LlvmTarget {
    pub cpu: String,
    /// LLVM feature string (`+avx2,+fma,...`); empty = the CPU's defaults.
    pub features: String,
    /// Whether this is the host: only then is the code run and verified.
    pub host: bool,
    pub fma: bool,
    /// Widest f32 vector the target has registers for.
    pub max_width: u32,
    /// Vector popcount (AVX512-VPOPCNTDQ).
    pub vector_popcount: bool,
}

pub struct LlvmBackend {
    target: LlvmTarget,
    triple: TargetTriple,
}

fn init_llvm() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        Target::initialize_x86(&InitializationConfig::default());
    });
}

impl LlvmBackend {
    /// Code for this machine, with the features LLVM detects on it.
    pub fn host() -> Result<Self, CodegenError> {
        init_llvm();
        let cpu = TargetMachine::get_host_cpu_name().to_string();
        let features = TargetMachine::get_host_cpu_features().to_string();
        let host = HostFeatures::detect();
        let max_width = if host.avx512f && host.avx512bw && host.avx512vl {
            16
        } else if host.avx2 {
            8
        } else {
            4
        };
        Self::with_target(LlvmTarget {
            cpu,
            features,
            host: true,
            fma: host.fma,
            max_width,
            vector_popcount: host.avx512vpopcntdq && max_width == 16,
        })
    }

    /// Code for a named CPU (`sapphirerapids`, `znver4`, `haswell`, ...),
    /// which this machine may not have: such kernels are generated and
    /// inspected, never run.
    pub fn for_cpu(name: &str) -> Result<Self, CodegenError> {
        init_llvm();
        let host_cpu = TargetMachine::get_host_cpu_name().to_string();
        if name == "native" || name == host_cpu {
            return Self::host();
        }
        let Some(&(_, max_width, fma)) = KNOWN_CPUS.iter().find(|(n, _, _)| *n == name) else {
            let names: Vec<&str> = KNOWN_CPUS.iter().map(|(n, _, _)| *n).collect();
            return Err(CodegenError::HostUnsupported {
                backend: "llvm",
                reason: format!(
                    "unknown target CPU `{name}` (known: native, {})",
                    names.join(", ")
                ),
            });
        };
        Self::with_target(LlvmTarget {
            cpu: name.to_string(),
            features: String::new(),
            host: false,
            fma,
            max_width,
            vector_popcount: VECTOR_POPCOUNT.contains(&name),
        })
    }

    fn with_target(target: LlvmTarget) -> Result<Self, CodegenError> {
        let triple = TargetMachine::get_default_triple();
        let b = LlvmBackend { target, triple };
        b.machine()?;
        Ok(b)
    }

    pub fn target(&self) -> &LlvmTarget {
        &self.target
    }

    fn machine(&self) -> Result<TargetMachine, CodegenError> {
        let t = Target::from_triple(&self.triple).map_err(|e| CodegenError::HostUnsupported {
            backend: "llvm",
            reason: e.to_string(),
        })?;
        t.create_target_machine(
            &self.triple,
            &self.target.cpu,
            &self.target.features,
            OptimizationLevel::Aggressive,
            RelocMode::PIC,
            CodeModel::Small,
        )
        .ok_or_else(|| CodegenError::HostUnsupported {
            backend: "llvm",
            reason: format!("LLVM cannot target CPU `{}`", self.target.cpu),
        })
    }
}

impl Backend for LlvmBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Llvm
    }

    fn caps(&self) -> TargetCaps {
        TargetCaps {
            fma: self.target.fma,
        }
    }

    fn target_description(&self) -> String {
        format!(
            "{} cpu={}{}",
            self.triple.as_str().to_string_lossy(),
            self.target.cpu,
            if self.target.host {
                " (host)"
            } else {
                " (not the host: inspect only)"
            }
        )
    }

    fn max_width(&self) -> u32 {
        self.target.max_width
    }

    fn target_cpu(&self) -> Option<String> {
        Some(self.target.cpu.clone())
    }

    fn supports_dtype(&self, dtype: hektor_kernels::ElementType) -> bool {
        matches!(
            dtype,
            hektor_kernels::ElementType::F32
                | hektor_kernels::ElementType::F16
                | hektor_kernels::ElementType::I8
                | hektor_kernels::ElementType::U8
                | hektor_kernels::ElementType::Bit
        )
    }

    fn vector_popcount(&self) -> bool {
        self.target.vector_popcount
    }

    fn can_execute(&self) -> bool {
        self.target.host
    }

    fn check_schedule(&self, spec: &KernelSpec, schedule: &Schedule) -> Result<(), CodegenError> {
        schedule.validate()?;
        // Quantized codes are bytes: a register of them holds four times
        // as many lanes as of f32 (LLVM widens them in halves).
        let max = if spec.dtype.is_quantized() {
            4 * self.target.max_width
        } else {
            self.target.max_width
        };
        if schedule.width > max {
            return Err(CodegenError::UnsupportedSchedule {
                backend: "llvm",
                schedule: *schedule,
                reason: format!(
                    "width={} is wider than {}'s {}-lane {} registers",
                    schedule.width,
                    self.target.cpu,
                    max,
                    if spec.dtype.is_quantized() {
                        "code"
                    } else {
                        "f32"
                    }
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
            backend: "llvm",
            spec: *spec,
            message,
        };
        let started = Instant::now();
        let ctx = Context::create();
        let module = ctx.create_module(&f.name);
        module.set_triple(&self.triple);
        let tm = self.machine()?;
        module.set_data_layout(&tm.get_target_data().get_data_layout());
        // Quantized kernels carry up to 64 i32 lanes (2048 bits), which
        // LLVM splits into the widest registers the CPU has.
        let vector_bits = f_max_vector_bits(f).clamp(128, 32 * self.target.max_width.max(4));
        let target = lower::FunctionTarget {
            cpu: &self.target.cpu,
            features: &self.target.features,
            vector_bits,
            keep_scalar: spec.dtype.is_integer() && f_max_vector_bits(f) <= 64,
        };
        lower::translate(&ctx, &module, f, &target).map_err(fail)?;
        let lowering_time = started.elapsed();
        let before = want_ir_text.then(|| module.print_to_string().to_string());

        let backend_started = Instant::now();
        module
            .run_passes("default<O3>", &tm, PassBuilderOptions::create())
            .map_err(|e| fail(e.to_string()))?;
        let after = want_ir_text.then(|| module.print_to_string().to_string());
        let asm_text = if want_ir_text {
            let buf = tm
                .write_to_memory_buffer(&module, FileType::Assembly)
                .map_err(|e| fail(e.to_string()))?;
            Some(String::from_utf8_lossy(buf.as_slice()).into_owned())
        } else {
            None
        };
        let object = tm
            .write_to_memory_buffer(&module, FileType::Object)
            .map_err(|e| fail(e.to_string()))?;
        let loaded = loader::load(object.as_slice(), &f.name).map_err(fail)?;
        let backend_time = backend_started.elapsed();
        Ok(LoweredCode {
            entry: loaded.entry,
            code_size: loaded.size,
            owner: Box::new(loaded.code),
            ir_text: before.zip(after),
            asm_text,
            backend_time,
            lowering_time,
        })
    }
}

/// The widest vector the kernel uses, in bits.
fn f_max_vector_bits(f: &Function) -> u32 {
    f.values
        .iter()
        .map(|v| v.ty.lanes() * v.ty.lane_bits())
        .max()
        .unwrap_or(32)
}
