use thiserror::Error;

/// Why a spec or a schedule was rejected. Every variant names the offending
/// value so that a command-line user sees what to change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    #[error("unknown metric `{0}` (expected l2, ip, cosine, cosine_norms or hamming)")]
    UnknownMetric(String),
    #[error("unknown element type `{0}` (expected f32, f16, i8, u8 or bit)")]
    UnknownElementType(String),
    #[error("element type `{0}` is not supported here")]
    UnsupportedElementType(String),
    #[error("unknown shape `{0}` (expected pair, gather or scan)")]
    UnknownShape(String),
    #[error("dimension {0} is out of range (1..={max})", max = crate::MAX_DIM)]
    DimensionOutOfRange(u64),
    #[error("invalid dimension `{0}`: not a positive integer")]
    InvalidDimension(String),
    #[error("metric `{metric}` is not defined for element type `{dtype}`: {reason}")]
    MetricForElementType {
        metric: crate::Metric,
        dtype: crate::ElementType,
        reason: &'static str,
    },
    #[error("invalid schedule: {0}")]
    InvalidSchedule(String),
    #[error("invalid kernel spec `{0}` (expected METRIC.DTYPE.dDIM.SHAPE, e.g. l2.f32.d768.pair)")]
    InvalidSpec(String),
}
