//! The one error type of the dataset module. Every variant names the file
//! and, where it applies, the row (0-based) and column, so that a user can
//! find the bad byte without a hex editor.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the file is empty (no vectors)", .path.display())]
    Empty { path: PathBuf },
    #[error("{}: row {row}: truncated {what}: needs {want} bytes, the file has {got} left", .path.display())]
    Truncated {
        path: PathBuf,
        row: usize,
        /// "dimension header" or "row data".
        what: &'static str,
        want: u64,
        got: u64,
    },
    #[error("{}: row {row}: dimension {dim} differs from the first row's {first}", .path.display())]
    InconsistentDim {
        path: PathBuf,
        row: usize,
        dim: i64,
        first: usize,
    },
    #[error("{}: row {row}: dimension {dim} is out of range (must be 1..={max})", .path.display())]
    BadDim {
        path: PathBuf,
        row: usize,
        dim: i64,
        max: usize,
    },
    #[error("{}: row {row}, column {col}: value {value} is not finite", .path.display())]
    NonFinite {
        path: PathBuf,
        row: usize,
        col: usize,
        value: f32,
    },
    #[error("{}: row {row}, column {col}: id {value} is negative", .path.display())]
    NegativeId {
        path: PathBuf,
        row: usize,
        col: usize,
        value: i64,
    },
    #[error("{}: not a .npy file (the magic string \\x93NUMPY is missing)", .path.display())]
    NpyMagic { path: PathBuf },
    #[error("{}: .npy version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)", .path.display())]
    NpyVersion { path: PathBuf, major: u8, minor: u8 },
    #[error("{}: malformed .npy header: {reason}", .path.display())]
    NpyHeader { path: PathBuf, reason: String },
    #[error("{}: .npy dtype '{dtype}' is not supported here ({reason})", .path.display())]
    NpyDtype {
        path: PathBuf,
        dtype: String,
        reason: String,
    },
    #[error("{}: .npy array is in Fortran (column-major) order; save it in C order (np.ascontiguousarray)", .path.display())]
    NpyFortran { path: PathBuf },
    #[error("{}: .npy shape {shape} is not 2-D (rows, dim)", .path.display())]
    NpyShape { path: PathBuf, shape: String },
    #[error("{}: .npy data holds {got} bytes, but the shape ({rows}, {dim}) needs {want}", .path.display())]
    NpyDataLength {
        path: PathBuf,
        rows: u64,
        dim: u64,
        want: u64,
        got: u64,
    },
    #[error("{}: line {line}, column {col}: {reason}", .path.display())]
    Csv {
        path: PathBuf,
        line: usize,
        col: usize,
        reason: String,
    },
    #[error("{}: unknown extension {ext:?} (expected one of: {expected})", .path.display())]
    UnknownExtension {
        path: PathBuf,
        ext: String,
        expected: &'static str,
    },
    #[error("{what} holds {got} values, which is not a whole number of rows of dimension {dim}")]
    Shape {
        what: &'static str,
        got: usize,
        dim: usize,
    },
    #[error("dimension mismatch: the base vectors have dimension {base}, the queries {queries}")]
    DimMismatch { base: usize, queries: usize },
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
}

impl DatasetError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
