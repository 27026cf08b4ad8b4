//! `cargo xtask test`: the single entry point CI runs.

use crate::{process, system_packages};
use std::path::Path;
use std::time::Instant;

#[derive(Debug, PartialEq)]
pub struct Options {
    pub install: bool,
    pub lint: bool,
    /// Forwarded to the test harness after `--`, e.g. `--nocapture`.
    pub test_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    SystemPackages,
    Fmt,
    Clippy,
    ClippyWithoutLlvm,
    Test,
    DocTest,
}

impl Step {
    fn title(self) -> &'static str {
        match self {
            Step::SystemPackages => "system packages",
            Step::Fmt => "cargo fmt",
            Step::Clippy => "cargo clippy",
            Step::ClippyWithoutLlvm => "cargo clippy (Cranelift-only build, no LLVM)",
            Step::Test => "cargo test",
            Step::DocTest => "cargo test --doc",
        }
    }

    fn cargo_args(self, test_args: &[String]) -> Vec<String> {
        let base: &[&str] = match self {
            Step::SystemPackages => &[],
            Step::Fmt => &["fmt", "--all", "--", "--check"],
            Step::Clippy => &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
            // The LLVM tier is a cargo feature; the build without it must
            // stay clean too.
            Step::ClippyWithoutLlvm => &[
                "clippy",
                "-p",
                "hektor-server",
                "--all-targets",
                "--no-default-features",
                "--",
                "-D",
                "warnings",
            ],
            Step::Test => &["test", "--workspace", "--all-targets", "--all-features"],
            // `--all-targets` does not include doctests, so they need their own run.
            Step::DocTest => &["test", "--workspace", "--doc", "--all-features"],
        };
        let mut args: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        if matches!(self, Step::Test | Step::DocTest) && !test_args.is_empty() {
            args.push("--".into());
            args.extend(test_args.iter().cloned());
        }
        args
    }
}

fn plan(opts: &Options) -> Vec<Step> {
    let mut steps = Vec::new();
    if opts.install {
        steps.push(Step::SystemPackages);
    }
    if opts.lint {
        steps.extend([Step::Fmt, Step::Clippy, Step::ClippyWithoutLlvm]);
    }
    steps.extend([Step::Test, Step::DocTest]);
    steps
}

pub fn run(root: &Path, opts: &Options) -> Result<(), String> {
    let start = Instant::now();
    let result = run_steps(root, opts);
    let elapsed = process::format_duration(start.elapsed());
    match &result {
        Ok(()) => println!("\n==> all steps passed in {elapsed}"),
        Err(_) => println!("\n==> failed after {elapsed}"),
    }
    result
}

fn run_steps(root: &Path, opts: &Options) -> Result<(), String> {
    let steps = plan(opts);
    for (i, step) in steps.iter().enumerate() {
        process::header(&format!("[{}/{}] {}", i + 1, steps.len(), step.title()));
        match step {
            Step::SystemPackages => system_packages::ensure()?,
            _ => process::run(
                step.title(),
                process::cargo()
                    .args(step.cargo_args(&opts.test_args))
                    .current_dir(root),
            )?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(install: bool, lint: bool) -> Options {
        Options {
            install,
            lint,
            test_args: vec![],
        }
    }

    #[test]
    fn plan_honours_flags() {
        use Step::*;
        assert_eq!(
            plan(&opts(true, true)),
            [
                SystemPackages,
                Fmt,
                Clippy,
                ClippyWithoutLlvm,
                Test,
                DocTest
            ]
        );
        assert_eq!(
            plan(&opts(false, true)),
            [Fmt, Clippy, ClippyWithoutLlvm, Test, DocTest]
        );
        assert_eq!(plan(&opts(true, false)), [SystemPackages, Test, DocTest]);
        assert_eq!(plan(&opts(false, false)), [Test, DocTest]);
    }

    #[test]
    fn test_args_reach_only_test_steps() {
        let extra = vec!["--nocapture".to_string()];
        assert_eq!(
            Step::Test.cargo_args(&extra),
            [
                "test",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "--nocapture"
            ]
        );
        assert_eq!(
            Step::DocTest.cargo_args(&extra),
            [
                "test",
                "--workspace",
                "--doc",
                "--all-features",
                "--",
                "--nocapture"
            ]
        );
        assert_eq!(
            Step::Clippy.cargo_args(&extra),
            [
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings"
            ]
        );
        assert_eq!(
            Step::Test.cargo_args(&[]),
            ["test", "--workspace", "--all-targets", "--all-features"]
        );
    }
}
