//! Project automation: `cargo xtask test` is the one command CI and humans run,
//! `cargo xtask bench` runs the kernel benchmarks and summarises them.

mod bench;
mod cpu;
mod criterion;
mod process;
mod report;
mod roofline;
mod system_packages;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [options] [-- <extra args>]

commands:
  test [--no-install] [--skip-lint] [-- <cargo test args>]
      install missing system packages, check formatting, run clippy and all tests
      --no-install   do not check or install system packages
      --skip-lint    skip `cargo fmt --check` and `cargo clippy`
  bench [--quick] [--streaming | --search] [-- <criterion args>]
      run the kernel benchmarks and write target/bench-summary.{md,json}
      --quick        shorter warm-up and measurement (noisier numbers)
      --streaming    run the `streaming` bench instead (scan and gather over a
                     512 MiB matrix streamed from DRAM, against a plain
                     streaming read); writes target/bench-streaming-summary.{md,json}
      --search       run the `search` bench instead (Hektor's HNSW against the
                     hnsw_rs crate on 100,000 clustered 128-dim vectors,
                     HEKTOR_SEARCH_N to change n: recall@10, p50/p99, build
                     time); writes target/bench-search-summary.{md,json}
  crash-test [--points N]
      the kill -9 soak: SIGKILL a process writing to a durable index at N
      random points (default 5000) and check every acknowledged write after
      each (CI runs 200 points as part of `test`)
  hektor <args...>
      install missing system packages, then run the release `hektor` binary
      with <args> (e.g. `cargo xtask hektor kernels --dim 768`)
  help
      print this message";

#[derive(Debug, PartialEq)]
enum Command {
    Test(test::Options),
    Bench(bench::Options),
    CrashTest {
        points: u64,
    },
    /// Arguments for the `hektor` binary, passed through untouched.
    Hektor(Vec<String>),
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    // Everything after `hektor` belongs to the binary, `--` included.
    if args.first().map(String::as_str) == Some("hektor") {
        return Ok(Command::Hektor(args[1..].to_vec()));
    }
    let (flags, passthrough) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], args[i + 1..].to_vec()),
        None => (args, Vec::new()),
    };
    let Some((subcommand, flags)) = flags.split_first() else {
        return Err(format!("missing command\n\n{USAGE}"));
    };
    let unknown = |flag: &str| format!("unknown option `{flag}` for `{subcommand}`\n\n{USAGE}");
    match subcommand.as_str() {
        "test" => {
            let mut opts = test::Options {
                install: true,
                lint: true,
                test_args: passthrough,
            };
            for flag in flags {
                match flag.as_str() {
                    "--no-install" => opts.install = false,
                    "--skip-lint" => opts.lint = false,
                    other => return Err(unknown(other)),
                }
            }
            Ok(Command::Test(opts))
        }
        "bench" => {
            let mut opts = bench::Options {
                quick: false,
                streaming: false,
                search: false,
                criterion_args: passthrough,
            };
            for flag in flags {
                match flag.as_str() {
                    "--quick" => opts.quick = true,
                    "--streaming" => opts.streaming = true,
                    "--search" => opts.search = true,
                    other => return Err(unknown(other)),
                }
            }
            // Each picks the one bench to run; both at once is ambiguous.
            if opts.streaming && opts.search {
                return Err(format!(
                    "`--streaming` and `--search` pick different benches: give one\n\n{USAGE}"
                ));
            }
            Ok(Command::Bench(opts))
        }
        "crash-test" => {
            let mut points = 5000;
            let mut it = flags.iter();
            while let Some(flag) = it.next() {
                match flag.as_str() {
                    "--points" => {
                        points = it
                            .next()
                            .and_then(|v| v.parse().ok())
                            .filter(|&p| p > 0)
                            .ok_or("--points needs a positive number")?;
                    }
                    other => return Err(unknown(other)),
                }
            }
            Ok(Command::CrashTest { points })
        }
        "help" | "--help" | "-h" => Ok(Command::Help),
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    }
}

