//! A durable index: the index file plus a write-ahead log.
//!
//! Every insert and delete is appended to the log and synced before it is
//! applied and acknowledged, and replayed when the index is opened, so
//! after a `kill -9` (or a power cut, given a disk that honours fsync)
//! every acknowledged write is there. A checkpoint saves the whole index
//! to its file (atomically, by rename) and then empties the log; the file
//! records the last log sequence it holds, so a crash between the two
//! steps replays nothing twice. Writers are serialised by the log's lock
//! (their order is the log's order, so replay assigns the same ids);
//! searches never take it.

mod wal;

pub use wal::{Op, Record};

use crate::index::{
    FileError, HnswIndex, IndexError, IndexFile, IndexKernels, IndexParams, Scratch,
};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use thiserror::Error;
use wal::{Wal, WalProblem};

#[derive(Debug, Error)]
pub enum DurableError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the write-ahead log is corrupt: {what}")]
    Log { path: PathBuf, what: String },
    #[error("cannot compile the index's kernels: {0}")]
    Kernels(String),
}

/// What opening found, for the user.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    pub replayed_inserts: usize,
    pub replayed_deletes: usize,
    /// Records already in the index file (a crash after a checkpoint's
    /// save, before its log truncation).
    pub skipped_records: usize,
    /// Bytes of a torn last record cut off the log.
    pub torn_bytes: u64,
}

pub struct DurableIndex {
    index: HnswIndex,
    path: PathBuf,
    lineage: u64,
    log: Mutex<LogState>,
}

struct LogState {
    wal: Wal,
    /// Sequence number of the last record written.
    seq: u64,
    scratch: Scratch,
}

/// The log that goes with the index file at `path`.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

fn random_lineage() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // Seeded from the OS by std; the time and pid make collisions across
    // restarts even less likely.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    RandomState::new().hash_one((nanos, std::process::id())) | 1
}

impl DurableIndex {
    /// Makes `index` durable at `path` (replacing any index there): a
    /// fresh, empty log first, then the index file.
    pub fn create(path: &Path, index: HnswIndex) -> Result<Self, DurableError> {
        let lineage = random_lineage();
        let log_path = wal_path(path);
        let wal = Wal::create(&log_path, lineage).map_err(|source| DurableError::Io {
            path: log_path,
            source,
        })?;
        index.save(path, 0, lineage)?;
        let scratch = index.scratch()?;
        Ok(DurableIndex {
            index,
            path: path.into(),
            lineage,
            log: Mutex::new(LogState {
                wal,
                seq: 0,
                scratch,
            }),
        })
    }

    /// Opens the index at `path`, compiling its kernels with `kernels` (from
    /// the file's parameters: metric, dimension, traversal), and replays
    /// its log.
    pub fn open(
        path: &Path,
        kernels: impl FnOnce(&IndexParams) -> Result<IndexKernels, String>,
        max_elements: usize,
    ) -> Result<(Self, OpenReport), DurableError> {
        let file = IndexFile::open(path)?;
        let (checkpoint, lineage) = (file.checkpoint(), file.lineage());
        let k = kernels(&file.params()).map_err(DurableError::Kernels)?;
        let dim = file.dim();
        let index = file.load(k, max_elements)?;
        let log_path = wal_path(path);
        let log_error = |p: WalProblem| match p {
            WalProblem::Io(source) => DurableError::Io {
                path: log_path.clone(),
                source,
            },
            WalProblem::Corrupt(what) => DurableError::Log {
                path: log_path.clone(),
                what,
            },
        };
        let mut report = OpenReport::default();
        let (wal, seq) = if !log_path.exists() {
            // An index written by `hektor build` has no log yet.
            let wal = Wal::create(&log_path, lineage)
                .map_err(WalProblem::Io)
                .map_err(log_error)?;
            (wal, checkpoint)
        } else {
            let replay = Wal::open(&log_path, dim).map_err(log_error)?;
            if replay.lineage != lineage {
                if !replay.records.is_empty() {
                    return Err(log_error(WalProblem::Corrupt(
                        "it belongs to another index (lineage differs) and holds records".into(),
                    )));
                }
                // A crash while `create` replaced an index: the new log
                // was made, the old index kept. Start a log for it.
                let wal = Wal::create(&log_path, lineage)
                    .map_err(WalProblem::Io)
                    .map_err(log_error)?;
                (wal, checkpoint)
            } else {
                report.torn_bytes = replay.torn_bytes;
                let mut scratch = index.scratch()?;
                let mut seq = checkpoint;
                for record in replay.records {
                    if record.seq <= checkpoint {
                        report.skipped_records += 1;
                        continue;
                    }
                    if record.seq != seq + 1 {
                        return Err(log_error(WalProblem::Corrupt(format!(
                            "record {} follows checkpoint {checkpoint}",
                            record.seq
                        ))));
                    }
                    seq = record.seq;
                    match record.op {
                        Op::Insert { id, vector } => {
                            let got = index.insert(&vector, &mut scratch)?;
                            if got != id {
                                return Err(log_error(WalProblem::Corrupt(format!(
                                    "record {seq} inserted id {id}, replay gave {got}"
                                ))));
                            }
                            report.replayed_inserts += 1;
                        }
                        Op::Delete { id } => {
                            index.delete(id)?;
                            report.replayed_deletes += 1;
                        }
                    }
                }
                (replay.wal, seq)
            }
        };
        let scratch = index.scratch()?;
        Ok((
            DurableIndex {
                index,
                path: path.into(),
                lineage,
                log: Mutex::new(LogState { wal, seq, scratch }),
            },
            report,
        ))
    }

