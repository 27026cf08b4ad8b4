//! Vector data sets on disk and in memory: the SIFT/ann-benchmarks
//! `.fvecs`/`.ivecs`/`.bvecs` formats, NumPy `.npy`, CSV result ids, and a
//! synthetic generator ([`gen`]).
//!
//! Everything is loaded into a [`Matrix`] (n × dim f32, row-major; `u8` and
//! `i8` input is widened to f32) or, for result ids, a [`Neighbors`]
//! (n × k u32). Readers treat files as untrusted: every header is checked
//! against the file's size before anything is allocated, and every bad
//! input becomes a [`DatasetError`] that names the file, the row (0-based)
//! and, for values, the column. Writers stream through a buffer, so saving
//! a matrix never needs a second copy of it in memory.

mod csv;
mod error;
pub mod gen;
mod npy;
mod vecs;

pub use csv::{read_ids_csv, write_ids_csv};
pub use error::DatasetError;
pub use npy::{
    read_npy_ids, read_npy_vectors, write_npy_f32, write_npy_i8, write_npy_ids, write_npy_u8,
};
pub use vecs::{
    read_bvecs, read_fvecs, read_ivecs, write_bvecs, write_fvecs, write_ivecs, VecsElement,
    VecsWriter,
};

use hektor_kernels::MAX_DIM;
use std::path::Path;

