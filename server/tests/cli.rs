//! The `hektor` binary as a user runs it: output that shows each stage, and
//! one clear line plus exit code 2 for every bad argument.

use std::process::{Command, Output};

fn hektor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hektor"))
        .args(args)
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ir_passes_shows_every_pass_of_the_cosine_pipeline() {
    let o = hektor(&[
        "ir", "--metric", "cosine", "--dim", "768", "--emit", "passes",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    for pass in [
        "specialize-dim(dim=768)",
        "fuse-loops",
        "cse",
        "vectorize(width=4)",
        "split-accumulators",
        "unroll",
        "peel-tail",
        "contract-fma",
        "dce",
    ] {
        assert!(
            text.contains(&format!(";; after {pass}")),
            "no dump after {pass}:\n{text}"
        );
    }
    // The front end's three sums become one fused loop of fma on vectors.
    assert!(text.contains("%dot = loop %i = 0 to %n"));
    assert!(text.contains("%dot, %norm_a, %norm_b = loop %i = 0 to 768"));
    assert!(text.contains("fma "));
    assert!(text.contains("cosine_distance"));
    assert!(text.contains("; compile "));
    assert!(text.contains("code "));
}

#[test]
fn ir_asm_shows_fma_on_xmm_registers_when_the_host_has_fma() {
    let o = hektor(&["ir", "--metric", "cosine", "--dim", "768", "--emit", "asm"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains(";; machine code"));
    assert!(text.contains("ret"));
    if std::arch::is_x86_feature_detected!("fma") {
        assert!(
            text.lines()
                .any(|l| l.contains("vfmadd") && l.contains("xmm")),
            "{text}"
        );
    } else {
        eprintln!("skipped the FMA check: this host has no FMA");
    }
}

#[test]
fn ir_clif_and_kir_and_a_custom_schedule() {
    let o = hektor(&[
        "ir",
        "--metric",
        "l2",
        "--dim",
        "13",
        "--shape",
        "gather",
        "--emit",
        "kir,clif",
        "--schedule",
        "width=4,unroll=1,acc=2,prefetch=2,tail=masked",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("; schedule width=4,unroll=1,acc=2,prefetch=2,pflines=2,tail=masked"));
    assert!(text.contains(";; kernel IR (front end)"));
    assert!(text.contains(";; Cranelift IR as lowered"));
    assert!(text.contains("f32x4"));
    assert!(
        text.contains("call fn0"),
        "prefetch calls the helper:\n{text}"
    );
}

#[test]
fn kernels_table_and_json() {
    let o = hektor(&["kernels", "--dim", "96", "--time-ms", "5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    for m in ["l2", "ip", "cosine", "cosine_norms"] {
        for s in ["pair", "gather", "scan"] {
            assert!(text.contains(&format!("{m}.f32.d96.{s}")), "{text}");
        }
    }
    let tiers = if cfg!(feature = "llvm") { 2 } else { 1 };
    assert!(
        text.contains(&format!("{} kernels compiled and verified", 12 * tiers)),
        "{text}"
    );

    let o = hektor(&[
        "kernels",
        "--dim",
        "7",
        "--metric",
        "ip",
        "--shape",
        "scan",
        "--json",
        "--time-ms",
        "0",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let k = &v["kernels"][0];
    assert_eq!(k["spec"], "ip.f32.d7.scan");
    assert!(k["verified_distances"].as_u64().unwrap() > 0);
    assert!(k["compile_us"].as_f64().unwrap() > 0.0);
    assert!(k["ns_per_distance"].is_null());
}

#[test]
fn kernels_for_quantized_and_bit_vectors() {
    let tiers = if cfg!(feature = "llvm") { 2 } else { 1 };
    for dtype in ["i8", "u8"] {
        let o = hektor(&[
            "kernels",
            "--dim",
            "100",
            "--dtype",
            dtype,
            "--time-ms",
            "1",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        for m in ["l2", "ip", "cosine"] {
            for s in ["pair", "gather", "scan"] {
                assert!(text.contains(&format!("{m}.{dtype}.d100.{s}")), "{text}");
            }
        }
        assert!(
            text.contains(&format!("{} kernels compiled and verified", 9 * tiers)),
            "{text}"
        );
    }
    let o = hektor(&[
        "kernels",
        "--dim",
        "1024",
        "--dtype",
        "bit",
        "--metric",
        "hamming",
        "--time-ms",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("hamming.bit.d1024.gather"), "{text}");
    assert!(
        text.contains(&format!("{} kernels compiled and verified", 3 * tiers)),
        "{text}"
    );
}

#[cfg(feature = "llvm")]
#[test]
fn ir_asm_for_i8_on_the_llvm_tier() {
    let o = hektor(&[
        "ir",
        "--dtype",
        "i8",
        "--metric",
        "ip",
        "--dim",
        "4096",
        "--backend",
        "llvm",
        "--target-cpu",
        "sapphirerapids",
        "--emit",
        "asm",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("vpdpwssd"), "{text}");
}

#[test]
fn bad_arguments_exit_2_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["ir", "--metric", "l2", "--dim", "0"],
            "dimension 0 is out of range",
        ),
        (&["ir", "--metric", "l2", "--dim", "65537"], "out of range"),
        (
            &["ir", "--metric", "l2", "--dim", "-3"],
            "not a positive integer",
        ),
        (
            &["ir", "--metric", "manhattan", "--dim", "8"],
            "unknown metric",
        ),
        (
            &["ir", "--metric", "hamming", "--dim", "8"],
            "not defined for element type `f32`",
        ),
        (
            &["ir", "--metric", "l2", "--dim", "8", "--dtype", "bit"],
            "only the hamming metric",
        ),
        (
            &["ir", "--metric", "l2", "--dim", "8", "--dtype", "i4"],
            "unknown element type",
        ),
        (
            &["ir", "--metric", "l2", "--dim", "8", "--shape", "blob"],
            "unknown shape",
        ),
        (
            &[
                "ir",
                "--metric",
                "l2",
                "--dim",
                "8",
                "--dtype",
                "i8",
                "--schedule",
                "width=4",
            ],
            "scalar on this tier",
        ),
        (
            &["ir", "--metric", "l2", "--dim", "8", "--dtype", "f16"],
            "LLVM tier",
        ),
        (
            &[
                "ir",
                "--metric",
                "cosine_norms",
                "--dim",
                "8",
                "--dtype",
                "f16",
                "--backend",
                "llvm",
            ],
            "inverse norm",
        ),
        (
            &[
                "ir",
                "--metric",
                "l2",
                "--dim",
                "8",
                "--schedule",
                "width=3",
            ],
            "power of two",
        ),
        (
            &["ir", "--metric", "l2", "--dim", "8", "--schedule", "acc=0"],
            "acc=0",
        ),
        (
            &[
                "ir",
                "--metric",
                "l2",
                "--dim",
                "8",
                "--schedule",
                "width=16",
            ],
            "width=16",
        ),
        (
            &[
                "ir",
                "--metric",
                "l2",
                "--dim",
                "8",
                "--schedule",
                "width=1,tail=masked",
            ],
            "tail=masked",
        ),
        (
            &["ir", "--metric", "l2", "--dim", "8", "--emit", "pdf"],
            "invalid value",
        ),
        (&["kernels", "--dim", "abc"], "not a positive integer"),
        (&["kernels"], "--dim"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let o = hektor(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in {err}"
        );
        assert!(
            err.lines().next().unwrap().starts_with("error"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[cfg(feature = "llvm")]
#[test]
fn llvm_asm_for_avx512_cpus_shows_zmm_fma() {
    for cpu in ["sapphirerapids", "znver4"] {
        let o = hektor(&[
            "ir",
            "--backend",
            "llvm",
            "--target-cpu",
            cpu,
            "--metric",
            "l2",
            "--dim",
            "768",
            "--emit",
            "asm",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = stdout(&o);
        assert!(
            text.lines()
                .any(|l| l.contains("vfmadd") && l.contains("zmm")),
            "{cpu}:\n{text}"
        );
        assert!(text.contains(&format!("cpu={cpu}")));
    }
}

#[cfg(feature = "llvm")]
#[test]
fn llvm_ir_before_and_after_o3() {
    let o = hektor(&[
        "ir",
        "--backend",
        "llvm",
        "--metric",
        "cosine",
        "--dim",
        "100",
        "--emit",
        "llvm",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains(";; LLVM IR as lowered"));
    assert!(text.contains(";; LLVM IR after LLVM's O3 pipeline"));
    assert!(text.contains("llvm.fma"));
    assert!(text.contains("\"target-cpu\""));
    let o = hektor(&[
        "ir",
        "--backend",
        "llvm",
        "--metric",
        "l2",
        "--dim",
        "8",
        "--emit",
        "clif",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = hektor(&[
        "ir",
        "--metric",
        "l2",
        "--dim",
        "8",
        "--target-cpu",
        "znver4",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = hektor(&[
        "ir",
        "--backend",
        "llvm",
        "--target-cpu",
        "pentium-9000",
        "--metric",
        "l2",
        "--dim",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown target CPU"));
}

#[test]
fn tune_ranks_candidates_stores_the_winner_and_kernels_uses_it() {
    let dir = std::env::temp_dir().join(format!("hektor-cli-tune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tuning.json");
    let file_arg = file.to_str().unwrap();
    let o = hektor(&[
        "tune",
        "--metric",
        "l2",
        "--dim",
        "64",
        "--shape",
        "pair",
        "--backend",
        "cranelift",
        "--time-ms",
        "1",
        "--top",
        "3",
        "--tuning-file",
        file_arg,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("candidate schedules"), "{text}");
    assert!(text.contains("best width=4"), "{text}");
    // The bar ends full: the 24 candidates (and the default, when it is not
    // one of them), then the head-to-head rounds of the finalists.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let last = stderr.rsplit("] ").next().unwrap_or_default().trim();
    let (done, total) = last.split_once('/').expect("a progress bar");
    assert_eq!(done, total, "the bar ends full: {stderr}");
    assert!(total.parse::<usize>().unwrap() > 24, "{stderr}");
    let o = hektor(&[
        "kernels",
        "--dim",
        "64",
        "--metric",
        "l2",
        "--shape",
        "pair",
        "--backend",
        "cranelift",
        "--time-ms",
        "0",
        "--tuning-file",
        file_arg,
    ]);
    assert!(stdout(&o).contains("(tuned)"), "{}", stdout(&o));

    std::fs::write(&file, "{ not json").unwrap();
    let o = hektor(&[
        "kernels",
        "--dim",
        "64",
        "--metric",
        "l2",
        "--shape",
        "pair",
        "--backend",
        "cranelift",
        "--time-ms",
        "0",
        "--tuning-file",
        file_arg,
    ]);
    assert!(o.status.success(), "a corrupt tuning file is not fatal");
    assert!(String::from_utf8_lossy(&o.stderr).contains("corrupt"));
    assert!(stdout(&o).contains("(default)"));
}

#[cfg(feature = "llvm")]
#[test]
fn mca_shows_the_model_next_to_the_measurement() {
    let o = hektor(&[
        "ir",
        "--backend",
        "llvm",
        "--metric",
        "l2",
        "--dim",
        "256",
        "--emit",
        "mca",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains(";; llvm-mca -mcpu="), "{text}");
    assert!(text.contains("Block RThroughput"), "{text}");
    assert!(text.contains(";; measured on this host:"), "{text}");
    let o = hektor(&[
        "ir",
        "--backend",
        "llvm",
        "--target-cpu",
        "znver4",
        "--metric",
        "cosine",
        "--dim",
        "4096",
        "--shape",
        "scan",
        "--emit",
        "mca",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(
        text.contains("llvm-mca -mcpu=znver4: the innermost loop"),
        "{text}"
    );
    assert!(text.contains("not measured"), "{text}");
}

#[cfg(feature = "llvm")]
#[test]
fn tiers_shows_cranelift_serving_then_llvm_swapping_in() {
    let o = hektor(&[
        "tiers",
        "--dim",
        "33",
        "--metric",
        "ip",
        "--shape",
        "pair,scan",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    for spec in ["ip.f32.d33.pair", "ip.f32.d33.scan"] {
        let serving = text
            .find(&format!("{spec:<30} serving  cranelift"))
            .expect(&text);
        let swapped = text
            .find(&format!("{spec:<30} swapped  cranelift -> llvm"))
            .expect(&text);
        assert!(serving < swapped, "{text}");
        assert!(
            text.contains(&format!("{spec:<30} served by llvm")),
            "{text}"
        );
    }
}
