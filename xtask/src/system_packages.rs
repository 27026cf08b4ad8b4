//! Debian packages the build needs beyond what rustup provides.

use crate::process;
use std::io;
use std::process::Command;

/// Every system package the workspace needs, with the reason it is needed.
/// This is the one place to add a package (e.g. `llvm-22-dev`).
pub const REQUIRED_PACKAGES: &[(&str, &str)] = &[
    (
        "gcc",
        "C compiler for the simsimd peer crate used in benches",
    ),
    ("pkg-config", "locating system libraries"),
    (
        "llvm-22-dev",
        "the LLVM tier (inkwell links libLLVM 22, the version rustc 1.95 is built on)",
    ),
    ("llvm-22", "LLVM tools: llvm-mca for `hektor ir --emit mca`"),
    (
        "libpolly-22-dev",
        "linked by llvm-config --libs on Debian's LLVM 22",
    ),
    ("zlib1g-dev", "linked by libLLVM"),
    ("libzstd-dev", "linked by libLLVM"),
];

/// Interprets `dpkg-query -W -f='${Status}'` output. A removed package whose
/// config files remain reports `deinstall ok config-files`, hence the full phrase.
pub fn is_installed(status: &str) -> bool {
    status.contains("install ok installed")
}

/// Names of the required packages that `status_of` does not report as installed.
pub fn missing<'a>(
    required: &[(&'a str, &str)],
    mut status_of: impl FnMut(&str) -> io::Result<String>,
) -> io::Result<Vec<&'a str>> {
    let mut missing = Vec::new();
    for &(package, _) in required {
        if !is_installed(&status_of(package)?) {
            missing.push(package);
        }
    }
    Ok(missing)
}

pub fn parse_is_root(id_u_output: &str) -> bool {
    id_u_output.trim() == "0"
}

/// The argv for an apt-get invocation. Under sudo the environment is reset,
/// so `env` carries DEBIAN_FRONTEND through to keep apt from prompting.
pub fn apt_get(is_root: bool, args: &[&str]) -> Vec<String> {
    let prefix: &[&str] = if is_root {
        &["apt-get"]
    } else {
        &["sudo", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    };
    prefix.iter().chain(args).map(|s| s.to_string()).collect()
}

pub fn install_args(missing: &[&str]) -> Vec<String> {
    let mut args = ["install", "-y", "--no-install-recommends"]
        .map(String::from)
        .to_vec();
    args.extend(missing.iter().map(|s| s.to_string()));
    args
}

/// `dpkg-query` exits 1 for packages it has never heard of; that simply means
/// "not installed", so only failure to spawn is an error.
fn dpkg_status(package: &str) -> io::Result<String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| parse_is_root(&String::from_utf8_lossy(&out.stdout)))
        .unwrap_or(false)
}

fn why(package: &str) -> &'static str {
    REQUIRED_PACKAGES
        .iter()
        .find(|(name, _)| *name == package)
        .map_or("", |(_, why)| why)
}

fn run_apt(is_root: bool, step: &str, args: &[&str]) -> Result<(), String> {
    let argv = apt_get(is_root, args);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("DEBIAN_FRONTEND", "noninteractive");
    process::run(step, &mut cmd)
}

pub fn ensure() -> Result<(), String> {
    let missing = match missing(REQUIRED_PACKAGES, dpkg_status) {
        Ok(missing) => missing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            println!("warning: dpkg-query not found (not Debian?); make sure these are installed:");
            for (package, why) in REQUIRED_PACKAGES {
                println!("  {package}: {why}");
            }
            return Ok(());
        }
        Err(e) => return Err(format!("system package check failed (dpkg-query: {e})")),
    };
    if missing.is_empty() {
        let names: Vec<&str> = REQUIRED_PACKAGES.iter().map(|(name, _)| *name).collect();
        println!("all installed: {}", names.join(", "));
        return Ok(());
    }
    for package in &missing {
        println!("missing {package}: {}", why(package));
    }

    let root = is_root();
    run_apt(root, "apt-get update", &["update"])?;
    let args = install_args(&missing);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_apt(root, "apt-get install", &args)?;

    // apt-get can exit 0 without installing (e.g. held packages), so trust dpkg only.
    let still_missing = self::missing(REQUIRED_PACKAGES, dpkg_status)
        .map_err(|e| format!("system package check failed (dpkg-query: {e})"))?;
    if !still_missing.is_empty() {
        return Err(format!(
            "system packages still missing after apt-get install: {}",
            still_missing.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parsing() {
        assert!(is_installed("install ok installed"));
        assert!(!is_installed("deinstall ok config-files"));
        assert!(!is_installed("unknown ok not-installed"));
        assert!(!is_installed(""));
    }

    #[test]
    fn collects_only_missing_packages_in_order() {
        let required = [("a", "why a"), ("b", "why b"), ("c", "why c")];
        let missing = missing(&required, |pkg| {
            Ok(match pkg {
                "b" => "install ok installed".to_string(),
                "c" => "deinstall ok config-files".to_string(),
                _ => String::new(),
            })
        })
        .unwrap();
        assert_eq!(missing, ["a", "c"]);
    }

    #[test]
    fn query_errors_propagate() {
        let err = missing(&[("a", "")], |_| Err(io::ErrorKind::NotFound.into())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn sudo_only_when_not_root() {
        assert!(parse_is_root("0\n"));
        assert!(!parse_is_root("1000\n"));
        assert_eq!(apt_get(true, &["update"]), ["apt-get", "update"]);
        assert_eq!(
            apt_get(false, &["update"]),
            [
                "sudo",
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "update"
            ]
        );
    }

    #[test]
    fn install_command() {
        assert_eq!(
            install_args(&["gcc", "pkg-config"]),
            [
                "install",
                "-y",
                "--no-install-recommends",
                "gcc",
                "pkg-config"
            ]
        );
    }

    #[test]
    fn required_packages_have_reasons() {
        assert!(REQUIRED_PACKAGES
            .iter()
            .all(|(name, why)| !name.is_empty() && !why.is_empty()));
    }
}
