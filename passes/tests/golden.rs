//! Golden ("file") tests for the kernel IR passes, in the style of
//! Cranelift's filetests.
//!
//! Every `tests/golden/*.kir` file reads
//!
//! ```text
//! ; what this test shows
//! test: specialize-dim(dim=10), vectorize(width=4)
//! --- input
//! kernel @k(...) { ... }
//! --- expected
//! kernel @k(...) { ... }
//! ```
//!
//! The input is parsed, verified, run through the pipeline and printed; the
//! result must equal the expected section (trailing whitespace aside). An
//! expected section may instead be `--- error` and one line, which the
//! pipeline's error message must contain.
//!
//! `HEKTOR_BLESS=1 cargo test -p hektor-passes --test golden` rewrites the
//! expected sections that differ from the actual output (leaving the header
//! and input as they are), and adds one to a file that has none yet (an
//! `--- error` section with the whole message if the pipeline fails). An
//! existing `--- error` section is never rewritten. Blessed output must then
//! be read and checked by hand: that is the point of the files (`git diff`
//! shows what changed). `HEKTOR_GOLDEN=name` runs only the files whose name
//! contains `name`.
//!
//! Beyond the comparison, every input must parse and verify, and every
//! output must read back from its text unchanged.

use hektor_passes::pass::PassManager;
use hektor_passes::{parse, print, verify};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const INPUT: &str = "--- input";
const EXPECTED: &str = "--- expected";
const ERROR: &str = "--- error";

/// What a golden file expects.
enum Expect {
    /// The printed output of the pipeline.
    Output(String),
    /// A failure whose message contains this text.
    Error(String),
    /// Nothing yet (only valid when blessing).
    Missing,
}

struct GoldenFile {
    pipeline: String,
    input: String,
    expect: Expect,
    /// The file's text up to the end of its input section.
    head: String,
}

fn parse_file(text: &str) -> Result<GoldenFile, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let marker = |m: &str| lines.iter().position(|l| l.trim_end() == m);
    let input_at = marker(INPUT).ok_or(format!("no `{INPUT}` line"))?;
    let mut pipeline = None;
    for l in &lines[..input_at] {
        let l = l.trim();
        if l.is_empty() || l.starts_with(';') {
            continue;
        }
        match l.strip_prefix("test:") {
            Some(p) if pipeline.is_none() => pipeline = Some(p.trim().to_string()),
            Some(_) => return Err("more than one `test:` line".into()),
            None => return Err(format!("unexpected header line `{l}`")),
        }
    }
    let pipeline = pipeline.ok_or("no `test:` line")?;
    let end_of_input = lines[input_at + 1..]
        .iter()
        .position(|l| l.starts_with("--- "))
        .map_or(lines.len(), |k| input_at + 1 + k);
    let input: String = lines[input_at + 1..end_of_input].concat();
    let head: String = lines[..end_of_input].concat();
    let rest = &lines[end_of_input..];
    let expect = match rest.first().map(|l| l.trim_end()) {
        None => Expect::Missing,
        Some(EXPECTED) => Expect::Output(rest[1..].concat()),
        Some(ERROR) => {
            let body: Vec<&str> = rest[1..]
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .collect();
            match body.as_slice() {
                [line] => Expect::Error(line.to_string()),
                _ => return Err(format!("`{ERROR}` must be followed by exactly one line")),
            }
        }
        Some(other) => return Err(format!("unknown section `{other}`")),
    };
    Ok(GoldenFile {
        pipeline,
        input,
        expect,
        head,
    })
}

