use hektor_kernels::{KernelSpec, Schedule, SpecError};
use hektor_passes::{PassError, VerifyError};
use thiserror::Error;

/// Why a kernel could not be produced.
#[derive(Debug, Error)]
pub enum CodegenError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("the {backend} backend cannot run schedule `{schedule}`: {reason}")]
    UnsupportedSchedule {
        backend: &'static str,
        schedule: Schedule,
        reason: String,
    },
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error(transparent)]
    InvalidIr(#[from] VerifyError),
    #[error("{backend} failed to compile {spec}: {message}")]
    Backend {
        backend: &'static str,
        spec: KernelSpec,
        message: String,
    },
    #[error("{backend} is not available on this host: {reason}")]
    HostUnsupported {
        backend: &'static str,
        reason: String,
    },
    #[error(
        "kernel {spec} [{schedule}] disagrees with the oracle on {case} (output {index}): \
         got {got}, expected {want} ± {tolerance:e}"
    )]
    Mismatch {
        spec: KernelSpec,
        schedule: Schedule,
        case: String,
        index: usize,
        got: f32,
        want: f64,
        tolerance: f64,
    },
}

/// A kernel call with arguments that do not fit the kernel. Checked before
/// any machine code runs: a kernel never reads outside the slices it is given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    #[error("kernel {spec} has shape {actual}, called as {called}")]
    WrongShape {
        spec: KernelSpec,
        actual: &'static str,
        called: &'static str,
    },
    #[error("kernel {spec} reads {} vectors, called with {called}", spec.dtype)]
    WrongElementType {
        spec: KernelSpec,
        called: &'static str,
    },
    #[error("{what} has {got} elements, kernel {spec} needs {want}")]
    Length {
        spec: KernelSpec,
        what: &'static str,
        got: usize,
        want: usize,
    },
    #[error(
        "{what} has non-zero padding at element {index}: padded kernels need zero-padded rows"
    )]
    NonZeroPadding { what: &'static str, index: usize },
    #[error("{what} stores inverse norm {value}: it must be finite and ≥ 0 (see reference::inverse_norm)")]
    BadNorm { what: &'static str, value: String },
    #[error(
        "{what} sets bit {bit}, past the vector's {dim} bits: bits past the dimension must be zero"
    )]
    BitsPastDimension {
        what: &'static str,
        bit: usize,
        dim: usize,
    },
    #[error("{what} stores {field} = {value} in its quantization metadata: it must be finite{}", if *.field == "scale" || *.field == "squared norm" { " and ≥ 0 (see hektor_kernels::quant)" } else { " (see hektor_kernels::quant)" })]
    BadQuantMeta {
        what: &'static str,
        field: &'static str,
        value: String,
    },
    #[error("{what} was checked for {checked}; kernel {spec} reads {want}")]
    OtherLayout {
        spec: KernelSpec,
        what: &'static str,
        checked: String,
        want: String,
    },
    #[error("stride {stride} is shorter than a row of {row} elements")]
    Stride { stride: usize, row: usize },
    #[error("row {id} ends at element {end}, past the base matrix of {len} elements")]
    RowOutOfBounds { id: usize, end: usize, len: usize },
    #[error("output has room for {got} distances, {want} requested")]
    OutputTooShort { got: usize, want: usize },
}
