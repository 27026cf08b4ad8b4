//! Index files: a saved index loads to the same answers, and every kind of
//! damage is a clear error, never a crash.

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_kernels::Metric;
use hektor_runtime::index::{FileError, HnswIndex, IndexFile, IndexKernels, IndexParams};
use hektor_runtime::ScheduleBook;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

fn kernels(metric: Metric, dim: usize) -> IndexKernels {
    let backend = CraneliftBackend::host().expect("cranelift on this host");
    IndexKernels::compile(metric, dim, &backend, &ScheduleBook::defaults()).expect("kernels")
}

fn random(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hektor-index-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn load(path: &Path) -> Result<HnswIndex, FileError> {
    let file = IndexFile::open(path)?;
    let k = kernels(file.metric(), file.dim());
    file.load(k, 0)
}

fn saved_index(name: &str, metric: Metric) -> (PathBuf, HnswIndex, Vec<f32>) {
    let dim = 20;
    let data = random(1500, dim, 1);
    let index = HnswIndex::build(
        IndexParams::new(metric, dim),
        kernels(metric, dim),
        &data,
        2,
        &|_, _| {},
    )
    .unwrap();
    for id in [3, 99, 700] {
        index.delete(id).unwrap();
    }
    let path = temp(name);
    index.save(&path, 42, 7).unwrap();
    (path, index, data)
}

#[test]
fn a_saved_index_loads_to_the_same_answers() {
    for metric in Metric::ALL {
        let (path, original, data) = saved_index(&format!("same-{metric}"), metric);
        let file = IndexFile::open(&path).unwrap();
        assert_eq!(
            (file.metric(), file.dim(), file.len(), file.checkpoint()),
            (metric, 20, 1500, 42)
        );
        let loaded = file.load(kernels(metric, 20), 2000).unwrap();
        assert_eq!(loaded.len(), 1500);
        assert_eq!(loaded.live(), 1497);
        assert!(loaded.is_deleted(99));
        assert_eq!(loaded.vector(5).unwrap(), original.vector(5).unwrap());
        let (mut a, mut b) = (original.scratch().unwrap(), loaded.scratch().unwrap());
        for q in data.chunks_exact(20).take(50) {
            assert_eq!(
                original.search(q, 10, 40, &mut a).unwrap(),
                loaded.search(q, 10, 40, &mut b).unwrap()
            );
        }
        // Inserts after loading go to memory; the file is untouched.
        let before = std::fs::read(&path).unwrap();
        let id = loaded.insert(&[0.5; 20], &mut b).unwrap();
        assert_eq!(id, 1500);
        assert_eq!(
            loaded.search(&[0.5; 20], 1, 40, &mut b).unwrap()[0].id,
            1500
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[test]
fn an_empty_index_round_trips() {
    let index = HnswIndex::new(IndexParams::new(Metric::L2, 7), kernels(Metric::L2, 7)).unwrap();
    let path = temp("empty");
    index.save(&path, 0, 0).unwrap();
    let loaded = load(&path).unwrap();
    assert!(loaded.is_empty());
    let mut s = loaded.scratch().unwrap();
    loaded.insert(&[1.0; 7], &mut s).unwrap();
    assert_eq!(loaded.search(&[1.0; 7], 1, 8, &mut s).unwrap()[0].id, 0);
}

#[test]
fn truncation_anywhere_is_an_error() {
    let (path, _, _) = saved_index("truncated", Metric::L2);
    let bytes = std::fs::read(&path).unwrap();
    let cut = temp("cut");
    for len in [
        0,
        5,
        8,
        100,
        4095,
        4096,
        5000,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let err = load(&cut)
            .err()
            .unwrap_or_else(|| panic!("{len} bytes loaded"));
        assert!(
            matches!(
                err,
                FileError::Truncated { .. } | FileError::Foreign { .. } | FileError::Corrupt { .. }
            ),
            "{len} bytes: {err}"
        );
    }
}

#[test]
fn a_flipped_bit_in_any_section_is_caught() {
    let (path, _, _) = saved_index("flipped", Metric::Cosine);
    let bytes = std::fs::read(&path).unwrap();
    let bad = temp("bad");
    let mut rng = StdRng::seed_from_u64(3);
    let mut positions: Vec<usize> = vec![9, 30, 60, 200];
    positions.extend((0..40).map(|_| rng.random_range(4096..bytes.len())));
    let mut caught = 0;
    for at in positions {
        let mut b = bytes.clone();
        b[at] ^= 1 << rng.random_range(0..8);
        std::fs::write(&bad, &b).unwrap();
        match load(&bad) {
            Err(e) => {
                caught += 1;
                assert!(!e.to_string().is_empty());
            }
            // A flip in the zero padding between sections is harmless.
            Ok(_) => assert!(is_padding(&bytes, at), "flip at {at} went unnoticed"),
        }
    }
    assert!(caught >= 30, "only {caught} of 44 flips were errors");
}

/// Whether byte `at` lies in the padding after a section (zero bytes that
/// no checksum covers and nothing reads).
fn is_padding(bytes: &[u8], at: usize) -> bool {
    bytes[at] == 0 && {
        let page = at / 4096 * 4096;
        bytes[at..(page + 4096).min(bytes.len())]
            .iter()
            .all(|&b| b == 0)
    }
}

#[test]
fn foreign_and_versioned_files_are_refused() {
    let f = temp("foreign");
    std::fs::write(
        &f,
        b"this is not an index, just some text that is long enough",
    )
    .unwrap();
    assert!(matches!(load(&f), Err(FileError::Foreign { .. })));
    let (path, _, _) = saved_index("version", Metric::Ip);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = 99;
    std::fs::write(&f, &bytes).unwrap();
    assert!(matches!(
        load(&f),
        Err(FileError::Version { found: 99, .. })
    ));
    bytes[8] = 1;
    bytes[12..16].copy_from_slice(&0x0D0C_0B0Au32.to_le_bytes());
    std::fs::write(&f, &bytes).unwrap();
    assert!(matches!(load(&f), Err(FileError::ByteOrder { .. })));
    assert!(matches!(
        load(Path::new("/nonexistent/hektor.index")),
        Err(FileError::Io { .. })
    ));
}

#[test]
fn kernels_for_another_index_are_refused() {
    let (path, _, _) = saved_index("kernels", Metric::L2);
    let file = IndexFile::open(&path).unwrap();
    let err = file.load(kernels(Metric::Ip, 20), 0).err().unwrap();
    assert!(matches!(err, FileError::Index { .. }), "{err}");
}

/// Rewrites section `i`'s bytes with `edit` and fixes every checksum, as a
/// crafted (not merely damaged) file would.
fn forge(bytes: &mut [u8], i: usize, edit: impl FnOnce(&mut [u8])) {
    use xxhash_rust::xxh3::{xxh3_64, Xxh3};
    let field = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let at = 80 + 24 * i;
    let (offset, len) = (field(bytes, at) as usize, field(bytes, at + 8) as usize);
    edit(&mut bytes[offset..offset + len]);
    let sum = xxh3_64(&bytes[offset..offset + len]);
    bytes[at + 16..at + 24].copy_from_slice(&sum.to_le_bytes());
    let mut h = Xxh3::new();
    h.update(&bytes[..16]);
    h.update(&[0; 8]);
    h.update(&bytes[24..4096]);
    let header_sum = h.digest();
    bytes[16..24].copy_from_slice(&header_sum.to_le_bytes());
}

#[test]
fn a_forged_graph_is_refused_not_followed() {
    let (path, _, _) = saved_index("forged", Metric::L2);
    let bytes = std::fs::read(&path).unwrap();
    let f = temp("forged-out");
    let m0 = 32;
    type Edit = Box<dyn Fn(&mut [u8])>;
    let cases: Vec<(usize, Edit)> = vec![
        // A level-0 link past the last node.
        (
            1,
            Box::new(|s: &mut [u8]| s[4..8].copy_from_slice(&1_000_000u32.to_le_bytes())),
        ),
        // A level-0 count beyond the slots.
        (
            1,
            Box::new(move |s: &mut [u8]| {
                s[(1 + m0) * 4..(1 + m0) * 4 + 4].copy_from_slice(&99u32.to_le_bytes())
            }),
        ),
        // A level no node may have.
        (2, Box::new(|s: &mut [u8]| s[0] = 200)),
        // A node raised a level without the lists for it.
        (2, Box::new(|s: &mut [u8]| s[1] += 1)),
        // A node that was never linked.
        (4, Box::new(|s: &mut [u8]| s[10] = 0)),
    ];
    for (n, (section, edit)) in cases.into_iter().enumerate() {
        let mut b = bytes.clone();
        forge(&mut b, section, edit);
        std::fs::write(&f, &b).unwrap();
        match load(&f) {
            Err(FileError::Corrupt { what, .. }) => assert!(!what.is_empty()),
            Err(other) => panic!("case {n}: {other}"),
            Ok(_) => panic!("case {n}: a forged file loaded"),
        }
    }
}

#[test]
fn compaction_reclaims_deleted_vectors_and_keeps_labels() {
    let dim = 20;
    let data = random(1200, dim, 4);
    let index = HnswIndex::build(
        IndexParams::new(Metric::L2, dim),
        kernels(Metric::L2, dim),
        &data,
        2,
        &|_, _| {},
    )
    .unwrap();
    for label in (0..1200).filter(|l| l % 4 == 1) {
        index.delete(label).unwrap();
    }
    let compacted = index.compact(2, &|_, _| {}).unwrap();
    assert_eq!((compacted.len(), compacted.live()), (900, 900));
    assert!(compacted.memory_bytes() < index.memory_bytes());
    let mut s = compacted.scratch().unwrap();
    for label in [0u32, 2, 3, 1199] {
        let v = &data[label as usize * dim..][..dim];
        assert_eq!(compacted.vector(label).unwrap(), v);
        assert_eq!(
            compacted.search(v, 1, 32, &mut s).unwrap()[0].id,
            label,
            "label {label}"
        );
    }
    assert!(compacted.vector(1).is_err(), "a deleted label is gone");
    assert!(compacted.delete(5).is_err());
    // New vectors continue the label sequence, and survive a save and load.
    assert_eq!(compacted.insert(&[0.25; 20], &mut s).unwrap(), 1200);
    compacted.delete(2).unwrap();
    let path = temp("compacted");
    compacted.save(&path, 0, 0).unwrap();
    let loaded = load(&path).unwrap();
    let mut s = loaded.scratch().unwrap();
    assert_eq!(
        loaded.search(&[0.25; 20], 1, 32, &mut s).unwrap()[0].id,
        1200
    );
    assert!(loaded.is_deleted(2));
    assert_eq!(loaded.vector(1199).unwrap(), &data[1199 * dim..]);
    assert_eq!(loaded.insert(&[0.5; 20], &mut s).unwrap(), 1201);
    for q in data.chunks_exact(dim).take(40) {
        for n in loaded.search(q, 10, 40, &mut s).unwrap() {
            let deleted = (n.id < 1200 && n.id % 4 == 1) || n.id == 2;
            assert!(!deleted, "deleted label {} returned", n.id);
        }
    }
}
