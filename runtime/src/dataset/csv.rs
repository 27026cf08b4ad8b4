//! Result ids as CSV: one line per query, its neighbour ids separated by
//! commas, nearest first. Every line must hold the same number of ids.

use super::{DatasetError, Neighbors};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Reads result ids from CSV. Blank lines at the end are ignored; a blank
/// line between rows, a field that is not an integer, a negative id or a
/// row of another length is an error naming its line and column (1-based,
/// as editors show them).
pub fn read_ids_csv(path: impl AsRef<Path>) -> Result<Neighbors, DatasetError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    let lines: Vec<&str> = text.lines().collect();
    let used = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    if used == 0 {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
        });
    }
    let csv_error = |line: usize, col: usize, reason: String| DatasetError::Csv {
        path: path.to_path_buf(),
        line: line + 1,
        col: col + 1,
        reason,
    };
    let mut ids = Vec::new();
    let mut k = 0;
    for (line, text) in lines[..used].iter().enumerate() {
        if text.trim().is_empty() {
            return Err(csv_error(line, 0, "empty row".into()));
        }
        let mut count = 0;
        for (col, field) in text.split(',').enumerate() {
            let field = field.trim();
            let id: i64 = field
                .parse()
                .map_err(|_| csv_error(line, col, format!("`{field}` is not an integer id")))?;
            if id < 0 {
                return Err(DatasetError::NegativeId {
                    path: path.to_path_buf(),
                    row: line,
                    col,
                    value: id,
                });
            }
            let id = u32::try_from(id)
                .map_err(|_| csv_error(line, col, format!("id {id} does not fit in u32")))?;
            ids.push(id);
            count += 1;
        }
        if line == 0 {
            k = count;
        } else if count != k {
            return Err(DatasetError::InconsistentDim {
                path: path.to_path_buf(),
                row: line,
                dim: count as i64,
                first: k,
            });
        }
    }
    Neighbors::new(k, ids)
}

/// Writes result ids as CSV, one row per line.
pub fn write_ids_csv(path: impl AsRef<Path>, ids: &Neighbors) -> Result<(), DatasetError> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| DatasetError::io(path, e))?;
    let mut w = BufWriter::new(file);
    let mut line = String::new();
    for row in ids.rows() {
        line.clear();
        for (i, id) in row.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&id.to_string());
        }
        line.push('\n');
        w.write_all(line.as_bytes())
            .map_err(|e| DatasetError::io(path, e))?;
    }
    w.flush().map_err(|e| DatasetError::io(path, e))?;
    Ok(())
}
