//! NumPy's `.npy` format (versions 1.0, 2.0 and 3.0): the magic
//! `\x93NUMPY`, a version, a little-endian header length (u16 in 1.0, u32
//! after), a Python dict literal `{'descr': '<f4', 'fortran_order': False,
//! 'shape': (n, d), }` padded to a multiple of 64 bytes, then the raw data.
//! Hektor reads 2-D, C-order, little-endian arrays of `<f4`, `|u1` and
//! `|i1` (vectors) and `<i4` (ids).

use super::{check_finite, id_from_i32, id_to_i32, DatasetError, Matrix, Neighbors};
use hektor_kernels::MAX_DIM;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
const IO_BUFFER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    U8,
    I8,
    I32,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::U8 | Dtype::I8 => 1,
        }
    }

    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::U8 => "|u1",
            Dtype::I8 => "|i1",
            Dtype::I32 => "<i4",
        }
    }

    /// NumPy writes `|` (byte order irrelevant) for one-byte types, but
    /// `<` and `=` are legal spellings too; `=` means native, which is
    /// little-endian on every host Hektor runs on (x86-64).
    fn parse(path: &Path, descr: &str) -> Result<Dtype, DatasetError> {
        let unsupported = |reason: &str| DatasetError::NpyDtype {
            path: path.to_path_buf(),
            dtype: descr.to_string(),
            reason: reason.to_string(),
        };
        let (order, code) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
            _ => ('=', descr),
        };
        let dtype = match code {
            "f4" => Dtype::F32,
            "u1" | "B" => Dtype::U8,
            "i1" | "b" => Dtype::I8,
            "i4" => Dtype::I32,
            _ => return Err(unsupported("vectors must be <f4, |u1 or |i1, ids <i4")),
        };
        if order == '>' && dtype.size() > 1 {
            return Err(unsupported(
                "big-endian; convert with arr.astype(arr.dtype.newbyteorder('<'))",
            ));
        }
        Ok(dtype)
    }
}

/// The parsed header.
struct Header {
    dtype: Dtype,
    rows: u64,
    dim: u64,
}

/// Reads a `.npy` file of vectors (`<f4`, `|u1` or `|i1`) as f32 rows.
pub fn read_npy_vectors(path: impl AsRef<Path>) -> Result<Matrix, DatasetError> {
    let path = path.as_ref();
    let (header, mut r) = open(path)?;
    if header.dtype == Dtype::I32 {
        return Err(DatasetError::NpyDtype {
            path: path.to_path_buf(),
            dtype: header.dtype.descr().into(),
            reason: "i32 arrays hold ids; vectors must be <f4, |u1 or |i1".into(),
        });
    }
    // Checked against the file size in `open`.
    let n = (header.rows * header.dim) as usize;
    let dim = header.dim as usize;
    let mut data = Vec::with_capacity(n);
    // Decoded in chunks of whole rows so that the row and column of a bad
    // value are known.
    let rows_per_chunk = (IO_BUFFER / (dim * header.dtype.size())).max(1);
    let mut bytes = Vec::new();
    let mut row = 0usize;
    while row < header.rows as usize {
        let take = rows_per_chunk.min(header.rows as usize - row);
        bytes.resize(take * dim * header.dtype.size(), 0);
        r.read_exact(&mut bytes)
            .map_err(|e| DatasetError::io(path, e))?;
        let start = data.len();
        match header.dtype {
            Dtype::F32 => {
                data.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                for (i, values) in data[start..].chunks_exact(dim).enumerate() {
                    check_finite(path, row + i, values)?;
                }
            }
            Dtype::U8 => data.extend(bytes.iter().map(|&b| b as f32)),
            // (I32 was refused before the loop.)
            Dtype::I8 | Dtype::I32 => data.extend(bytes.iter().map(|&b| b as i8 as f32)),
        }
        row += take;
    }
    Matrix::new(dim, data)
}

/// Reads a `.npy` file of result ids (`<i4`, non-negative).
pub fn read_npy_ids(path: impl AsRef<Path>) -> Result<Neighbors, DatasetError> {
    let path = path.as_ref();
    let (header, mut r) = open(path)?;
    if header.dtype != Dtype::I32 {
        return Err(DatasetError::NpyDtype {
            path: path.to_path_buf(),
            dtype: header.dtype.descr().into(),
            reason: "ids must be <i4".into(),
        });
    }
    let k = header.dim as usize;
    let mut bytes = vec![0u8; (header.rows * header.dim * 4) as usize];
    r.read_exact(&mut bytes)
        .map_err(|e| DatasetError::io(path, e))?;
    let mut ids = Vec::with_capacity(bytes.len() / 4);
    for (i, c) in bytes.chunks_exact(4).enumerate() {
        let v = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        ids.push(id_from_i32(path, i / k, i % k, v)?);
    }
    Neighbors::new(k, ids)
}

