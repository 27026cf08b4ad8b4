//! `hektor build` and `hektor search` as a user runs them: a generated
//! data set round-trips through an index file with high recall, `--json`
//! keeps its contract, and every bad input is one clear line and a
//! non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hektor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hektor"))
        .args(args)
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", text(&o.stderr));
    text(&o.stdout)
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hektor-index-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small generated set and an index over it (Cranelift: fast to compile).
/// `hektor gen`: `n` vectors of `dim` and `queries` queries with their
/// 10 true neighbours into `out`, plus `extra` arguments.
fn gen(out: &Path, n: usize, dim: usize, queries: usize, seed: u64, extra: &[&str]) {
    let (n, dim, queries, seed) = (
        n.to_string(),
        dim.to_string(),
        queries.to_string(),
        seed.to_string(),
    );
    let mut args = vec![
        "gen",
        "--n",
        &n,
        "--dim",
        &dim,
        "--queries",
        &queries,
        "--seed",
        &seed,
        "--k",
        "10",
        "--output",
        s(out),
    ];
    args.extend_from_slice(extra);
    ok(&hektor(&args));
}

/// `hektor build` of an l2 index of `dtype` over `d`'s generated base
/// vectors, with `backend`, into `index`.
fn build_l2(d: &Path, dtype: &str, backend: &str, index: &Path) -> Output {
    hektor(&[
        "build",
        "--input",
        s(&d.join("base.fvecs")),
        "--metric",
        "l2",
        "--dtype",
        dtype,
        "--backend",
        backend,
        "--output",
        s(index),
    ])
}

fn data_and_index(name: &str, metric: &str) -> (PathBuf, PathBuf) {
    let d = dir(name);
    gen(&d, 3000, 24, 100, 3, &["--metric", metric]);
    let index = d.join("index.hektor");
    let out = ok(&hektor(&[
        "build",
        "--input",
        s(&d.join("base.fvecs")),
        "--metric",
        metric,
        "--m",
        "12",
        "--ef-construction",
        "100",
        "--threads",
        "2",
        "--backend",
        "cranelift",
        "--output",
        s(&index),
    ]));
    assert!(out.contains("built"), "{out}");
    (d, index)
}

#[test]
fn build_then_search_finds_the_true_neighbours() {
    for metric in ["l2", "cosine"] {
        let (d, index) = data_and_index(&format!("roundtrip-{metric}"), metric);
        let o = hektor(&[
            "search",
            "--index",
            s(&index),
            "--queries",
            s(&d.join("queries.fvecs")),
            "--k",
            "10",
            "--ef",
            "16,128",
            "--ground-truth",
            s(&d.join("gt.ivecs")),
            "--json",
            "--backend",
            "cranelift",
            "--output",
            s(&d.join("ids.ivecs")),
        ]);
        let out = ok(&o);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
            .collect();
        assert_eq!(lines.len(), 2, "{out}");
        for (line, ef) in lines.iter().zip([16, 128]) {
            for key in [
                "ef", "k", "recall", "qps", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
            ] {
                assert!(line.get(key).is_some(), "missing {key}: {line}");
            }
            assert_eq!(line["ef"], ef);
            assert_eq!(line["k"], 10);
            assert!(line["p50_us"].as_f64().unwrap() <= line["p99_us"].as_f64().unwrap());
        }
        let recall = lines[1]["recall"].as_f64().unwrap();
        assert!(recall >= 0.97, "{metric}: recall@10 at ef 128 is {recall}");
        // 100 queries × (4-byte dim + 10 ids).
        assert_eq!(
            std::fs::metadata(d.join("ids.ivecs")).unwrap().len(),
            100 * 44
        );
    }
}

#[test]
fn exact_search_has_perfect_recall_and_a_table() {
    let (d, index) = data_and_index("exact", "ip");
    let out = ok(&hektor(&[
        "search",
        "--index",
        s(&index),
        "--queries",
        s(&d.join("queries.fvecs")),
        "--ground-truth",
        s(&d.join("gt.ivecs")),
        "--exact",
        "--backend",
        "cranelift",
    ]));
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("exact"))
        .expect(&out);
    assert!(row.contains("1.0000"), "{row}");
}

