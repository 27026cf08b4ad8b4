//! Spawning external commands with uniform headers and failure messages.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// The cargo that launched us, so every step uses the same toolchain as `cargo xtask`.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(program)
}

pub fn header(title: &str) {
    println!("\n==> {title}");
}

/// Runs `cmd` with inherited stdio so its output streams live into the CI log.
pub fn run(step: &str, cmd: &mut Command) -> Result<(), String> {
    println!("$ {}", display(cmd));
    let status = cmd.status().map_err(|e| {
        format!(
            "{step} failed (could not start `{}`: {e})",
            program_name(cmd)
        )
    })?;
    check(step, status)
}

pub fn check(step: &str, status: ExitStatus) -> Result<(), String> {
    if status.success() {
        return Ok(());
    }
    match status.code() {
        Some(code) => Err(format!("{step} failed (exit code {code})")),
        None => Err(format!("{step} failed ({status})")),
    }
}

/// Shell-style rendering of a command, so a failing step can be copied and rerun.
pub fn display(cmd: &Command) -> String {
    let mut parts = vec![shell_quote(&program_name(cmd))];
    parts.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    parts.join(" ")
}

/// The bare program name: `$CARGO` is an absolute toolchain path that is noise in logs.
fn program_name(cmd: &Command) -> String {
    let program = cmd.get_program();
    Path::new(program)
        .file_name()
        .unwrap_or(OsStr::new(program))
        .to_string_lossy()
        .into_owned()
}

pub fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let minutes = (secs / 60.0).floor();
        format!("{minutes:.0}m {:.1}s", secs - minutes * 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("--warm-up-time"), "--warm-up-time");
        assert_eq!(shell_quote("pair/l2/d768"), "pair/l2/d768");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn display_uses_bare_program_name() {
        let mut cmd = Command::new("/opt/rust/bin/cargo");
        cmd.args(["bench", "--", "a b"]);
        assert_eq!(display(&cmd), "cargo bench -- 'a b'");
    }

    #[test]
    fn failure_message_names_step_and_exit_code() {
        let status = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
        assert_eq!(
            check("cargo clippy", status).unwrap_err(),
            "cargo clippy failed (exit code 3)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_millis(83_400)), "1m 23.4s");
    }
}
