use crate::SpecError;
use std::fmt;
use std::str::FromStr;

/// The element type of the vectors a kernel reads.
///
/// * `f32`, and `f16` (IEEE half, widened exactly to f32 on load: F16C's
///   `vcvtph2ps`; LLVM tier only).
/// * `i8` and `u8`: scalar-quantized vectors. A row is `dim` integer codes
///   followed by per-vector f32 metadata (offset, scale, code sum, squared
///   norm), see [`crate::quant`]; the kernel's hot loop is one exact i32
///   dot product of the codes.
/// * `bit`: binary vectors for the `hamming` metric, packed 64 to a `u64`
///   word, bit `i` in bit `i % 64` of word `i / 64`; `dim` counts bits and
///   the bits past `dim` in the last word must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ElementType {
    F32,
    F16,
    I8,
    U8,
    Bit,
}

impl ElementType {
    pub const ALL: [ElementType; 5] = [
        ElementType::F32,
        ElementType::F16,
        ElementType::I8,
        ElementType::U8,
        ElementType::Bit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::F16 => "f16",
            ElementType::I8 => "i8",
            ElementType::U8 => "u8",
            ElementType::Bit => "bit",
        }
    }

    /// Bytes one stored element occupies (one `u64` word of 64 bits for
    /// `bit`).
    pub fn size_bytes(self) -> usize {
        match self {
            ElementType::F32 => 4,
            ElementType::F16 => 2,
            ElementType::I8 | ElementType::U8 => 1,
            ElementType::Bit => 8,
        }
    }

    /// Whether vectors of this type are scalar-quantized codes with
    /// per-row metadata (`i8`, `u8`).
    pub fn is_quantized(self) -> bool {
        matches!(self, ElementType::I8 | ElementType::U8)
    }

    /// Whether the kernel's sums are integers (exact in any order).
    pub fn is_integer(self) -> bool {
        self.is_quantized() || self == ElementType::Bit
    }

    /// Stored elements that hold `dim` components: `dim` for every type
    /// but `bit`, whose `dim` bits fill `ceil(dim / 64)` words.
    pub fn elements_for(self, dim: usize) -> usize {
        match self {
            ElementType::Bit => dim.div_ceil(64),
            _ => dim,
        }
    }
}

/// A Rust type that holds one stored element of some element type: what
/// kernel handles accept, checked against the kernel's spec.
pub trait Element: Copy + Send + Sync + 'static {
    const TYPE: ElementType;
    /// The element's numeric value as f32: exact for f32, f16, i8 and u8;
    /// for a `u64` bit word, the word as a number (only its zeroness is
    /// meaningful).
    fn to_f32(self) -> f32;
    /// The nearest element to `x` (round to nearest even; integers
    /// saturate).
    fn from_f32(x: f32) -> Self;
    /// The element's storage bits, zero-extended.
    fn to_bits(self) -> u64;
    /// The element whose storage bits are the low bits of `bits`.
    fn from_bits(bits: u64) -> Self;
}

impl Element for f32 {
    const TYPE: ElementType = ElementType::F32;
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(x: f32) -> Self {
        x
    }
    fn to_bits(self) -> u64 {
        f32::to_bits(self) as u64
    }
    fn from_bits(bits: u64) -> Self {
        f32::from_bits(bits as u32)
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
    fn to_bits(self) -> u64 {
        half::f16::to_bits(self) as u64
    }
    fn from_bits(bits: u64) -> Self {
        half::f16::from_bits(bits as u16)
    }
}

impl Element for i8 {
    const TYPE: ElementType = ElementType::I8;
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(x: f32) -> Self {
        // `as` saturates and maps NaN to 0.
        x.round_ties_even() as i8
    }
    fn to_bits(self) -> u64 {
        self as u8 as u64
    }
    fn from_bits(bits: u64) -> Self {
        bits as u8 as i8
    }
}

impl Element for u8 {
    const TYPE: ElementType = ElementType::U8;
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(x: f32) -> Self {
        x.round_ties_even() as u8
    }
    fn to_bits(self) -> u64 {
        self as u64
    }
    fn from_bits(bits: u64) -> Self {
        bits as u8
    }
}

/// One word of a `bit` vector: 64 components, component `i` of the word
/// in bit `i` (least significant first).
impl Element for u64 {
    const TYPE: ElementType = ElementType::Bit;
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(x: f32) -> Self {
        x.round_ties_even() as u64
    }
    fn to_bits(self) -> u64 {
        self
    }
    fn from_bits(bits: u64) -> Self {
        bits
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
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(ElementType::F32),
            "f16" | "float16" | "half" => Ok(ElementType::F16),
            "i8" | "int8" => Ok(ElementType::I8),
            "u8" | "uint8" => Ok(ElementType::U8),
            "bit" | "bits" | "binary" => Ok(ElementType::Bit),
            _ => Err(SpecError::UnknownElementType(s.to_string())),
        }
    }
}
