use crate::SpecError;
use std::fmt;
use std::str::FromStr;

/// The element type of the vectors a kernel reads.
///
/// `f32`, and `f16` (IEEE half, widened exactly to f32 on load: F16C's
/// `vcvtph2ps`; LLVM tier only). The enum is `non_exhaustive`: scalar-
/// quantized `i8`/`u8` and `bit` (Hamming) come next; their names are
/// reserved so that a user who asks for them gets "not supported yet"
/// rather than "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ElementType {
    F32,
    F16,
}

/// Names reserved for element types that later work adds.
const RESERVED: [&str; 3] = ["i8", "u8", "bit"];

impl ElementType {
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::F16 => "f16",
        }
    }

    /// Bytes one element occupies in memory.
    pub fn size_bytes(self) -> usize {
        match self {
            ElementType::F32 => 4,
            ElementType::F16 => 2,
        }
    }
}

/// A Rust type that holds one component of a vector of some element type:
/// what kernel handles accept, checked against the kernel's spec.
pub trait Element: Copy + Send + Sync + 'static {
    const TYPE: ElementType;
    /// The exact f32 value (every supported element widens exactly).
    fn to_f32(self) -> f32;
    /// The nearest element to `x` (round to nearest even).
    fn from_f32(x: f32) -> Self;
}

impl Element for f32 {
    const TYPE: ElementType = ElementType::F32;
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl Element for half::f16 {
    const TYPE: ElementType = ElementType::F16;
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    fn from_f32(x: f32) -> Self {
        half::f16::from_f32(x)
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
            "f16" | "float16" | "half" => Ok(ElementType::F16),
            _ if RESERVED.contains(&lower.as_str()) => {
                Err(SpecError::UnsupportedElementType(lower))
            }
            _ => Err(SpecError::UnknownElementType(s.to_string())),
        }
    }
}
