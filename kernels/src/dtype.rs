use crate::SpecError;
use std::fmt;
use std::str::FromStr;

/// The element type of the vectors a kernel reads.
///
/// Only `f32` is generated today. The enum is `non_exhaustive` because the
/// LLVM tier adds `f16`, scalar-quantized `i8`/`u8` (with scale and offset)
/// and `bit` (Hamming); their names are already reserved so that a user who
/// asks for them gets "not supported yet" rather than "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ElementType {
    F32,
}

/// Names reserved for element types that later tiers add.
const RESERVED: [&str; 4] = ["f16", "i8", "u8", "bit"];

impl ElementType {
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
        }
    }

    /// Bytes one element occupies in memory.
    pub fn size_bytes(self) -> usize {
        match self {
            ElementType::F32 => 4,
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ElementType {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "f32" | "float32" => Ok(ElementType::F32),
            _ if RESERVED.contains(&lower.as_str()) => {
                Err(SpecError::UnsupportedElementType(lower))
            }
            _ => Err(SpecError::UnknownElementType(s.to_string())),
        }
    }
}