/// Trailing whitespace on each line and trailing blank lines do not count.
fn normalise(text: &str) -> String {
    let mut out: Vec<&str> = text.lines().map(str::trim_end).collect();
    while out.last() == Some(&"") {
        out.pop();
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// Runs the file's pipeline over its input: the printed output, or the
/// pipeline's error message. `Err` is a problem with the file itself.
fn run(g: &GoldenFile) -> Result<Result<String, String>, String> {
    let mut f = parse::parse(&g.input).map_err(|e| format!("input does not parse: {e}"))?;
    verify::verify(&f).map_err(|e| format!("input does not verify: {e}"))?;
    // A pipeline that does not parse fails like one that does not apply,
    // so `--- error` can test the pipeline syntax too.
    if let Err(e) = PassManager::parse(&g.pipeline).and_then(|pm| pm.run(&mut f, |_, _| {})) {
        return Ok(Err(e.to_string()));
    }
    let out = print::print(&f);
    // Whatever a pass prints must read back as the same kernel.
    let again =
        parse::parse(&out).map_err(|e| format!("output does not parse back: {e}\n{out}"))?;
    if print::print(&again) != out {
        return Err(format!(
            "output does not round-trip through text:\n{}",
            diff(&out, &print::print(&again))
        ));
    }
    Ok(Ok(out))
}

/// A unified-style line diff of `expected` against `actual`.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Longest common subsequence, by suffix lengths.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (' ' | '-' | '+', line index in a, in b, text).
    let mut ops = vec![];
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    // Hunks: changes with three lines of context around them.
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::from("--- expected\n+++ actual\n");
    let mut k = 0;
    while k < changed.len() {
        let first = changed[k].saturating_sub(CONTEXT);
        let mut last = changed[k];
        while k + 1 < changed.len() && changed[k + 1] <= last + 2 * CONTEXT + 1 {
            k += 1;
            last = changed[k];
        }
        k += 1;
        let last = (last + CONTEXT).min(ops.len() - 1);
        let hunk = &ops[first..=last];
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        writeln!(
            out,
            "@@ -{},{old_len} +{},{new_len} @@",
            hunk[0].1 + 1,
            hunk[0].2 + 1
        )
        .unwrap();
        for (tag, _, _, text) in hunk {
            writeln!(out, "{tag}{text}").unwrap();
        }
    }
    out
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn golden_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "kir"))
        .collect();
    files.sort();
    files
}

/// Checks (or, when blessing, rewrites) one file; `Err` describes a failure.
fn check(path: &Path, bless: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let g = parse_file(&text)?;
    let actual = run(&g)?;
    match (&g.expect, actual) {
        (Expect::Error(want), Err(got)) if got.contains(want.as_str()) => Ok(()),
        (Expect::Error(want), Err(got)) => Err(format!(
            "the pipeline failed as expected, but with\n  {got}\nwhich does not contain\n  {want}"
        )),
        (Expect::Error(want), Ok(out)) => Err(format!(
            "expected the pipeline to fail with `{want}`, but it produced\n{out}"
        )),
        (Expect::Output(want), Ok(out)) if normalise(want) == normalise(&out) => Ok(()),
        (Expect::Output(_) | Expect::Missing, Ok(out)) if bless => {
            let mut new = g.head.clone();
            if !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(EXPECTED);
            new.push('\n');
            new.push_str(&normalise(&out));
            std::fs::write(path, new).map_err(|e| e.to_string())?;
            eprintln!("blessed {}", path.display());
            Ok(())
        }
        (Expect::Missing, Err(got)) if bless => {
            let new = format!("{}{ERROR}\n{got}\n", g.head);
            std::fs::write(path, new).map_err(|e| e.to_string())?;
            eprintln!("blessed {} (an error)", path.display());
            Ok(())
        }
        (Expect::Missing, _) => Err(format!(
            "no `{EXPECTED}` or `{ERROR}` section (run with HEKTOR_BLESS=1 to add one)"
        )),
        (Expect::Output(want), Ok(out)) => Err(format!(
            "output differs (HEKTOR_BLESS=1 rewrites the expected section):\n{}",
            diff(&normalise(want), &normalise(&out))
        )),
        (Expect::Output(_), Err(got)) => Err(format!("the pipeline failed: {got}")),
    }
}