/// The workspace root, so the tool behaves the same from any directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Installs what the build needs, then runs the release `hektor` binary.
fn run_hektor(root: &Path, args: &[String]) -> Result<(), String> {
    system_packages::ensure()?;
    process::run(
        "hektor",
        process::cargo()
            .current_dir(root)
            .args(["run", "--release", "--quiet", "-p", "hektor-server", "--"])
            .args(args),
    )
}

/// The crash soak: the `crash_soak` test of hektor-runtime, in release.
fn run_crash_test(root: &Path, points: u64) -> Result<(), String> {
    system_packages::ensure()?;
    process::run(
        "crash test",
        process::cargo()
            .current_dir(root)
            .env("HEKTOR_CRASH_POINTS", points.to_string())
            .args([
                "test",
                "--release",
                "-p",
                "hektor-runtime",
                "--test",
                "crash",
                "--",
            ])
            .args(["--ignored", "--exact", "crash_soak", "--nocapture"]),
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|command| match command {
        Command::Test(opts) => test::run(&workspace_root(), &opts),
        Command::Bench(opts) => bench::run(&workspace_root(), &opts),
        Command::Hektor(args) => run_hektor(&workspace_root(), &args),
        Command::CrashTest { points } => run_crash_test(&workspace_root(), points),
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hektor_arguments_pass_through_untouched() {
        assert_eq!(
            parse_args(&args(&["hektor", "kernels", "--dim", "768", "--", "x"])).unwrap(),
            Command::Hektor(args(&["kernels", "--dim", "768", "--", "x"]))
        );
    }

    #[test]
    fn test_defaults_and_passthrough() {
        assert_eq!(
            parse_args(&args(&["test", "--", "--nocapture", "foo"])).unwrap(),
            Command::Test(test::Options {
                install: true,
                lint: true,
                test_args: args(&["--nocapture", "foo"]),
            })
        );
    }

    #[test]
    fn test_flags() {
        assert_eq!(
            parse_args(&args(&["test", "--skip-lint", "--no-install"])).unwrap(),
            Command::Test(test::Options {
                install: false,
                lint: false,
                test_args: vec![],
            })
        );
    }

    #[test]
    fn flags_after_double_dash_are_passed_through_not_parsed() {
        let Command::Test(opts) = parse_args(&args(&["test", "--", "--skip-lint"])).unwrap() else {
            panic!("expected test command");
        };
        assert!(opts.lint);
        assert_eq!(opts.test_args, args(&["--skip-lint"]));
    }

    #[test]
    fn bench_flags() {
        assert_eq!(
            parse_args(&args(&["bench", "--quick", "--", "pair/l2"])).unwrap(),
            Command::Bench(bench::Options {
                quick: true,
                streaming: false,
                search: false,
                criterion_args: args(&["pair/l2"]),
            })
        );
        assert_eq!(
            parse_args(&args(&["bench", "--streaming"])).unwrap(),
            Command::Bench(bench::Options {
                quick: false,
                streaming: true,
                search: false,
                criterion_args: vec![],
            })
        );
    }

    #[test]
    fn bench_search_flag() {
        assert_eq!(
            parse_args(&args(&[
                "bench",
                "--search",
                "--quick",
                "--",
                "search/hnsw_rs"
            ]))
            .unwrap(),
            Command::Bench(bench::Options {
                quick: true,
                streaming: false,
                search: true,
                criterion_args: args(&["search/hnsw_rs"]),
            })
        );
        assert!(parse_args(&args(&["bench", "--search", "--streaming"])).is_err());
    }

    #[test]
    fn crash_test_points() {
        assert_eq!(
            parse_args(&args(&["crash-test"])).unwrap(),
            Command::CrashTest { points: 5000 }
        );
        assert_eq!(
            parse_args(&args(&["crash-test", "--points", "300"])).unwrap(),
            Command::CrashTest { points: 300 }
        );
        assert!(parse_args(&args(&["crash-test", "--points", "0"])).is_err());
        assert!(parse_args(&args(&["crash-test", "--points"])).is_err());
    }

    #[test]
    fn rejects_unknown_input() {
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["build"])).is_err());
        assert!(parse_args(&args(&["test", "--quick"])).is_err());
        assert!(parse_args(&args(&["bench", "--no-install"])).is_err());
    }
}
