//! `cargo xtask bench`: run the kernel benchmarks and summarise criterion's output.
//! `--streaming` runs the `streaming` bench (rows from DRAM against a plain
//! streaming read) instead of `kernels`; `--search` runs the `search` bench
//! (Hektor's HNSW against hnsw_rs), which writes its own summary.

use crate::cpu::CpuInfo;
use crate::criterion;
use crate::process;
use crate::report::{self, Summary};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, PartialEq)]
pub struct Options {
    pub quick: bool,
    /// Run the `streaming` bench instead of `kernels`.
    pub streaming: bool,
    /// Run the `search` bench instead of `kernels`.
    pub search: bool,
    pub criterion_args: Vec<String>,
}

/// Trades precision for a run short enough to iterate on a kernel.
const QUICK_ARGS: &[&str] = &["--warm-up-time", "0.5", "--measurement-time", "1"];

fn cargo_args(opts: &Options) -> Vec<String> {
    let mut args: Vec<String> = ["bench", "-p", "hektor-benches", "--bench", bench_name(opts)]
        .map(String::from)
        .to_vec();
    let mut harness: Vec<String> = Vec::new();
    if opts.quick {
        harness.extend(QUICK_ARGS.iter().map(|s| s.to_string()));
    }
    harness.extend(opts.criterion_args.iter().cloned());
    if !harness.is_empty() {
        args.push("--".into());
        args.extend(harness);
    }
    args
}

fn bench_name(opts: &Options) -> &'static str {
    if opts.search {
        "search"
    } else if opts.streaming {
        "streaming"
    } else {
        "kernels"
    }
}

/// The summary files under the target directory, without extension.
fn summary_stem(opts: &Options) -> &'static str {
    if opts.search {
        "bench-search-summary"
    } else if opts.streaming {
        "bench-streaming-summary"
    } else {
        "bench-summary"
    }
}

/// Follows cargo's and criterion's own overrides so results are found where they were written.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| root.join(dir))
        .unwrap_or_else(|| root.join("target"))
}

fn criterion_dir(target: &Path) -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("criterion"))
}

/// The variable that names the tuning file (`hektor_runtime::tuning`).
const TUNING_FILE_VAR: &str = "HEKTOR_TUNING_FILE";

pub fn run(root: &Path, opts: &Options) -> Result<(), String> {
    // Slack for filesystems with coarse mtimes, so this run's results are not dropped.
    let started = SystemTime::now() - Duration::from_secs(2);
    let mut cmd = process::cargo();
    cmd.args(cargo_args(opts)).current_dir(root);
    // cargo runs a bench binary in its package's folder, where a relative
    // tuning file path names a file that is not there: anchor it here.
    if let Some(path) = std::env::var_os(TUNING_FILE_VAR).map(PathBuf::from) {
        if path.is_relative() {
            let cwd = std::env::current_dir().map_err(|e| format!("current folder: {e}"))?;
            cmd.env(TUNING_FILE_VAR, cwd.join(path));
        }
    }
    let command = process::display(&cmd);

    process::header("cargo bench");
    process::run("cargo bench", &mut cmd)?;

    let target = target_dir(root);
    if opts.search {
        return report_search_summary(&target, opts, started);
    }

    process::header("summary");
    let dir = criterion_dir(&target);
    let records = criterion::load(&dir, Some(started))?;
    if records.is_empty() {
        return Err(format!(
            "bench summary failed (no criterion results from this run under {})",
            dir.display()
        ));
    }
    let cpu = CpuInfo::read();
    let roofline = crate::roofline::Roofline::of_run(&target, &cpu, started);
    let kernel_cycles = crate::roofline::KernelCycles::of_run(&target, started);
    let summary = Summary {
        cpu,
        command,
        records,
        roofline,
        kernel_cycles,
    };
    let markdown = report::render_markdown(&summary);
    println!("{markdown}");

    let json = serde_json::to_string_pretty(&report::render_json(&summary))
        .map_err(|e| format!("bench summary failed (serialising JSON: {e})"))?;
    let write = |name: &str, contents: &str| {
        let path = target.join(name);
        fs::write(&path, contents)
            .map_err(|e| format!("bench summary failed (writing {}: {e})", path.display()))?;
        println!("wrote {}", path.display());
        Ok::<(), String>(())
    };
    let stem = summary_stem(opts);
    write(&format!("{stem}.md"), &markdown)?;
    write(&format!("{stem}.json"), &(json + "\n"))?;
    Ok(())
}

/// The search bench measures recall and per-query latency itself (criterion
/// cannot: it sees neither results nor single queries) and writes its own
/// summary, already printed above; this says where it is, after checking
/// that this run wrote it rather than an earlier one.
fn report_search_summary(target: &Path, opts: &Options, started: SystemTime) -> Result<(), String> {
    process::header("summary");
    let stem = summary_stem(opts);
    let mut paths = Vec::new();
    for ext in ["md", "json"] {
        let path = target.join(format!("{stem}.{ext}"));
        let fresh = fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= started);
        if !fresh {
            return Err(format!(
                "search bench summary missing ({} was not written by this run)",
                path.display()
            ));
        }
        paths.push(path);
    }
    for path in paths {
        println!("search summary: {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_command() {
        let opts = |quick, extra: &[&str]| Options {
            quick,
            streaming: false,
            search: false,
            criterion_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            cargo_args(&opts(false, &[])),
            ["bench", "-p", "hektor-benches", "--bench", "kernels"]
        );
        assert_eq!(
            cargo_args(&opts(true, &["pair/l2"])),
            [
                "bench",
                "-p",
                "hektor-benches",
                "--bench",
                "kernels",
                "--",
                "--warm-up-time",
                "0.5",
                "--measurement-time",
                "1",
                "pair/l2"
            ]
        );
        assert_eq!(summary_stem(&opts(false, &[])), "bench-summary");
    }

    #[test]
    fn streaming_command() {
        let opts = Options {
            quick: true,
            streaming: true,
            search: false,
            criterion_args: vec!["stream-scan/l2".to_string()],
        };
        assert_eq!(
            cargo_args(&opts),
            [
                "bench",
                "-p",
                "hektor-benches",
                "--bench",
                "streaming",
                "--",
                "--warm-up-time",
                "0.5",
                "--measurement-time",
                "1",
                "stream-scan/l2"
            ]
        );
        assert_eq!(summary_stem(&opts), "bench-streaming-summary");
    }

    #[test]
    fn search_command() {
        let opts = Options {
            quick: true,
            streaming: false,
            search: true,
            criterion_args: vec!["search/hektor".to_string()],
        };
        assert_eq!(
            cargo_args(&opts),
            [
                "bench",
                "-p",
                "hektor-benches",
                "--bench",
                "search",
                "--",
                "--warm-up-time",
                "0.5",
                "--measurement-time",
                "1",
                "search/hektor"
            ]
        );
        assert_eq!(summary_stem(&opts), "bench-search-summary");
    }

    #[test]
    fn search_summary_must_come_from_this_run() {
        let dir = std::env::temp_dir().join(format!("xtask-search-summary-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let opts = Options {
            quick: false,
            streaming: false,
            search: true,
            criterion_args: vec![],
        };
        let before = SystemTime::now() - Duration::from_secs(2);
        assert!(report_search_summary(&dir, &opts, before).is_err());
        for ext in ["md", "json"] {
            fs::write(dir.join(format!("bench-search-summary.{ext}")), "x").unwrap();
        }
        assert!(report_search_summary(&dir, &opts, before).is_ok());
        let later = SystemTime::now() + Duration::from_secs(3600);
        assert!(report_search_summary(&dir, &opts, later).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