    /// The index, for searches (which never wait for writers).
    pub fn index(&self) -> &HnswIndex {
        &self.index
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A writer that panicked left the log consistent (records are
        // appended whole or cut off as torn on the next open).
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, log: &mut LogState, op: Op) -> Result<(), DurableError> {
        let record = Record {
            seq: log.seq + 1,
            op,
        };
        log.wal.append(&record).map_err(|source| DurableError::Io {
            path: log.wal.path().into(),
            source,
        })?;
        log.seq = record.seq;
        Ok(())
    }

    /// Inserts `vector`; when this returns `Ok(id)`, the insert is on disk.
    pub fn insert(&self, vector: &[f32]) -> Result<u32, DurableError> {
        let mut log = self.lock();
        self.index.check_vector(vector)?;
        if self.index.is_full() {
            return Err(IndexError::Full {
                max: self.index.params().max_elements,
            }
            .into());
        }
        let id = u32::try_from(self.index.next_label()).map_err(|_| IndexError::Full {
            max: u32::MAX as usize,
        })?;
        let op = Op::Insert {
            id,
            vector: vector.to_vec(),
        };
        self.append(&mut log, op)?;
        let got = self.index.insert(vector, &mut log.scratch)?;
        debug_assert_eq!(got, id, "inserts are serialised by the log lock");
        Ok(got)
    }

    /// Deletes `id`; when this returns `Ok`, the delete is on disk.
    pub fn delete(&self, id: u32) -> Result<(), DurableError> {
        let mut log = self.lock();
        self.index.check_delete(id)?;
        self.append(&mut log, Op::Delete { id })?;
        self.index.delete(id)?;
        Ok(())
    }

    /// Saves the index file and empties the log.
    pub fn checkpoint(&self) -> Result<(), DurableError> {
        let mut log = self.lock();
        self.index.save(&self.path, log.seq, self.lineage)?;
        log.wal.truncate().map_err(|source| DurableError::Io {
            path: log.wal.path().into(),
            source,
        })?;
        Ok(())
    }

    /// Rebuilds the index without its deleted vectors (labels are kept),
    /// saves it and empties the log. Consumes the index: nothing may
    /// search the old one while it is replaced.
    pub fn compact(
        self,
        threads: usize,
        progress: crate::index::BuildProgress,
    ) -> Result<Self, DurableError> {
        let mut log = self.log.into_inner().unwrap_or_else(|e| e.into_inner());
        let index = self.index.compact(threads, progress)?;
        index.save(&self.path, log.seq, self.lineage)?;
        log.wal.truncate().map_err(|source| DurableError::Io {
            path: log.wal.path().into(),
            source,
        })?;
        log.scratch = index.scratch()?;
        Ok(DurableIndex {
            index,
            path: self.path,
            lineage: self.lineage,
            log: Mutex::new(log),
        })
    }

    /// Bytes of records waiting in the log.
    pub fn log_bytes(&self) -> u64 {
        self.lock().wal.record_bytes()
    }
}
