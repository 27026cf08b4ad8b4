//! `hektor gen` as a user runs it: the files it writes read back with the
//! runtime's readers, the ground truth is the exact neighbours, the output
//! depends only on the seed, and bad arguments get exit code 2 while
//! failures while working get exit code 1.

use hektor_runtime::dataset::{read_fvecs, read_ivecs};
use std::path::Path;
use std::process::{Command, Output};

fn hektor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hektor"))
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn gen(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "gen",
        "--kind",
        "clustered",
        "--n",
        "3000",
        "--dim",
        "16",
        "--queries",
        "40",
        "--k",
        "20",
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    hektor(&args)
}

#[test]
fn writes_base_queries_and_exact_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new").join("data");
    let o = gen(&out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("ground truth") && text.contains("l2.f32.d16.scan"),
        "{text}"
    );
    assert!(stderr(&o).contains("100%"), "no progress: {}", stderr(&o));

    let base = read_fvecs(out.join("base.fvecs")).unwrap();
    let queries = read_fvecs(out.join("queries.fvecs")).unwrap();
    let gt = read_ivecs(out.join("gt.ivecs")).unwrap();
    assert_eq!((base.len(), base.dim()), (3000, 16));
    assert_eq!((queries.len(), queries.dim()), (40, 16));
    assert_eq!((gt.len(), gt.k()), (40, 20));
    // The ground truth is the exact l2 top-20 (f64 here; random floats
    // leave no ties).
    for (q, ids) in queries.rows().zip(gt.rows()) {
        let mut all: Vec<(f64, u32)> = base
            .rows()
            .enumerate()
            .map(|(i, r)| {
                let d = q
                    .iter()
                    .zip(r)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum::<f64>();
                (d, i as u32)
            })
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<u32> = all[..20].iter().map(|p| p.1).collect();
        assert_eq!(ids, &want[..]);
    }
}

#[test]
fn output_depends_on_the_seed_not_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    assert!(gen(&a, &["--threads", "1"]).status.success());
    assert!(gen(&b, &["--threads", "3"]).status.success());
    assert!(gen(&c, &["--seed", "4"]).status.success());
    // (`gen` leaves --seed at its default, 1.)
    for f in ["base.fvecs", "queries.fvecs", "gt.ivecs"] {
        let read = |d: &Path| std::fs::read(d.join(f)).unwrap();
        assert_eq!(read(&a), read(&b), "{f} differs between thread counts");
        assert_ne!(read(&a), read(&c), "{f} ignores the seed");
    }
}

#[test]
fn cosine_and_k_beyond_n() {
    let dir = tempfile::tempdir().unwrap();
    let o = hektor(&[
        "gen",
        "--n",
        "7",
        "--dim",
        "5",
        "--queries",
        "3",
        "--k",
        "10",
        "--metric",
        "cosine",
        "--output",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exceeds the 7 base vectors"),
        "{}",
        stderr(&o)
    );
    let gt = read_ivecs(dir.path().join("gt.ivecs")).unwrap();
    assert_eq!((gt.len(), gt.k()), (3, 7));
    assert!(String::from_utf8_lossy(&o.stdout).contains("cosine_norms.f32.d5.scan"));
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (bad, what) in [
        (vec!["--n", "0", "--dim", "8"], "--n"),
        (vec!["--n", "-5", "--dim", "8"], "--n"),
        (vec!["--n", "10", "--dim", "0"], "--dim"),
        (vec!["--n", "10", "--dim", "65537"], "--dim"),
        (vec!["--n", "10", "--dim", "8", "--k", "0"], "--k"),
        (
            vec!["--n", "10", "--dim", "8", "--queries", "0"],
            "--queries",
        ),
        (
            vec!["--n", "10", "--dim", "8", "--metric", "hamming"],
            "--metric",
        ),
        (
            vec!["--n", "10", "--dim", "8", "--kind", "uniform"],
            "--kind",
        ),
    ] {
        let mut args = vec!["gen", "--output", out];
        args.extend_from_slice(&bad);
        let o = hektor(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.starts_with("error:") && e.contains(what), "{bad:?}: {e}");
    }
    // A missing --output is a usage error too.
    assert_eq!(
        hektor(&["gen", "--n", "5", "--dim", "4"]).status.code(),
        Some(2)
    );
}

#[test]
fn an_unwritable_output_directory_exits_1_before_generating() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be created under a regular file (this holds
    // even for root, unlike permission bits).
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let o = gen(&file.join("sub"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("cannot create output directory") && e.contains("plain-file"),
        "{e}"
    );
    assert!(!e.contains("generating"), "worked before failing: {e}");
    // An output path that is a directory where a file must go fails the
    // same way, naming the file.
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("gt.ivecs")).unwrap();
    let o = gen(&out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("gt.ivecs"), "{}", stderr(&o));
}
