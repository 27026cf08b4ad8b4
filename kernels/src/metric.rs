use crate::{ElementType, SpecError};
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
    /// The same cosine distance, from vectors that carry their inverse norm
    /// `1/|x|` (0 for a zero vector) in the element after the last
    /// component: the kernel sums only `a·b`, so a pair costs what a dot
    /// product costs. Row layout: `dim` components, then the inverse norm
    /// ([`crate::reference::inverse_norm`]).
    CosineNorms,
    /// Hamming distance between `bit` vectors: the number of components
    /// that differ, `popcount(a xor b)`, returned as f32 (exact: at most
    /// 65536).
    Hamming,
}

impl Metric {
    /// The metrics a user picks from; `CosineNorms` is how an index stores
    /// `Cosine` when it keeps norms with its vectors.
    pub const ALL: [Metric; 3] = [Metric::L2, Metric::Ip, Metric::Cosine];

    /// Every metric a kernel over `f32` vectors can be generated for.
    pub const KERNELS: [Metric; 4] = [Metric::L2, Metric::Ip, Metric::Cosine, Metric::CosineNorms];

    /// The metrics a kernel over `dtype` vectors can be generated for.
    pub fn for_element_type(dtype: ElementType) -> &'static [Metric] {
        match dtype {
            ElementType::F32 => &Metric::KERNELS,
            ElementType::I8 | ElementType::U8 | ElementType::F16 => &Metric::ALL,
            ElementType::Bit => &[Metric::Hamming],
        }
    }

    /// Whether `self` is defined over `dtype` vectors, and if not, why.
    pub fn check_element_type(self, dtype: ElementType) -> Result<(), SpecError> {
        let reason = match (self, dtype) {
            (Metric::Hamming, ElementType::Bit) => return Ok(()),
            (Metric::Hamming, _) => "hamming counts differing bits, so its vectors are `bit`",
            (_, ElementType::Bit) => "`bit` vectors have only the hamming metric",
            (Metric::CosineNorms, ElementType::F32) => return Ok(()),
            (Metric::CosineNorms, ElementType::I8 | ElementType::U8) => {
                "quantized rows store their norm already: use cosine"
            }
            (Metric::CosineNorms, _) => {
                "cosine_norms stores its inverse norm in an f32 slot, so its vectors are f32"
            }
            _ => return Ok(()),
        };
        Err(SpecError::MetricForElementType {
            metric: self,
            dtype,
            reason,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cosine => "cosine",
            Metric::CosineNorms => "cosine_norms",
            Metric::Hamming => "hamming",
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
            Metric::CosineNorms => 2,
            // xor + popcount per component (per bit, counted as one op each).
            Metric::Hamming => 2,
        }
    }

    /// Elements a row carries after its `dim` components (the stored
    /// inverse norm of `CosineNorms`).
    pub fn extra_slots(self) -> usize {
        match self {
            Metric::CosineNorms => 1,
            _ => 0,
        }
    }

    /// Whether the distance is a cosine (and so shares its error bound and
    /// its definition for zero vectors).
    pub fn is_cosine(self) -> bool {
        matches!(self, Metric::Cosine | Metric::CosineNorms)
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
            "cosine_norms" | "cosine-norms" => Ok(Metric::CosineNorms),
            "hamming" => Ok(Metric::Hamming),
            _ => Err(SpecError::UnknownMetric(s.to_string())),
        }
    }
}
