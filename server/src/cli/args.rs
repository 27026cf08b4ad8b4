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
    Cranelift,
}

pub fn backend(kind: BackendArg) -> Result<Box<dyn hektor_codegen::Backend>, super::Failure> {
    match kind {
        BackendArg::Cranelift => Ok(Box::new(
            hektor_codegen::cranelift::CraneliftBackend::host()?
        )),
    }
}