/// Opens `path`, checks the magic, version and header against the file
/// size, and returns the header and a reader positioned at the data.
fn open(path: &Path) -> Result<(Header, BufReader<File>), DatasetError> {
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
    let bad = |reason: String| DatasetError::NpyHeader {
        path: path.to_path_buf(),
        reason,
    };
    let mut prefix = [0u8; 8];
    let got = read_up_to(&mut r, &mut prefix).map_err(|e| DatasetError::io(path, e))?;
    if got < 6 || &prefix[..6] != MAGIC {
        return Err(DatasetError::NpyMagic {
            path: path.to_path_buf(),
        });
    }
    if got < 8 {
        return Err(bad(format!(
            "the file ends after {got} bytes, inside the version"
        )));
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(DatasetError::NpyVersion {
                path: path.to_path_buf(),
                major,
                minor,
            })
        }
    };
    let mut hlen = [0u8; 4];
    if read_up_to(&mut r, &mut hlen[..len_bytes]).map_err(|e| DatasetError::io(path, e))?
        < len_bytes
    {
        return Err(bad("the file ends inside the header length".into()));
    }
    let header_len = u32::from_le_bytes(hlen) as u64;
    let data_start = 8 + len_bytes as u64 + header_len;
    if data_start > len {
        return Err(bad(format!(
            "the header claims {header_len} bytes, but the file has only {} after the prefix",
            len - 8 - len_bytes as u64
        )));
    }
    let mut text = vec![0u8; header_len as usize];
    r.read_exact(&mut text)
        .map_err(|e| DatasetError::io(path, e))?;
    // 1.0 and 2.0 headers are latin-1 (in practice ASCII), 3.0 UTF-8; the
    // keys and values Hektor accepts are ASCII either way.
    let text = String::from_utf8(text).map_err(|_| bad("the header is not text".into()))?;
    let dict = parse_dict(&text).map_err(bad)?;
    let descr = match dict.get("descr") {
        Some(Value::Str(s)) => s.clone(),
        Some(_) => {
            return Err(bad(
                "'descr' is not a string (structured dtypes are not supported)".into(),
            ))
        }
        None => return Err(bad("no 'descr' key".into())),
    };
    let fortran = match dict.get("fortran_order") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(bad("no boolean 'fortran_order' key".into())),
    };
    let shape = match dict.get("shape") {
        Some(Value::Tuple(t)) => t.clone(),
        _ => return Err(bad("no tuple 'shape' key".into())),
    };
    let dtype = Dtype::parse(path, &descr)?;
    if fortran {
        return Err(DatasetError::NpyFortran {
            path: path.to_path_buf(),
        });
    }
    let shape_text = format!(
        "({})",
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if shape.len() != 2 {
        return Err(DatasetError::NpyShape {
            path: path.to_path_buf(),
            shape: shape_text,
        });
    }
    let (rows, dim) = (shape[0], shape[1]);
    if rows == 0 {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    }
    if dim == 0 || dim > MAX_DIM as u64 {
        return Err(DatasetError::BadDim {
            path: path.to_path_buf(),
            row: 0,
            dim: dim as i64,
            max: MAX_DIM,
        });
    }
    let got = len - data_start;
    // `rows` is untrusted: an overflowing product is simply "too long".
    let want = rows
        .checked_mul(dim)
        .and_then(|v| v.checked_mul(dtype.size() as u64))
        .unwrap_or(u64::MAX);
    if want != got {
        return Err(DatasetError::NpyDataLength {
            path: path.to_path_buf(),
            rows,
            dim,
            want,
            got,
        });
    }
    Ok((Header { dtype, rows, dim }, r))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A value of the header dict: the three kinds NumPy writes.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Parses the Python dict literal of a header: string keys; string,
/// `True`/`False` or integer-tuple values. Anything else is an error.
fn parse_dict(text: &str) -> Result<std::collections::HashMap<String, Value>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let mut dict = std::collections::HashMap::new();
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        dict.insert(key, value);
        p.skip_ws();
        if p.eat(b',') {
            continue;
        }
        p.expect(b'}')?;
        break;
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text after the dict at byte {}", p.i));
    }
    Ok(dict)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a string at byte {}", self.i)),
        };
        let start = self.i + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| "unterminated string".to_string())?
            + start;
        self.i = end + 1;
        String::from_utf8(self.s[start..end].to_vec()).map_err(|_| "string is not UTF-8".into())
    }

    fn word(&mut self) -> &[u8] {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => self.string().map(Value::Str),
            Some(b'(') => {
                self.i += 1;
                let mut dims = vec![];
                loop {
                    if self.eat(b')') {
                        break;
                    }
                    self.skip_ws();
                    let at = self.i;
                    let w = self.word();
                    let n = std::str::from_utf8(w)
                        .ok()
                        .and_then(|t| t.strip_suffix('L').or(Some(t)))
                        .and_then(|t| t.parse::<u64>().ok())
                        .ok_or_else(|| format!("expected a non-negative integer at byte {at}"))?;
                    dims.push(n);
                    if self.eat(b',') {
                        continue;
                    }
                    self.expect(b')')?;
                    break;
                }
                Ok(Value::Tuple(dims))
            }
            _ => {
                let at = self.i;
                match self.word() {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    _ => Err(format!("unexpected value at byte {at}")),
                }
            }
        }
    }
}

