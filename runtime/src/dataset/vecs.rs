//! The `.fvecs` / `.ivecs` / `.bvecs` formats of the SIFT and GIST corpora
//! (and ann-benchmarks' ground truth): every row is its dimension as a
//! little-endian i32, then that many little-endian values (f32, i32 or u8).
//! There is no file header, so the row count comes from the file size.

use super::{check_finite, id_from_i32, id_to_i32, DatasetError, Matrix, Neighbors};
use hektor_kernels::MAX_DIM;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Buffers for streaming: large enough that the per-call overhead of
/// `read`/`write` vanishes, small enough to be irrelevant next to the data.
const IO_BUFFER: usize = 1 << 20;

/// An element type of a `*vecs` file.
pub trait VecsElement: Copy {
    /// Bytes per value on disk.
    const SIZE: usize;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
}

impl VecsElement for f32 {
    const SIZE: usize = 4;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl VecsElement for i32 {
    const SIZE: usize = 4;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl VecsElement for u8 {
    const SIZE: usize = 1;
    fn put(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

/// Writes a `*vecs` file row by row through a buffer, so a caller can
/// stream rows of any count without holding them all. Every row must have
/// the first row's dimension. Call [`VecsWriter::finish`]: it flushes and
/// reports the error a plain drop would swallow.
pub struct VecsWriter<T: VecsElement> {
    path: PathBuf,
    out: BufWriter<File>,
    dim: Option<usize>,
    rows: usize,
    scratch: Vec<u8>,
    _element: PhantomData<T>,
}

impl<T: VecsElement> VecsWriter<T> {
    /// Creates (or truncates) `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| DatasetError::io(path, e))?;
        Ok(VecsWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(IO_BUFFER, file),
            dim: None,
            rows: 0,
            scratch: Vec::new(),
            _element: PhantomData,
        })
    }

    /// Appends one row.
    pub fn write_row(&mut self, row: &[T]) -> Result<(), DatasetError> {
        let dim = *self.dim.get_or_insert(row.len());
        if row.is_empty() || row.len() > MAX_DIM || row.len() != dim {
            return Err(DatasetError::Invalid {
                what: "vecs writer",
                reason: format!(
                    "{}: row {} has {} values; rows need 1..={MAX_DIM} values, all as many as the first ({dim})",
                    self.path.display(),
                    self.rows,
                    row.len()
                ),
            });
        }
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&(row.len() as i32).to_le_bytes());
        for &v in row {
            v.put(&mut self.scratch);
        }
        self.out
            .write_all(&self.scratch)
            .map_err(|e| DatasetError::io(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes the buffer; returns the number of rows written. (Dropping
    /// a `BufWriter` flushes too, but swallows the error, such as a full
    /// disk.)
    pub fn finish(mut self) -> Result<usize, DatasetError> {
        self.out
            .flush()
            .map_err(|e| DatasetError::io(&self.path, e))?;
        Ok(self.rows)
    }
}

/// Writes `m` as `.fvecs`.
pub fn write_fvecs(path: impl AsRef<Path>, m: &Matrix) -> Result<(), DatasetError> {
    let mut w = VecsWriter::<f32>::create(path)?;
    for row in m.rows() {
        w.write_row(row)?;
    }
    w.finish().map(|_| ())
}

/// Writes rows of `dim` bytes from `data` as `.bvecs`.
pub fn write_bvecs(path: impl AsRef<Path>, dim: usize, data: &[u8]) -> Result<(), DatasetError> {
    if dim == 0 || !data.len().is_multiple_of(dim) {
        return Err(DatasetError::Shape {
            what: "bvecs data",
            got: data.len(),
            dim,
        });
    }
    let mut w = VecsWriter::<u8>::create(path)?;
    for row in data.chunks_exact(dim) {
        w.write_row(row)?;
    }
    w.finish().map(|_| ())
}

/// Writes result ids as `.ivecs` (ids above `i32::MAX` are refused).
pub fn write_ivecs(path: impl AsRef<Path>, ids: &Neighbors) -> Result<(), DatasetError> {
    let mut w = VecsWriter::<i32>::create(path)?;
    let mut row32 = Vec::with_capacity(ids.k());
    for row in ids.rows() {
        row32.clear();
        for &id in row {
            row32.push(id_to_i32("ivecs writer", id)?);
        }
        w.write_row(&row32)?;
    }
    w.finish().map(|_| ())
}

/// Reads `.fvecs`; NaN and ±inf are refused.
pub fn read_fvecs(path: impl AsRef<Path>) -> Result<Matrix, DatasetError> {
    let path = path.as_ref();
    let (dim, data) = read_rows(path, 4, |row, bytes, out: &mut Vec<f32>| {
        let start = out.len();
        out.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(le4(c))));
        check_finite(path, row, &out[start..])
    })?;
    Matrix::new(dim, data)
}

/// Reads `.bvecs`, widening each byte to f32.
pub fn read_bvecs(path: impl AsRef<Path>) -> Result<Matrix, DatasetError> {
    let path = path.as_ref();
    let (dim, data) = read_rows(path, 1, |_, bytes, out: &mut Vec<f32>| {
        out.extend(bytes.iter().map(|&b| b as f32));
        Ok(())
    })?;
    Matrix::new(dim, data)
}

/// Reads `.ivecs` result ids; negative ids are refused.
pub fn read_ivecs(path: impl AsRef<Path>) -> Result<Neighbors, DatasetError> {
    let path = path.as_ref();
    let (k, ids) = read_rows(path, 4, |row, bytes, out: &mut Vec<u32>| {
        for (col, c) in bytes.chunks_exact(4).enumerate() {
            out.push(id_from_i32(path, row, col, i32::from_le_bytes(le4(c)))?);
        }
        Ok(())
    })?;
    Neighbors::new(k, ids)
}

/// The first four bytes of `c` (callers pass `chunks_exact(4)` items).
fn le4(c: &[u8]) -> [u8; 4] {
    [c[0], c[1], c[2], c[3]]
}

/// Streams the rows of a `*vecs` file with `elem`-byte values, handing
/// each row's bytes to `decode`, which appends the decoded values to the
/// output. Returns the dimension and the values. The output is reserved
/// once from the file size and the first row's dimension, so a lying
/// header cannot make it allocate more than the file holds.
fn read_rows<O>(
    path: &Path,
    elem: usize,
    mut decode: impl FnMut(usize, &[u8], &mut Vec<O>) -> Result<(), DatasetError>,
) -> Result<(usize, Vec<O>), DatasetError> {
    let file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| DatasetError::io(path, e))?
        .len();
    if len == 0 {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut r = BufReader::with_capacity(IO_BUFFER, file);
    let mut out: Vec<O> = Vec::new();
    let mut bytes = Vec::new();
    let mut first: Option<usize> = None;
    let mut offset = 0u64;
    let mut row = 0usize;
    while offset < len {
        let left = len - offset;
        if left < 4 {
            return Err(truncated(path, row, "dimension header", 4, left));
        }
        let mut head = [0u8; 4];
        r.read_exact(&mut head)
            .map_err(|e| DatasetError::io(path, e))?;
        let d = i32::from_le_bytes(head);
        let dim = match first {
            Some(f) if d as i64 != f as i64 => {
                return Err(DatasetError::InconsistentDim {
                    path: path.to_path_buf(),
                    row,
                    dim: d as i64,
                    first: f,
                })
            }
            Some(f) => f,
            None => {
                if d <= 0 || d as usize > MAX_DIM {
                    return Err(DatasetError::BadDim {
                        path: path.to_path_buf(),
                        row,
                        dim: d as i64,
                        max: MAX_DIM,
                    });
                }
                let dim = d as usize;
                // Bounded by the file size: at most len / (row bytes) rows.
                let rows = len / (4 + (dim * elem) as u64);
                out.reserve_exact(rows as usize * dim);
                first = Some(dim);
                dim
            }
        };
        let want = (dim * elem) as u64;
        if left - 4 < want {
            return Err(truncated(path, row, "row data", want, left - 4));
        }
        bytes.resize(dim * elem, 0);
        r.read_exact(&mut bytes)
            .map_err(|e| DatasetError::io(path, e))?;
        decode(row, &bytes, &mut out)?;
        offset += 4 + want;
        row += 1;
    }
    // `len > 0` means at least one row was read, so `first` is set.
    let dim = first.ok_or_else(|| DatasetError::Empty {
        path: path.to_path_buf(),
    })?;
    Ok((dim, out))
}

fn truncated(path: &Path, row: usize, what: &'static str, want: u64, got: u64) -> DatasetError {
    DatasetError::Truncated {
        path: path.to_path_buf(),
        row,
        what,
        want,
        got,
    }
}