#[test]
fn golden_files_match() {
    let bless = std::env::var("HEKTOR_BLESS").is_ok_and(|v| v == "1");
    let only = std::env::var("HEKTOR_GOLDEN").ok();
    let files = golden_files();
    assert!(
        files.len() >= 20,
        "expected the golden files in {}",
        golden_dir().display()
    );
    let mut failures = vec![];
    let mut ran = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        ran += 1;
        if let Err(e) = check(path, bless) {
            failures.push(format!("==== {name}\n{e}"));
        }
    }
    if !failures.is_empty() {
        let names: Vec<&str> = failures
            .iter()
            .map(|f| f.lines().next().unwrap().trim_start_matches("==== "))
            .collect();
        panic!(
            "{} of {ran} golden files failed: {}\n\n{}",
            failures.len(),
            names.join(", "),
            failures.join("\n\n")
        );
    }
}

/// The `pipeline_*` files test what the compiler really runs: their
/// pipeline is `pipeline_for`'s and their input the front end's, for these
/// specs and schedules (so a change to either shows up here first).
#[test]
fn pipeline_files_match_the_front_end() {
    use hektor_kernels::{KernelSpec, Schedule};
    use hektor_passes::build::kernel_ir;
    use hektor_passes::pass::{pipeline_for, TargetCaps};
    let cases = [
        (
            "pipeline_cosine_f32_d10_gather.kir",
            "cosine.f32.d10.gather",
            "width=4,acc=2,unroll=1,tail=masked",
        ),
        (
            "pipeline_l2_f32_d13_pair_default.kir",
            "l2.f32.d13.pair",
            "",
        ),
        (
            "pipeline_ip_f32_d20_scan_padded_full.kir",
            "ip.f32.d20.scan",
            "width=8,tail=padded,unroll=full,acc=2,prefetch=2",
        ),
        (
            "pipeline_l2_f32_d5_pair_scalar.kir",
            "l2.f32.d5.pair",
            "width=1,acc=2,unroll=full",
        ),
        (
            "pipeline_cosine_f32_d3_pair_masked.kir",
            "cosine.f32.d3.pair",
            "width=4,tail=masked,acc=4,unroll=4",
        ),
    ];
    for (file, spec, schedule) in cases {
        let text = std::fs::read_to_string(golden_dir().join(file)).unwrap();
        let g = parse_file(&text).unwrap();
        let spec: KernelSpec = spec.parse().unwrap();
        let schedule: Schedule = schedule.parse().unwrap();
        let pm = pipeline_for(&spec, &schedule, TargetCaps { fma: true });
        assert_eq!(g.pipeline, pm.describe(), "{file}: pipeline");
        assert_eq!(
            normalise(&g.input),
            print::print(&kernel_ir(&spec)),
            "{file}: input"
        );
    }
}

// The runner's own pieces.

#[test]
fn file_format_is_read_strictly() {
    let g = parse_file(
        "; comment\ntest: dce\n--- input\nkernel @k() {\n  ret\n}\n--- expected\nkernel @k() {\n  ret\n}\n",
    )
    .unwrap();
    assert_eq!(g.pipeline, "dce");
    assert_eq!(g.input, "kernel @k() {\n  ret\n}\n");
    assert!(matches!(g.expect, Expect::Output(ref o) if o == "kernel @k() {\n  ret\n}\n"));
    let g = parse_file("test: dce\n--- input\nkernel @k() {\n}\n--- error\n  boom  \n\n").unwrap();
    assert!(matches!(g.expect, Expect::Error(ref e) if e == "boom"));
    let g = parse_file("test: dce\n--- input\nkernel @k() {\n}\n").unwrap();
    assert!(matches!(g.expect, Expect::Missing));
    assert_eq!(g.head, "test: dce\n--- input\nkernel @k() {\n}\n");
    for bad in [
        "--- input\n",
        "test: a\ntest: b\n--- input\n",
        "test: dce\nstray\n--- input\n",
        "test: dce\n--- input\n--- error\na\nb\n",
        "test: dce\n--- input\n--- output\n",
    ] {
        assert!(parse_file(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn diff_shows_changed_lines_with_context() {
    let d = diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\nf\n");
    assert_eq!(
        d,
        "--- expected\n+++ actual\n@@ -1,5 +1,6 @@\n a\n b\n-c\n+X\n d\n e\n+f\n"
    );
    assert_eq!(normalise("x  \ny\t\n\n\n"), "x\ny\n");
}
