use crate::SpecError;
use std::fmt;
use std::str::FromStr;

/// The distance a kernel computes. Every metric is returned as a *distance*:
/// smaller is closer, so the search engine orders all metrics the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²` (no square root: it preserves order).
    L2,
    /// Inner product as a distance, `1 - Σ aᵢ·bᵢ` (hnswlib's convention).
    Ip,
    /// Cosine distance `1 - a·b / (|a|·|b|)`; `1` when either vector has a
    /// squared norm below `f32::MIN_POSITIVE` (a zero vector is orthogonal to all).
    Cosine,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::L2, Metric::Ip, Metric::Cosine];

    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cosine => "cosine",
        }
    }

    /// Floating-point operations per vector element, the convention used for
    /// GFLOP/s in the benchmarks: l2 = sub + mul + add, ip = mul + add,
    /// cosine = three multiply-adds (a·b, |a|², |b|²).
    pub fn flops_per_element(self) -> u64 {
        match self {
            Metric::L2 => 3,
            Metric::Ip => 2,
            Metric::Cosine => 6,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "l2sq" | "euclidean" => Ok(Metric::L2),
            "ip" | "dot" | "inner" => Ok(Metric::Ip),
            "cosine" | "cos" => Ok(Metric::Cosine),
            _ => Err(SpecError::UnknownMetric(s.to_string())),
        }
    }
}
