use crate::SpecError;
use std::fmt;
use std::str::FromStr;

/// How many vectors a kernel compares in one call, and how it finds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// One vector against one: `fn(a, b) -> distance`.
    Pair,
    /// One query against a list of row ids in a row-major matrix with a
    /// stride: HNSW's neighbour expansion. Prefetches the rows ahead.
    Gather,
    /// One query against a contiguous block of rows: brute force.
    Scan,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Pair, Shape::Gather, Shape::Scan];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Pair => "pair",
            Shape::Gather => "gather",
            Shape::Scan => "scan",
        }
    }

    /// Whether the kernel walks over many rows (and so has a row loop that
    /// software prefetch applies to).
    pub fn has_rows(self) -> bool {
        !matches!(self, Shape::Pair)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shape {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s.to_ascii_lowercase().as_str() {
            "pair" => Ok(Shape::Pair),
            "gather" => Ok(Shape::Gather),
            "scan" => Ok(Shape::Scan),
            _ => Err(SpecError::UnknownShape(s.to_string())),
        }
    }
}