/// Streams a 2-D C-order array to `path`: the header, then each value's
/// little-endian bytes through a buffer.
fn write_npy<T: Copy>(
    path: &Path,
    dtype: Dtype,
    rows: usize,
    dim: usize,
    values: &[T],
    put: impl Fn(T, &mut Vec<u8>) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let file = File::create(path).map_err(|e| DatasetError::io(path, e))?;
    let mut w = BufWriter::with_capacity(IO_BUFFER, file);
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({rows}, {dim}), }}",
        dtype.descr()
    );
    // Pad with spaces and end with a newline so that the data starts on a
    // 64-byte boundary, as NumPy does (the spec asks for 16; NumPy ≥ 1.14
    // uses 64). Version 2.0 only when the header outgrows a u16.
    let (version, len_bytes) = if dict.len() + 12 < u16::MAX as usize {
        (1u8, 2usize)
    } else {
        (2u8, 4usize)
    };
    let unpadded = MAGIC.len() + 2 + len_bytes + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut head = Vec::with_capacity(64 + dict.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        head.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        head.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    head.extend_from_slice(dict.as_bytes());
    w.write_all(&head).map_err(|e| DatasetError::io(path, e))?;
    let mut scratch = Vec::with_capacity(64 * 1024);
    for chunk in values.chunks(16 * 1024) {
        scratch.clear();
        for &v in chunk {
            put(v, &mut scratch)?;
        }
        w.write_all(&scratch)
            .map_err(|e| DatasetError::io(path, e))?;
    }
    w.flush().map_err(|e| DatasetError::io(path, e))?;
    Ok(())
}

/// Writes `m` as a `<f4` `.npy` file.
pub fn write_npy_f32(path: impl AsRef<Path>, m: &Matrix) -> Result<(), DatasetError> {
    write_npy(
        path.as_ref(),
        Dtype::F32,
        m.len(),
        m.dim(),
        m.as_slice(),
        |v, out| {
            out.extend_from_slice(&v.to_le_bytes());
            Ok(())
        },
    )
}

fn check_rows(what: &'static str, len: usize, dim: usize) -> Result<usize, DatasetError> {
    if dim == 0 || !len.is_multiple_of(dim) {
        return Err(DatasetError::Shape {
            what,
            got: len,
            dim,
        });
    }
    Ok(len / dim)
}

/// Writes rows of `dim` bytes as a `|u1` `.npy` file.
pub fn write_npy_u8(path: impl AsRef<Path>, dim: usize, data: &[u8]) -> Result<(), DatasetError> {
    let rows = check_rows("npy u8 data", data.len(), dim)?;
    write_npy(path.as_ref(), Dtype::U8, rows, dim, data, |v, out| {
        out.push(v);
        Ok(())
    })
}

/// Writes rows of `dim` signed bytes as a `|i1` `.npy` file.
pub fn write_npy_i8(path: impl AsRef<Path>, dim: usize, data: &[i8]) -> Result<(), DatasetError> {
    let rows = check_rows("npy i8 data", data.len(), dim)?;
    write_npy(path.as_ref(), Dtype::I8, rows, dim, data, |v, out| {
        out.push(v as u8);
        Ok(())
    })
}

/// Writes result ids as a `<i4` `.npy` file.
pub fn write_npy_ids(path: impl AsRef<Path>, ids: &Neighbors) -> Result<(), DatasetError> {
    write_npy(
        path.as_ref(),
        Dtype::I32,
        ids.len(),
        ids.k(),
        ids.as_slice(),
        |v, out| {
            out.extend_from_slice(&id_to_i32("npy writer", v)?.to_le_bytes());
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dicts_parse_as_numpy_writes_them() {
        let d =
            parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }  \n").unwrap();
        assert_eq!(d["descr"], Value::Str("<f4".into()));
        assert_eq!(d["fortran_order"], Value::Bool(false));
        assert_eq!(d["shape"], Value::Tuple(vec![3, 4]));
        let d =
            parse_dict("{\"shape\": (7,), \"fortran_order\": True, \"descr\": \"|u1\"}").unwrap();
        assert_eq!(d["shape"], Value::Tuple(vec![7]));
        assert_eq!(d["fortran_order"], Value::Bool(true));
        assert_eq!(
            parse_dict("{'shape': ()}").unwrap()["shape"],
            Value::Tuple(vec![])
        );
        for bad in [
            "",
            "{",
            "{'a' 1}",
            "{'a': (1, x)}",
            "{'a': 'b'} junk",
            "{'a': None}",
        ] {
            assert!(parse_dict(bad).is_err(), "{bad:?} parsed");
        }
    }
}
