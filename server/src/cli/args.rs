//! Argument value parsers shared by the subcommands. Each rejects bad input
//! at parse time, so clap reports it as a usage error (exit code 2).

use hektor_kernels::{spec_check_dim, ElementType, Metric, Shape};

pub fn dim(s: &str) -> Result<usize, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a positive integer"))?;
    spec_check_dim(n).map_err(|e| e.to_string())
}

pub fn metric(s: &str) -> Result<Metric, String> {
    s.parse()
        .map_err(|e: hektor_kernels::SpecError| e.to_string())
}

/// A metric for float vectors, as an index or a data set uses: l2, ip or
/// cosine (`cosine_norms` is a storage form, `hamming` is for bits).
pub fn vector_metric(s: &str) -> Result<Metric, String> {
    let m = metric(s)?;
    if Metric::ALL.contains(&m) {
        Ok(m)
    } else {
        Err(format!(
            "`{s}` is not a metric for float vectors (expected l2, ip or cosine)"
        ))
    }
}

pub fn shape(s: &str) -> Result<Shape, String> {
    s.parse()
        .map_err(|e: hektor_kernels::SpecError| e.to_string())
}

pub fn dtype(s: &str) -> Result<ElementType, String> {
    s.parse()
        .map_err(|e: hektor_kernels::SpecError| e.to_string())
}

/// Checks a schedule's syntax and ranges now; it is applied per kernel.
pub fn schedule(s: &str) -> Result<String, String> {
    hektor_kernels::Schedule::default()
        .with_overrides(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// Compiles in microseconds; 128-bit vectors.
    Cranelift,
    /// Compiles in milliseconds; vectors as wide as the CPU has.
    Llvm,
}

/// The backend for `kind`, generating code for `target_cpu` (LLVM only;
/// `None` = this host).
pub fn backend(
    kind: BackendArg,
    target_cpu: Option<&str>,
) -> Result<Box<dyn hektor_codegen::Backend>, super::Failure> {
    use super::Failure;
    match kind {
        BackendArg::Cranelift => {
            if let Some(cpu) = target_cpu {
                return Err(Failure::Usage(format!(
                    "--target-cpu {cpu} needs --backend llvm (Cranelift generates code for this host only)"
                )));
            }
            Ok(Box::new(
                hektor_codegen::cranelift::CraneliftBackend::host()?
            ))
        }
        #[cfg(feature = "llvm")]
        BackendArg::Llvm => {
            use hektor_codegen::llvm::LlvmBackend;
            Ok(Box::new(match target_cpu {
                Some(cpu) => {
                    LlvmBackend::for_cpu(cpu).map_err(|e| Failure::Usage(e.to_string()))?
                }
                None => LlvmBackend::host()?,
            }))
        }
        #[cfg(not(feature = "llvm"))]
        BackendArg::Llvm => Err(Failure::Usage(
            "this hektor was built without the LLVM tier (cargo feature `llvm`)".into(),
        )),
    }
}

/// The backends a default run uses: both tiers when LLVM is built in.
pub fn default_backends() -> Vec<BackendArg> {
    if cfg!(feature = "llvm") {
        vec![BackendArg::Cranelift, BackendArg::Llvm]
    } else {
        vec![BackendArg::Cranelift]
    }
}
