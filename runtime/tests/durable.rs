//! The write-ahead log on its own terms: torn tails are cut, damage in the
//! middle refuses to open, and a log never replays onto another index.

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_kernels::Metric;
use hektor_runtime::durable::{wal_path, DurableError, DurableIndex};
use hektor_runtime::index::{HnswIndex, IndexKernels, IndexParams};
use hektor_runtime::ScheduleBook;
use std::path::{Path, PathBuf};

fn kernels(metric: Metric, dim: usize) -> Result<IndexKernels, String> {
    let backend = CraneliftBackend::host().map_err(|e| e.to_string())?;
    IndexKernels::compile(metric, dim, &backend, &ScheduleBook::defaults())
        .map_err(|e| e.to_string())
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hektor-durable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fresh(path: &Path) -> DurableIndex {
    let index = HnswIndex::new(
        IndexParams::new(Metric::Ip, 4),
        kernels(Metric::Ip, 4).unwrap(),
    )
    .unwrap();
    DurableIndex::create(path, index).unwrap()
}

fn open(path: &Path) -> Result<DurableIndex, DurableError> {
    DurableIndex::open(path, |p| kernels(p.metric, p.dim), 100).map(|(d, _)| d)
}

#[test]
fn writes_survive_reopening_and_checkpoints() {
    let path = dir("reopen").join("i.hektor");
    let d = fresh(&path);
    for i in 0..10 {
        assert_eq!(d.insert(&[i as f32, 1.0, 0.0, 0.0]).unwrap(), i);
    }
    d.delete(3).unwrap();
    assert!(
        d.delete(3).is_err(),
        "a second delete is refused and not logged"
    );
    assert!(d.insert(&[f32::NAN, 0.0, 0.0, 0.0]).is_err());
    assert!(d.insert(&[1.0; 3]).is_err());
    drop(d);
    let (d, report) = DurableIndex::open(&path, |p| kernels(p.metric, p.dim), 100).unwrap();
    assert_eq!((report.replayed_inserts, report.replayed_deletes), (10, 1));
    assert_eq!(d.index().len(), 10);
    assert!(d.index().is_deleted(3));
    d.checkpoint().unwrap();
    assert_eq!(d.log_bytes(), 0);
    d.insert(&[0.0, 0.0, 1.0, 0.0]).unwrap();
    drop(d);
    let (d, report) = DurableIndex::open(&path, |p| kernels(p.metric, p.dim), 100).unwrap();
    assert_eq!((report.replayed_inserts, report.replayed_deletes), (1, 0));
    assert_eq!(d.index().len(), 11);
    assert_eq!(d.index().vector(10).unwrap(), &[0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn a_torn_last_record_is_cut_off() {
    let path = dir("torn").join("i.hektor");
    let d = fresh(&path);
    d.insert(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    d.insert(&[5.0, 6.0, 7.0, 8.0]).unwrap();
    drop(d);
    let log = wal_path(&path);
    let bytes = std::fs::read(&log).unwrap();
    let record = (bytes.len() - 24) / 2;
    for cut in 1..record {
        std::fs::write(&log, &bytes[..bytes.len() - cut]).unwrap();
        let (d, report) = DurableIndex::open(&path, |p| kernels(p.metric, p.dim), 100).unwrap();
        assert_eq!(report.replayed_inserts, 1, "cut {cut}");
        assert_eq!(report.torn_bytes as usize, record - cut);
        assert_eq!(d.index().len(), 1);
    }
}

#[test]
fn damage_before_the_last_record_refuses_to_open() {
    let path = dir("damaged").join("i.hektor");
    let d = fresh(&path);
    for i in 0..3 {
        d.insert(&[i as f32; 4]).unwrap();
    }
    drop(d);
    let log = wal_path(&path);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[24 + 20] ^= 0x40; // inside the first record's payload
    std::fs::write(&log, &bytes).unwrap();
    match open(&path) {
        Err(DurableError::Log { what, .. }) => assert!(what.contains("checksum"), "{what}"),
        other => panic!("opened a damaged log: {:?}", other.err()),
    }
    std::fs::write(&log, b"HEKTORWL garbage").unwrap();
    assert!(matches!(open(&path), Err(DurableError::Log { .. })));
}

#[test]
fn a_log_with_records_never_replays_onto_another_index() {
    let d1 = dir("lineage");
    let (a, b) = (d1.join("a.hektor"), d1.join("b.hektor"));
    let x = fresh(&a);
    x.insert(&[1.0; 4]).unwrap();
    drop(x);
    drop(fresh(&b));
    std::fs::copy(wal_path(&a), wal_path(&b)).unwrap();
    match open(&b) {
        Err(DurableError::Log { what, .. }) => assert!(what.contains("another index"), "{what}"),
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn an_index_without_a_log_gets_one() {
    let path = dir("nolog").join("i.hektor");
    drop(fresh(&path));
    std::fs::remove_file(wal_path(&path)).unwrap();
    let d = open(&path).unwrap();
    d.insert(&[2.0; 4]).unwrap();
    drop(d);
    assert_eq!(open(&path).unwrap().index().len(), 1);
}

#[test]
fn compaction_is_durable() {
    let path = dir("compact").join("i.hektor");
    let d = fresh(&path);
    for i in 0..20 {
        d.insert(&[i as f32, 1.0, 0.5, 0.0]).unwrap();
    }
    for l in [0, 7, 19] {
        d.delete(l).unwrap();
    }
    let d = d.compact(1, &|_, _| {}).unwrap();
    assert_eq!((d.index().len(), d.log_bytes()), (17, 0));
    assert_eq!(d.insert(&[9.0; 4]).unwrap(), 20);
    drop(d);
    let d = open(&path).unwrap();
    assert_eq!(d.index().len(), 18);
    assert_eq!(d.index().vector(18).unwrap(), &[18.0, 1.0, 0.5, 0.0]);
    assert_eq!(d.index().vector(20).unwrap(), &[9.0; 4]);
    assert!(d.index().vector(7).is_err());
}

/// An f16 index refuses a value f16 cannot hold before logging it, so the
/// log never holds a record that could not be replayed.
#[cfg(feature = "llvm")]
#[test]
fn f16_rows_refuse_unholdable_values_before_the_log() {
    use hektor_runtime::index::Traversal;
    let f16_kernels = |p: &IndexParams| {
        let backend = hektor_codegen::llvm::LlvmBackend::host().map_err(|e| e.to_string())?;
        IndexKernels::compile_for(
            p.metric,
            p.traversal,
            p.dim,
            &backend,
            &ScheduleBook::defaults(),
        )
        .map_err(|e| e.to_string())
    };
    let path = dir("f16").join("i.hektor");
    let params = IndexParams {
        traversal: Traversal::F16,
        ..IndexParams::new(Metric::L2, 4)
    };
    let index = HnswIndex::new(params, f16_kernels(&params).unwrap()).unwrap();
    let d = DurableIndex::create(&path, index).unwrap();
    assert_eq!(d.insert(&[1.0, 2.0, 3.0, 4.0]).unwrap(), 0);
    let logged = d.log_bytes();
    let err = d.insert(&[1.0, 1e5, 0.0, 0.0]).unwrap_err().to_string();
    assert!(err.contains("f16"), "{err}");
    assert_eq!(d.log_bytes(), logged, "the refused insert was logged");
    assert_eq!(d.insert(&[0.5, 0.25, 0.0, 0.0]).unwrap(), 1);
    drop(d);
    let (d, report) = DurableIndex::open(&path, f16_kernels, 100).unwrap();
    assert_eq!(report.replayed_inserts, 2);
    assert_eq!(d.index().params().traversal, Traversal::F16);
    assert_eq!(d.index().vector(1).unwrap(), [0.5, 0.25, 0.0, 0.0]);
}
