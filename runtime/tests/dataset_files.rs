//! The dataset readers and writers: round trips (property-tested) and one
//! test per kind of bad input, each checking the error's variant and that
//! its message names the file and the row/column at fault.

use hektor_runtime::dataset::{
    check_same_dim, load_ids, load_vectors, read_bvecs, read_fvecs, read_ids_csv, read_ivecs,
    read_npy_ids, read_npy_vectors, save_ids, save_vectors, write_bvecs, write_fvecs,
    write_ids_csv, write_ivecs, write_npy_f32, write_npy_i8, write_npy_ids, write_npy_u8,
    DatasetError, Matrix, Neighbors, VecsWriter,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `*vecs` bytes: each row's dimension header, then its values.
fn vecs(rows: &[(i32, Vec<[u8; 4]>)]) -> Vec<u8> {
    let mut b = vec![];
    for (d, vals) in rows {
        b.extend_from_slice(&d.to_le_bytes());
        for v in vals {
            b.extend_from_slice(v);
        }
    }
    b
}

fn f(v: f32) -> [u8; 4] {
    v.to_le_bytes()
}

/// A `.npy` file with `header` as its dict, padded like NumPy pads.
fn npy(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_bytes = if version == 1 { 2 } else { 4 };
    let mut h = dict.to_string();
    let unpadded = 8 + len_bytes + h.len() + 1;
    h.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    h.push('\n');
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

fn dict(descr: &str, fortran: bool, shape: &str) -> String {
    let fortran = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// The error and its message, which must name the file.
fn err<T: std::fmt::Debug>(r: Result<T, DatasetError>, path: &Path) -> (DatasetError, String) {
    let e = r.expect_err("bad input was accepted");
    let msg = e.to_string();
    let name = path.file_name().unwrap().to_string_lossy();
    assert!(msg.contains(&*name), "message does not name {name}: {msg}");
    (e, msg)
}

#[test]
fn fvecs_bvecs_ivecs_read_what_was_written() {
    let d = dir();
    let m = Matrix::new(3, vec![1.0, -2.5, 3.0, 0.0, 1e-30, 7.0]).unwrap();
    let p = d.path().join("a.fvecs");
    write_fvecs(&p, &m).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * (4 + 12));
    assert_eq!(read_fvecs(&p).unwrap(), m);
    assert_eq!(load_vectors(&p).unwrap(), m);

    let p = d.path().join("b.bvecs");
    write_bvecs(&p, 2, &[0, 255, 7, 8]).unwrap();
    let b = load_vectors(&p).unwrap();
    assert_eq!((b.len(), b.dim()), (2, 2));
    assert_eq!(b.as_slice(), &[0.0, 255.0, 7.0, 8.0]);

    let ids = Neighbors::new(2, vec![5, 1, 0, 2_000_000_000]).unwrap();
    for name in ["g.ivecs", "g.csv", "g.npy"] {
        let p = d.path().join(name);
        save_ids(&p, &ids).unwrap();
        assert_eq!(load_ids(&p).unwrap(), ids, "{name}");
    }
}

#[test]
fn npy_versions_and_dtypes_read_as_f32() {
    let d = dir();
    // Version 1.0, 2.0 and 3.0 headers with the same f32 data.
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    for v in [1, 2, 3] {
        let p = write(
            d.path(),
            &format!("v{v}.npy"),
            &npy(v, &dict("<f4", false, "(2, 3)"), &data),
        );
        let m = read_npy_vectors(&p).unwrap();
        assert_eq!((m.len(), m.dim()), (2, 3));
        assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
    }
    let p = write(
        d.path(),
        "u8.npy",
        &npy(1, &dict("|u1", false, "(1, 3)"), &[0, 128, 255]),
    );
    assert_eq!(load_vectors(&p).unwrap().as_slice(), &[0.0, 128.0, 255.0]);
    let p = write(
        d.path(),
        "i8.npy",
        &npy(1, &dict("|i1", false, "(1, 3)"), &[0, 0x80, 0xff]),
    );
    assert_eq!(load_vectors(&p).unwrap().as_slice(), &[0.0, -128.0, -1.0]);
    // Our writers' files read back.
    let p = d.path().join("w8.npy");
    write_npy_u8(&p, 2, &[1, 2, 3, 4]).unwrap();
    assert_eq!(
        read_npy_vectors(&p).unwrap().as_slice(),
        &[1.0, 2.0, 3.0, 4.0]
    );
    let p = d.path().join("wi8.npy");
    write_npy_i8(&p, 1, &[-5, 5]).unwrap();
    assert_eq!(read_npy_vectors(&p).unwrap().as_slice(), &[-5.0, 5.0]);
    // The data starts on a 64-byte boundary, as NumPy writes it.
    let m = Matrix::new(2, vec![1.0, 2.0]).unwrap();
    let p = d.path().join("f.npy");
    write_npy_f32(&p, &m).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 128 + 8);
}

#[test]
fn empty_files_are_refused() {
    let d = dir();
    for name in ["e.fvecs", "e.bvecs", "e.ivecs", "e.npy", "e.csv"] {
        let p = write(d.path(), name, b"");
        let r = if name.ends_with("vecs") && !name.starts_with("e.i") || name.ends_with("npy") {
            load_vectors(&p).map(|_| ())
        } else {
            load_ids(&p).map(|_| ())
        };
        let (e, _) = err(r, &p);
        assert!(matches!(e, DatasetError::Empty { .. }), "{name}: {e:?}");
    }
    // A CSV of blank lines is empty too.
    let p = write(d.path(), "blank.csv", b"\n \n");
    assert!(matches!(
        err(read_ids_csv(&p), &p).0,
        DatasetError::Empty { .. }
    ));
    // A .npy with zero rows holds no vectors.
    let p = write(
        d.path(),
        "zero.npy",
        &npy(1, &dict("<f4", false, "(0, 4)"), &[]),
    );
    assert!(matches!(
        err(read_npy_vectors(&p), &p).0,
        DatasetError::Empty { .. }
    ));
}

#[test]
fn truncated_vecs_name_the_row() {
    let d = dir();
    let good = vecs(&[(2, vec![f(1.0), f(2.0)]), (2, vec![f(3.0), f(4.0)])]);
    // Cut inside row 1's data.
    let p = write(d.path(), "cut.fvecs", &good[..good.len() - 3]);
    let (e, msg) = err(read_fvecs(&p), &p);
    assert!(
        matches!(
            e,
            DatasetError::Truncated {
                row: 1,
                what: "row data",
                want: 8,
                got: 5,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg.contains("row 1"), "{msg}");
    // Cut inside row 1's dimension header.
    let p = write(d.path(), "head.fvecs", &good[..12 + 2]);
    let (e, _) = err(read_fvecs(&p), &p);
    assert!(
        matches!(
            e,
            DatasetError::Truncated {
                row: 1,
                what: "dimension header",
                ..
            }
        ),
        "{e:?}"
    );
    // The same for bytes and ids.
    let p = write(d.path(), "cut.bvecs", &[3, 0, 0, 0, 1, 2]);
    assert!(matches!(
        err(read_bvecs(&p), &p).0,
        DatasetError::Truncated {
            row: 0,
            want: 3,
            got: 2,
            ..
        }
    ));
    let p = write(d.path(), "cut.ivecs", &[1, 0, 0, 0, 9]);
    assert!(matches!(
        err(read_ivecs(&p), &p).0,
        DatasetError::Truncated { row: 0, .. }
    ));
}

#[test]
fn inconsistent_dims_name_the_row_and_both_dims() {
    let d = dir();
    let bytes = vecs(&[
        (2, vec![f(1.0), f(2.0)]),
        (2, vec![f(3.0), f(4.0)]),
        (3, vec![f(1.0), f(2.0), f(3.0)]),
    ]);
    let p = write(d.path(), "mixed.fvecs", &bytes);
    let (e, msg) = err(read_fvecs(&p), &p);
    assert!(
        matches!(
            e,
            DatasetError::InconsistentDim {
                row: 2,
                dim: 3,
                first: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        msg.contains("row 2") && msg.contains('3') && msg.contains('2'),
        "{msg}"
    );
    let p = write(d.path(), "mixed.csv", b"1,2,3\n4,5,6\n7,8\n");
    assert!(matches!(
        err(read_ids_csv(&p), &p).0,
        DatasetError::InconsistentDim {
            row: 2,
            dim: 2,
            first: 3,
            ..
        }
    ));
}

#[test]
fn zero_negative_and_absurd_dims_are_refused_before_allocating() {
    let d = dir();
    for (name, dim) in [
        ("zero", 0i32),
        ("neg", -4),
        ("huge", 65537),
        ("max", i32::MAX),
    ] {
        let mut bytes = dim.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        let p = write(d.path(), &format!("{name}.fvecs"), &bytes);
        let (e, msg) = err(read_fvecs(&p), &p);
        assert!(
            matches!(e, DatasetError::BadDim { row: 0, dim: got, .. } if got == dim as i64),
            "{name}: {e:?}"
        );
        assert!(msg.contains(&dim.to_string()), "{msg}");
    }
    // An .npy shape that claims more data than the file has is refused
    // by comparing with the file size, not by trying to allocate it.
    let p = write(
        d.path(),
        "lie.npy",
        &npy(1, &dict("<f4", false, "(4000000000000, 128)"), &[0; 8]),
    );
    assert!(matches!(
        err(read_npy_vectors(&p), &p).0,
        DatasetError::NpyDataLength { got: 8, .. }
    ));
    let p = write(
        d.path(),
        "wide.npy",
        &npy(1, &dict("<f4", false, "(1, 70000)"), &[0; 8]),
    );
    assert!(matches!(
        err(read_npy_vectors(&p), &p).0,
        DatasetError::BadDim { dim: 70000, .. }
    ));
    // Overflowing products are "too long", never a panic.
    let p = write(
        d.path(),
        "overflow.npy",
        &npy(
            1,
            &dict("<f4", false, "(18446744073709551615, 65536)"),
            &[0; 8],
        ),
    );
    assert!(matches!(
        err(read_npy_vectors(&p), &p).0,
        DatasetError::NpyDataLength { .. }
    ));
}

#[test]
fn non_finite_values_name_row_and_column() {
    let d = dir();
    for (name, bad) in [
        ("nan", f32::NAN),
        ("inf", f32::INFINITY),
        ("ninf", f32::NEG_INFINITY),
    ] {
        let bytes = vecs(&[
            (3, vec![f(1.0), f(2.0), f(3.0)]),
            (3, vec![f(1.0), f(bad), f(3.0)]),
        ]);
        let p = write(d.path(), &format!("{name}.fvecs"), &bytes);
        let (e, msg) = err(read_fvecs(&p), &p);
        assert!(
            matches!(e, DatasetError::NonFinite { row: 1, col: 1, .. }),
            "{e:?}"
        );
        assert!(msg.contains("row 1") && msg.contains("column 1"), "{msg}");
    }
    let data: Vec<u8> = [0.0f32, 1.0, 2.0, 3.0, f32::NAN, 5.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let p = write(
        d.path(),
        "nan.npy",
        &npy(1, &dict("<f4", false, "(3, 2)"), &data),
    );
    assert!(matches!(
        err(read_npy_vectors(&p), &p).0,
        DatasetError::NonFinite { row: 2, col: 0, .. }
    ));
}

/// A file name, its bytes, and the error it must produce.
type Case = (&'static str, Vec<u8>, fn(&DatasetError) -> bool);

#[test]
fn npy_header_errors() {
    let d = dir();
    let f4 = [0u8; 8];
    let cases: Vec<Case> = vec![
        ("magic", b"\x93NUMPZ\x01\x00".to_vec(), |e| {
            matches!(e, DatasetError::NpyMagic { .. })
        }),
        ("short", b"\x93NU".to_vec(), |e| {
            matches!(e, DatasetError::NpyMagic { .. })
        }),
        (
            "version",
            {
                let mut b = npy(1, &dict("<f4", false, "(1, 2)"), &f4);
                b[6] = 4;
                b
            },
            |e| {
                matches!(
                    e,
                    DatasetError::NpyVersion {
                        major: 4,
                        minor: 0,
                        ..
                    }
                )
            },
        ),
        (
            "minor",
            {
                let mut b = npy(1, &dict("<f4", false, "(1, 2)"), &f4);
                b[7] = 1;
                b
            },
            |e| {
                matches!(
                    e,
                    DatasetError::NpyVersion {
                        major: 1,
                        minor: 1,
                        ..
                    }
                )
            },
        ),
        (
            "f8",
            npy(1, &dict("<f8", false, "(1, 1)"), &f4),
            |e| matches!(e, DatasetError::NpyDtype { dtype, .. } if dtype == "<f8"),
        ),
        (
            "bigendian",
            npy(1, &dict(">f4", false, "(1, 2)"), &f4),
            |e| matches!(e, DatasetError::NpyDtype { reason, .. } if reason.contains("big-endian")),
        ),
        ("fortran", npy(1, &dict("<f4", true, "(1, 2)"), &f4), |e| {
            matches!(e, DatasetError::NpyFortran { .. })
        }),
        (
            "1d",
            npy(1, &dict("<f4", false, "(2,)"), &f4),
            |e| matches!(e, DatasetError::NpyShape { shape, .. } if shape == "(2)"),
        ),
        ("3d", npy(1, &dict("<f4", false, "(1, 1, 2)"), &f4), |e| {
            matches!(e, DatasetError::NpyShape { .. })
        }),
        (
            "shortdata",
            npy(1, &dict("<f4", false, "(3, 2)"), &f4),
            |e| {
                matches!(
                    e,
                    DatasetError::NpyDataLength {
                        want: 24,
                        got: 8,
                        rows: 3,
                        dim: 2,
                        ..
                    }
                )
            },
        ),
        (
            "longdata",
            npy(1, &dict("<f4", false, "(1, 1)"), &f4),
            |e| {
                matches!(
                    e,
                    DatasetError::NpyDataLength {
                        want: 4,
                        got: 8,
                        ..
                    }
                )
            },
        ),
        (
            "nodescr",
            npy(1, "{'fortran_order': False, 'shape': (1, 2), }", &f4),
            |e| matches!(e, DatasetError::NpyHeader { .. }),
        ),
        ("garbage", npy(1, "{'descr': <f4}", &f4), |e| {
            matches!(e, DatasetError::NpyHeader { .. })
        }),
        (
            "headerlen",
            {
                let mut b = npy(1, &dict("<f4", false, "(1, 2)"), &f4);
                b[8] = 0xff;
                b[9] = 0xff;
                b
            },
            |e| matches!(e, DatasetError::NpyHeader { .. }),
        ),
        ("ids", npy(1, &dict("<i4", false, "(1, 2)"), &f4), |e| {
            matches!(e, DatasetError::NpyDtype { .. })
        }),
    ];
    for (name, bytes, ok) in cases {
        let p = write(d.path(), &format!("{name}.npy"), &bytes);
        let (e, msg) = err(read_npy_vectors(&p), &p);
        assert!(ok(&e), "{name}: unexpected {e:?} ({msg})");
    }
    // Ids must be <i4, and f32 data is not ids.
    let p = write(
        d.path(),
        "fids.npy",
        &npy(1, &dict("<f4", false, "(1, 2)"), &f4),
    );
    assert!(matches!(
        err(read_npy_ids(&p), &p).0,
        DatasetError::NpyDtype { .. }
    ));
}

#[test]
fn bad_ids_are_refused() {
    let d = dir();
    let p = write(
        d.path(),
        "neg.ivecs",
        &vecs(&[(2, vec![f(0.0), (-3i32).to_le_bytes()])]),
    );
    let (e, msg) = err(read_ivecs(&p), &p);
    assert!(
        matches!(
            e,
            DatasetError::NegativeId {
                row: 0,
                col: 1,
                value: -3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg.contains("-3"), "{msg}");
    let p = write(d.path(), "neg.csv", b"1,2\n3,-4\n");
    assert!(matches!(
        err(read_ids_csv(&p), &p).0,
        DatasetError::NegativeId { row: 1, col: 1, .. }
    ));
    let p = write(d.path(), "word.csv", b"1,2\n3,x\n");
    let (e, msg) = err(read_ids_csv(&p), &p);
    assert!(
        matches!(
            e,
            DatasetError::Csv {
                line: 2,
                col: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(msg.contains("line 2, column 2"), "{msg}");
    let p = write(d.path(), "gap.csv", b"1,2\n\n3,4\n");
    assert!(matches!(
        err(read_ids_csv(&p), &p).0,
        DatasetError::Csv { line: 2, .. }
    ));
    // Ids beyond i32 cannot be written to the i32 formats.
    let big = Neighbors::new(1, vec![u32::MAX]).unwrap();
    assert!(write_ivecs(d.path().join("big.ivecs"), &big).is_err());
    assert!(write_npy_ids(d.path().join("big.npy"), &big).is_err());
    write_ids_csv(d.path().join("big.csv"), &big).unwrap();
    assert_eq!(read_ids_csv(d.path().join("big.csv")).unwrap(), big);
}

#[test]
fn unknown_extensions_and_mismatched_dims() {
    let d = dir();
    let p = write(d.path(), "vectors.txt", b"1 2 3");
    let (e, msg) = err(load_vectors(&p), &p);
    assert!(matches!(e, DatasetError::UnknownExtension { ext, .. } if ext == "txt"));
    assert!(msg.contains(".fvecs"), "{msg}");
    let p = write(d.path(), "noext", b"");
    assert!(matches!(
        err(load_ids(&p), &p).0,
        DatasetError::UnknownExtension { .. }
    ));
    let p = write(d.path(), "ids.fvecs", b"");
    assert!(matches!(
        err(load_ids(&p), &p).0,
        DatasetError::UnknownExtension { .. }
    ));
    // A missing file is an I/O error naming it.
    let p = d.path().join("missing.fvecs");
    assert!(matches!(
        err(load_vectors(&p), &p).0,
        DatasetError::Io { .. }
    ));

    let base = Matrix::new(4, vec![0.0; 8]).unwrap();
    let queries = Matrix::new(3, vec![0.0; 3]).unwrap();
    let e = check_same_dim(&base, &queries).unwrap_err();
    assert!(matches!(
        e,
        DatasetError::DimMismatch {
            base: 4,
            queries: 3
        }
    ));
    assert!(check_same_dim(&base, &base).is_ok());
    assert!(Matrix::new(0, vec![]).is_err());
    assert!(Matrix::new(3, vec![0.0; 4]).is_err());
    assert!(Neighbors::new(0, vec![]).is_err());
}

#[test]
fn writers_refuse_ragged_rows_and_report_unwritable_paths() {
    let d = dir();
    let mut w = VecsWriter::<f32>::create(d.path().join("r.fvecs")).unwrap();
    w.write_row(&[1.0, 2.0]).unwrap();
    assert!(w.write_row(&[1.0]).is_err());
    assert!(w.write_row(&[]).is_err());
    assert_eq!(w.finish().unwrap(), 1);
    let m = Matrix::new(1, vec![1.0]).unwrap();
    let p = d.path().join("no").join("such").join("dir.fvecs");
    let (e, _) = err(write_fvecs(&p, &m), &p);
    assert!(matches!(e, DatasetError::Io { .. }));
    // A full disk (Linux's /dev/full fails every write) is reported, not
    // lost in a buffer dropped without a flush.
    let full = Path::new("/dev/full");
    if full.exists() {
        let big = Matrix::new(4, vec![1.0; 4 * 1000]).unwrap();
        assert!(matches!(
            err(write_fvecs(full, &big), full).0,
            DatasetError::Io { .. }
        ));
        assert!(matches!(
            err(write_npy_f32(full, &big), full).0,
            DatasetError::Io { .. }
        ));
        let ids = Neighbors::new(1, vec![1]).unwrap();
        assert!(matches!(
            err(write_ids_csv(full, &ids), full).0,
            DatasetError::Io { .. }
        ));
    }
}

fn matrix() -> impl Strategy<Value = Matrix> {
    (1usize..40, 1usize..20).prop_flat_map(|(dim, n)| {
        proptest::collection::vec(-1e30f32..1e30, dim * n)
            .prop_map(move |v| Matrix::new(dim, v).unwrap())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn f32_files_round_trip(m in matrix()) {
        let d = dir();
        for name in ["m.fvecs", "m.npy"] {
            let p = d.path().join(name);
            save_vectors(&p, &m).unwrap();
            prop_assert_eq!(&load_vectors(&p).unwrap(), &m);
        }
    }

    #[test]
    fn byte_files_round_trip(dim in 1usize..50, bytes in proptest::collection::vec(any::<u8>(), 1..400)) {
        let n = bytes.len() / dim;
        prop_assume!(n > 0);
        let bytes = &bytes[..n * dim];
        let d = dir();
        let widened: Vec<f32> = bytes.iter().map(|&b| b as f32).collect();
        write_bvecs(d.path().join("b.bvecs"), dim, bytes).unwrap();
        prop_assert_eq!(load_vectors(d.path().join("b.bvecs")).unwrap().into_vec(), widened.clone());
        write_npy_u8(d.path().join("b.npy"), dim, bytes).unwrap();
        prop_assert_eq!(load_vectors(d.path().join("b.npy")).unwrap().into_vec(), widened.clone());
        let signed: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
        write_npy_i8(d.path().join("s.npy"), dim, &signed).unwrap();
        let want: Vec<f32> = signed.iter().map(|&b| b as f32).collect();
        prop_assert_eq!(load_vectors(d.path().join("s.npy")).unwrap().into_vec(), want.clone());
    }

    #[test]
    fn id_files_round_trip(k in 1usize..30, ids in proptest::collection::vec(0u32..=i32::MAX as u32, 1..300)) {
        let n = ids.len() / k;
        prop_assume!(n > 0);
        let nb = Neighbors::new(k, ids[..n * k].to_vec()).unwrap();
        let d = dir();
        for name in ["g.ivecs", "g.csv", "g.npy"] {
            let p = d.path().join(name);
            save_ids(&p, &nb).unwrap();
            prop_assert_eq!(&load_ids(&p).unwrap(), &nb);
        }
    }

    /// Whatever the bytes, readers return a value or an error, never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let d = dir();
        for name in ["x.fvecs", "x.bvecs", "x.ivecs", "x.npy", "x.csv"] {
            let p = write(d.path(), name, &bytes);
            let _ = load_vectors(&p);
            let _ = load_ids(&p);
        }
        let mut framed = npy(1, &dict("<f4", false, "(2, 3)"), &[]);
        framed.extend_from_slice(&bytes);
        let p = write(d.path(), "framed.npy", &framed);
        let _ = read_npy_vectors(&p);
    }
}
