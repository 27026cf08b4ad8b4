//! The write-ahead log: every insert and delete made to a loaded index,
//! appended and synced before it is acknowledged.
//!
//! ```text
//! header  "HEKTORWL", version u32, 0 u32, lineage u64        (24 bytes)
//! record  payload length u32, xxh3(payload) u64, payload
//! payload seq u64, op u8 (1 insert, 2 delete), id u32,
//!         then for inserts dim × f32
//! ```
//!
//! A crash can only tear the last record (records are appended, and each
//! is synced before the next is written), so on replay a bad record at
//! the end is cut off, while a bad record with more records after it is
//! corruption and refuses to open: a log never silently drops a write it
//! acknowledged.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

const MAGIC: [u8; 8] = *b"HEKTORWL";
const VERSION: u32 = 1;
pub const HEADER_BYTES: u64 = 24;
/// Bytes before a record's payload: length and checksum.
const FRAME_BYTES: usize = 12;
const OP_INSERT: u8 = 1;
const OP_DELETE: u8 = 2;

/// One logged change.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Insert { id: u32, vector: Vec<f32> },
    Delete { id: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub op: Op,
}

/// Why a log cannot be used.
#[derive(Debug)]
pub enum WalProblem {
    Io(io::Error),
    Corrupt(String),
}

impl From<io::Error> for WalProblem {
    fn from(e: io::Error) -> Self {
        WalProblem::Io(e)
    }
}

pub struct Wal {
    file: File,
    path: PathBuf,
    /// Where the next record goes.
    end: u64,
    buf: Vec<u8>,
}

/// What opening a log found.
pub struct Replay {
    pub wal: Wal,
    pub lineage: u64,
    pub records: Vec<Record>,
    /// Bytes of a torn last record that were cut off.
    pub torn_bytes: u64,
}

impl Wal {
    /// Creates (or empties) the log at `path` for an index of `lineage`,
    /// synced, so that it exists before the index that relies on it.
    pub fn create(path: &Path, lineage: u64) -> io::Result<Wal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let mut header = Vec::with_capacity(HEADER_BYTES as usize);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&lineage.to_le_bytes());
        file.write_all_at(&header, 0)?;
        file.sync_all()?;
        sync_parent(path)?;
        Ok(Wal {
            file,
            path: path.into(),
            end: HEADER_BYTES,
            buf: Vec::new(),
        })
    }

    /// Opens the log at `path` and reads every whole record, cutting off a
    /// torn last one.
    pub fn open(path: &Path, dim: usize) -> Result<Replay, WalProblem> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let bytes = std::fs::read(path)?;
        if bytes.len() < HEADER_BYTES as usize || bytes[..8] != MAGIC {
            return Err(WalProblem::Corrupt(
                "not a Hektor write-ahead log (bad header)".into(),
            ));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(WalProblem::Corrupt(format!("log version {version}")));
        }
        let lineage = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
        let mut records = Vec::new();
        let mut at = HEADER_BYTES as usize;
        let mut last_seq = None;
        while at < bytes.len() {
            match decode(&bytes[at..], dim) {
                Decoded::Record(record, len) => {
                    if last_seq.is_some_and(|s| record.seq != s + 1) {
                        return Err(WalProblem::Corrupt(format!(
                            "record at byte {at} has sequence {} after {}",
                            record.seq,
                            last_seq.unwrap_or(0)
                        )));
                    }
                    last_seq = Some(record.seq);
                    records.push(record);
                    at += len;
                }
                Decoded::Torn => break,
                Decoded::Bad(what) => {
                    return Err(WalProblem::Corrupt(format!("record at byte {at}: {what}")))
                }
            }
        }
        let torn_bytes = (bytes.len() - at) as u64;
        if torn_bytes > 0 {
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        Ok(Replay {
            wal: Wal {
                file,
                path: path.into(),
                end: at as u64,
                buf: Vec::new(),
            },
            lineage,
            records,
            torn_bytes,
        })
    }

    /// Appends `record` and syncs it to disk: when this returns, the
    /// record survives a crash.
    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; FRAME_BYTES]);
        self.buf.extend_from_slice(&record.seq.to_le_bytes());
        match &record.op {
            Op::Insert { id, vector } => {
                self.buf.push(OP_INSERT);
                self.buf.extend_from_slice(&id.to_le_bytes());
                for x in vector {
                    self.buf.extend_from_slice(&x.to_le_bytes());
                }
            }
            Op::Delete { id } => {
                self.buf.push(OP_DELETE);
                self.buf.extend_from_slice(&id.to_le_bytes());
            }
        }
        let payload_len = (self.buf.len() - FRAME_BYTES) as u32;
        let sum = xxh3_64(&self.buf[FRAME_BYTES..]);
        self.buf[..4].copy_from_slice(&payload_len.to_le_bytes());
        self.buf[4..FRAME_BYTES].copy_from_slice(&sum.to_le_bytes());
        // One positioned write per record: a crash leaves at most this
        // record partly written, at the end.
        self.file.write_all_at(&self.buf, self.end)?;
        self.file.sync_data()?;
        self.end += self.buf.len() as u64;
        Ok(())
    }

    /// Drops every record (after a checkpoint has saved them in the index
    /// file), keeping the header.
    pub fn truncate(&mut self) -> io::Result<()> {
        self.file.set_len(HEADER_BYTES)?;
        self.file.sync_all()?;
        self.end = HEADER_BYTES;
        Ok(())
    }

    /// Bytes of records in the log.
    pub fn record_bytes(&self) -> u64 {
        self.end - HEADER_BYTES
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

enum Decoded {
    Record(Record, usize),
    /// The bytes end inside this record: a crash mid-append.
    Torn,
    Bad(String),
}

fn decode(bytes: &[u8], dim: usize) -> Decoded {
    if bytes.len() < FRAME_BYTES {
        return Decoded::Torn;
    }
    let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let sum = u64::from_le_bytes(bytes[4..FRAME_BYTES].try_into().expect("8 bytes"));
    let insert_len = 13 + 4 * dim;
    if len != 13 && len != insert_len {
        // A length no record has: torn if nothing could follow it, else
        // the log is damaged.
        return if bytes.len() < FRAME_BYTES + insert_len {
            Decoded::Torn
        } else {
            Decoded::Bad(format!("length {len}"))
        };
    }
    let Some(payload) = bytes.get(FRAME_BYTES..FRAME_BYTES + len) else {
        return Decoded::Torn;
    };
    if xxh3_64(payload) != sum {
        return if bytes.len() == FRAME_BYTES + len {
            Decoded::Torn
        } else {
            Decoded::Bad("checksum mismatch".into())
        };
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
    let id = u32::from_le_bytes(payload[9..13].try_into().expect("4 bytes"));
    let op = match (payload[8], len == insert_len) {
        (OP_INSERT, true) => Op::Insert {
            id,
            vector: payload[13..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
        },
        (OP_DELETE, false) => Op::Delete { id },
        (op, _) => return Decoded::Bad(format!("operation {op} with {len} bytes")),
    };
    Decoded::Record(Record { seq, op }, FRAME_BYTES + len)
}

/// Makes a file's creation or rename durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}