#[test]
fn bad_inputs_are_one_clear_error() {
    let (d, index) = data_and_index("bad", "l2");
    let other = dir("bad-other");
    gen(&other, 50, 7, 5, 1, &[]);
    let search = |queries: &Path, extra: &[&str]| {
        let mut args = vec!["search", "--index", s(&index), "--queries", s(queries)];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--backend", "cranelift"]);
        hektor(&args)
    };
    let cases: Vec<(Output, &str)> = vec![
        (search(&other.join("queries.fvecs"), &[]), "dimension"),
        (
            search(
                &d.join("queries.fvecs"),
                &["--ground-truth", s(&other.join("gt.ivecs"))],
            ),
            "ground-truth rows",
        ),
        (search(&d.join("missing.fvecs"), &[]), "missing.fvecs"),
        (search(&d.join("queries.fvecs"), &["--ef", "0"]), "ef"),
        (
            hektor(&[
                "search",
                "--index",
                s(&d.join("base.fvecs")),
                "--queries",
                s(&d.join("queries.fvecs")),
            ]),
            "not a Hektor index",
        ),
        (
            hektor(&[
                "build",
                "--input",
                s(&d.join("base.fvecs")),
                "--metric",
                "l2",
                "--dtype",
                "i4",
                "--output",
                s(&d.join("x")),
            ]),
            "unknown dtype",
        ),
        (
            hektor(&[
                "build",
                "--input",
                s(&d.join("nope.fvecs")),
                "--metric",
                "l2",
                "--output",
                s(&d.join("x")),
            ]),
            "nope.fvecs",
        ),
    ];
    for (o, needle) in cases {
        assert!(!o.status.success(), "expected failure mentioning {needle}");
        let err = text(&o.stderr);
        assert!(
            err.contains(needle),
            "error should mention `{needle}`: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // A NaN in the input names its row and column.
    let nan = d.join("nan.fvecs");
    let mut bytes = Vec::new();
    for row in 0..3 {
        bytes.extend_from_slice(&2i32.to_le_bytes());
        for col in 0..2 {
            let v = if (row, col) == (2, 1) { f32::NAN } else { 1.0 };
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(&nan, bytes).unwrap();
    let o = hektor(&[
        "build",
        "--input",
        s(&nan),
        "--metric",
        "l2",
        "--output",
        s(&d.join("y")),
    ]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("row 2") && err.contains("column 1"), "{err}");
    // A truncated index file.
    let bytes = std::fs::read(&index).unwrap();
    let cut = d.join("cut.hektor");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = hektor(&[
        "search",
        "--index",
        s(&cut),
        "--queries",
        s(&d.join("queries.fvecs")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("truncated"), "{}", text(&o.stderr));
}

#[test]
fn insert_delete_and_compact_keep_ids_and_survive_reopening() {
    let (d, index) = data_and_index("mutate", "l2");
    let extra = dir("mutate-extra");
    gen(&extra, 40, 24, 1, 9, &[]);
    let out = ok(&hektor(&[
        "insert",
        "--index",
        s(&index),
        "--input",
        s(&extra.join("base.fvecs")),
        "--backend",
        "cranelift",
    ]));
    assert!(out.contains("ids 3000..=3039"), "{out}");
    let out = ok(&hektor(&[
        "delete",
        "--index",
        s(&index),
        "--ids",
        "0,5,3039",
        "--backend",
        "cranelift",
    ]));
    assert!(out.contains("3037 of 3040 vectors live"), "{out}");
    // A bad id deletes nothing.
    let o = hektor(&[
        "delete",
        "--index",
        s(&index),
        "--ids",
        "1,99999",
        "--backend",
        "cranelift",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("99999"));
    // Exact search skips deleted vectors and still returns k ids a query.
    ok(&hektor(&[
        "search",
        "--index",
        s(&index),
        "--queries",
        s(&extra.join("base.fvecs")),
        "--k",
        "2",
        "--exact",
        "--backend",
        "cranelift",
        "--output",
        s(&d.join("exact.csv")),
    ]));
    let exact = std::fs::read_to_string(d.join("exact.csv")).unwrap();
    assert!(
        !exact.contains("3039") && !exact.contains("4294967295"),
        "{exact}"
    );
    let out = ok(&hektor(&[
        "compact",
        "--index",
        s(&index),
        "--backend",
        "cranelift",
    ]));
    assert!(out.contains("3040 → 3037 vectors"), "{out}");
    // The exact search over the compacted index still reports the original ids.
    let o = hektor(&[
        "search",
        "--index",
        s(&index),
        "--queries",
        s(&extra.join("base.fvecs")),
        "--k",
        "1",
        "--ef",
        "64",
        "--backend",
        "cranelift",
        "--output",
        s(&d.join("found.csv")),
    ]);
    ok(&o);
    let found = std::fs::read_to_string(d.join("found.csv")).unwrap();
    let ids: Vec<&str> = found.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(ids.len(), 40, "{found}");
    assert_eq!(ids[1].trim(), "3001", "{found}");
    assert_ne!(ids[39].trim(), "3039", "a deleted id was returned: {found}");
    // So does exact search after compaction (the labels have gaps now).
    ok(&hektor(&[
        "search",
        "--index",
        s(&index),
        "--queries",
        s(&extra.join("base.fvecs")),
        "--k",
        "1",
        "--exact",
        "--backend",
        "cranelift",
        "--output",
        s(&d.join("exact2.csv")),
    ]));
    let exact = std::fs::read_to_string(d.join("exact2.csv")).unwrap();
    let ids: Vec<&str> = exact.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(ids[1].trim(), "3001", "{exact}");
    assert_ne!(ids[39].trim(), "3039", "{exact}");
}

/// Builds a `dtype` index with `backend`, reloads it from its file and
/// returns recall@10 at ef 64.
fn code_index_recall(dtype: &str, backend: &str) -> f64 {
    let d = dir(&format!("codes-{dtype}"));
    gen(&d, 2000, 64, 50, 5, &[]);
    let index = d.join("codes.hektor");
    ok(&build_l2(&d, dtype, backend, &index));
    let out = ok(&hektor(&[
        "search",
        "--index",
        s(&index),
        "--queries",
        s(&d.join("queries.fvecs")),
        "--ef",
        "64",
        "--ground-truth",
        s(&d.join("gt.ivecs")),
        "--json",
        "--backend",
        backend,
    ]));
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    line["recall"].as_f64().unwrap()
}

#[test]
fn code_indexes_round_trip_through_their_files() {
    let recall = code_index_recall("sq8", "cranelift");
    assert!(recall >= 0.9, "sq8 recall@10 {recall}");
    // One bit per component: the f32 re-rank does most of the work.
    let recall = code_index_recall("bit", "cranelift");
    assert!(recall >= 0.5, "bit recall@10 {recall}");
    if cfg!(feature = "llvm") {
        let recall = code_index_recall("f16", "llvm");
        assert!(recall >= 0.9, "f16 recall@10 {recall}");
    } else {
        eprintln!("SKIPPED: f16 needs the LLVM tier (build with --features llvm)");
    }
}

#[test]
fn an_unknown_dtype_is_refused_and_f16_needs_llvm() {
    let d = dir("dtype");
    gen(&d, 100, 8, 5, 1, &[]);
    let build = |dtype: &str, backend: &str| build_l2(&d, dtype, backend, &d.join("x.hektor"));
    let o = build("f8", "cranelift");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("f32, sq8, f16 or bit"),
        "{}",
        text(&o.stderr)
    );
    let o = build("f16", "cranelift");
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("LLVM"), "{}", text(&o.stderr));
    assert!(!d.join("x.hektor").exists());
}

#[test]
fn the_interleaved_layout_searches_the_same_graph() {
    let d = dir("layout");
    gen(&d, 1500, 16, 40, 3, &[]);
    let index = d.join("f32.hektor");
    ok(&build_l2(&d, "f32", "cranelift", &index));
    let search = |layout: &str, ids: &str| {
        hektor(&[
            "search",
            "--index",
            s(&index),
            "--queries",
            s(&d.join("queries.fvecs")),
            "--ef",
            "32",
            "--backend",
            "cranelift",
            "--layout",
            layout,
            "--output",
            s(&d.join(ids)),
        ])
    };
    ok(&search("separate", "a.csv"));
    let o = ok(&search("interleaved", "b.csv"));
    assert!(o.contains("interleaved copy of level 0"), "{o}");
    let a = std::fs::read_to_string(d.join("a.csv")).unwrap();
    assert_eq!(a, std::fs::read_to_string(d.join("b.csv")).unwrap());
    assert_eq!(a.lines().count(), 40, "{a}");
}