/// `n` vectors of `dim` f32 components, row-major and contiguous.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    dim: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// Rows of `dim` values taken from `data` (its length must be a
    /// multiple of `dim`, and `dim` in 1..=65536, the kernels' range).
    pub fn new(dim: usize, data: Vec<f32>) -> Result<Self, DatasetError> {
        check_dim_value(dim)?;
        if !data.len().is_multiple_of(dim) {
            return Err(DatasetError::Shape {
                what: "matrix data",
                got: data.len(),
                dim,
            });
        }
        Ok(Matrix { dim, data })
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`. Panics if `i >= len()`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim)
    }

    /// All values, row after row.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

/// Result ids: `n` rows of `k` ids each (the neighbours of one query per
/// row, nearest first), row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbors {
    k: usize,
    ids: Vec<u32>,
}

impl Neighbors {
    /// Rows of `k` ids taken from `ids` (`k` ≥ 1, `ids.len()` a multiple
    /// of `k`).
    pub fn new(k: usize, ids: Vec<u32>) -> Result<Self, DatasetError> {
        if k == 0 {
            return Err(DatasetError::Invalid {
                what: "neighbour lists",
                reason: "k must be at least 1".into(),
            });
        }
        if !ids.len().is_multiple_of(k) {
            return Err(DatasetError::Shape {
                what: "neighbour ids",
                got: ids.len(),
                dim: k,
            });
        }
        Ok(Neighbors { k, ids })
    }

    /// The ids of search results, one row per query. Every row must hold
    /// the same number of results (≥ 1).
    pub fn from_results(results: &[Vec<(u32, f32)>]) -> Result<Self, DatasetError> {
        let k = results.first().map_or(0, Vec::len);
        if let Some((row, r)) = results.iter().enumerate().find(|(_, r)| r.len() != k) {
            return Err(DatasetError::Invalid {
                what: "search results",
                reason: format!(
                    "query {row} has {} results, query 0 has {k}; every row must have as many",
                    r.len()
                ),
            });
        }
        Neighbors::new(k, results.iter().flatten().map(|&(id, _)| id).collect())
    }

    /// The number of rows (queries).
    pub fn len(&self) -> usize {
        self.ids.len() / self.k
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Ids per row.
    pub fn k(&self) -> usize {
        self.k
    }

    pub fn row(&self, i: usize) -> &[u32] {
        &self.ids[i * self.k..(i + 1) * self.k]
    }

    pub fn rows(&self) -> std::slice::ChunksExact<'_, u32> {
        self.ids.chunks_exact(self.k)
    }

    pub fn as_slice(&self) -> &[u32] {
        &self.ids
    }
}

/// The file formats, named by their extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// f32 rows, each preceded by its dimension (i32).
    Fvecs,
    /// i32 rows (result ids), each preceded by its dimension.
    Ivecs,
    /// u8 rows, each preceded by its dimension.
    Bvecs,
    /// NumPy `.npy`, 2-D, C order.
    Npy,
    /// Comma-separated ids, one row per line.
    Csv,
}

impl Format {
    /// The format `path`'s extension names (case-insensitive).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "fvecs" => Format::Fvecs,
            "ivecs" => Format::Ivecs,
            "bvecs" => Format::Bvecs,
            "npy" => Format::Npy,
            "csv" => Format::Csv,
            _ => return None,
        })
    }
}

fn unknown_extension(path: &Path, expected: &'static str) -> DatasetError {
    DatasetError::UnknownExtension {
        path: path.to_path_buf(),
        ext: path
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default(),
        expected,
    }
}

const VECTOR_FORMATS: &str = ".fvecs, .bvecs, .npy";
const ID_FORMATS: &str = ".ivecs, .csv, .npy";

/// Loads vectors from `path`, picking the reader by extension: `.fvecs`,
/// `.bvecs` (u8, widened) or `.npy` (`<f4`, `|u1` or `|i1`).
pub fn load_vectors(path: impl AsRef<Path>) -> Result<Matrix, DatasetError> {
    let path = path.as_ref();
    match Format::from_path(path) {
        Some(Format::Fvecs) => read_fvecs(path),
        Some(Format::Bvecs) => read_bvecs(path),
        Some(Format::Npy) => read_npy_vectors(path),
        _ => Err(unknown_extension(path, VECTOR_FORMATS)),
    }
}

/// Saves vectors as `.fvecs` or `.npy` (`<f4`), by extension.
pub fn save_vectors(path: impl AsRef<Path>, m: &Matrix) -> Result<(), DatasetError> {
    let path = path.as_ref();
    match Format::from_path(path) {
        Some(Format::Fvecs) => write_fvecs(path, m),
        Some(Format::Npy) => write_npy_f32(path, m),
        _ => Err(unknown_extension(path, ".fvecs, .npy")),
    }
}

/// Loads result ids from `.ivecs`, `.csv` or `.npy` (`<i4`).
pub fn load_ids(path: impl AsRef<Path>) -> Result<Neighbors, DatasetError> {
    let path = path.as_ref();
    match Format::from_path(path) {
        Some(Format::Ivecs) => read_ivecs(path),
        Some(Format::Csv) => read_ids_csv(path),
        Some(Format::Npy) => read_npy_ids(path),
        _ => Err(unknown_extension(path, ID_FORMATS)),
    }
}

/// Saves result ids as `.ivecs`, `.csv` or `.npy` (`<i4`), by extension.
pub fn save_ids(path: impl AsRef<Path>, ids: &Neighbors) -> Result<(), DatasetError> {
    let path = path.as_ref();
    match Format::from_path(path) {
        Some(Format::Ivecs) => write_ivecs(path, ids),
        Some(Format::Csv) => write_ids_csv(path, ids),
        Some(Format::Npy) => write_npy_ids(path, ids),
        _ => Err(unknown_extension(path, ID_FORMATS)),
    }
}

/// Queries must have the base vectors' dimension.
pub fn check_same_dim(base: &Matrix, queries: &Matrix) -> Result<(), DatasetError> {
    if base.dim() != queries.dim() {
        return Err(DatasetError::DimMismatch {
            base: base.dim(),
            queries: queries.dim(),
        });
    }
    Ok(())
}

fn check_dim_value(dim: usize) -> Result<(), DatasetError> {
    if dim == 0 || dim > MAX_DIM {
        return Err(DatasetError::Invalid {
            what: "matrix",
            reason: format!("dimension {dim} is out of range (must be 1..={MAX_DIM})"),
        });
    }
    Ok(())
}

/// Rejects NaN and ±inf: a distance to such a vector is meaningless, and
/// one NaN silently poisons every top-k list it touches.
fn check_finite(path: &Path, row: usize, values: &[f32]) -> Result<(), DatasetError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(col) => Err(DatasetError::NonFinite {
            path: path.to_path_buf(),
            row,
            col,
            value: values[col],
        }),
    }
}

/// Converts an id read from a file (i32 in every format here) to u32.
fn id_from_i32(path: &Path, row: usize, col: usize, v: i32) -> Result<u32, DatasetError> {
    u32::try_from(v).map_err(|_| DatasetError::NegativeId {
        path: path.to_path_buf(),
        row,
        col,
        value: v as i64,
    })
}

/// Ids are written as i32 (the formats' type); larger ones cannot be.
fn id_to_i32(what: &'static str, id: u32) -> Result<i32, DatasetError> {
    i32::try_from(id).map_err(|_| DatasetError::Invalid {
        what,
        reason: format!("id {id} does not fit the formats' i32"),
    })
}
