//! Static throughput analysis of a kernel's hot loop by `llvm-mca`
//! (Debian's `llvm-22` package), and the host's clock, so that
//! `hektor ir --emit mca` can put the model's cycles next to measured ones.

use std::process::Command;

/// The `llvm-mca` binary: `$HEKTOR_LLVM_MCA`, else LLVM 22's.
pub fn mca_binary() -> String {
    std::env::var("HEKTOR_LLVM_MCA").unwrap_or_else(|_| "/usr/lib/llvm-22/bin/llvm-mca".to_string())
}

/// The innermost loop of an assembly listing: the lines from the label a
/// backward branch jumps to, through that branch. Straight-line kernels
/// (fully unrolled) have none; then the whole function body is the block.
/// Returns the block and whether it is a loop.
pub fn hot_block(asm: &str) -> (String, bool) {
    let lines: Vec<&str> = asm.lines().collect();
    let is_code = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('.') && !t.starts_with('#') && !t.ends_with(':')
    };
    // The last backward branch whose target label appears before it.
    for (k, line) in lines.iter().enumerate().rev() {
        let t = line.trim();
        if !t.starts_with('j') {
            continue;
        }
        let Some(target) = t.split_whitespace().nth(1) else {
            continue;
        };
        if let Some(start) = lines[..k]
            .iter()
            .rposition(|l| l.trim() == format!("{target}:"))
        {
            let body: Vec<&str> = lines[start + 1..=k]
                .iter()
                .copied()
                .filter(|l| is_code(l))
                .collect();
            return (body.join("\n"), true);
        }
    }
    let body: Vec<&str> = lines.iter().copied().filter(|l| is_code(l)).collect();
    (body.join("\n"), false)
}

/// Runs llvm-mca on `block` for `cpu`; returns its report.
pub fn analyze(block: &str, cpu: &str, iterations: u32) -> Result<String, String> {
    let bin = mca_binary();
    let mut child = Command::new(&bin)
        .args([
            "-mtriple=x86_64-unknown-linux-gnu",
            &format!("-mcpu={cpu}"),
            &format!("-iterations={iterations}"),
            "-summary-view",
            "-resource-pressure=false",
            "-instruction-info=false",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run {bin} ({e}); install Debian's llvm-22 or set HEKTOR_LLVM_MCA")
        })?;
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(block.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "llvm-mca failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `Block RThroughput` from an llvm-mca summary: cycles per iteration of
/// the block in the steady state.
pub fn block_throughput(report: &str) -> Option<f64> {
    report
        .lines()
        .find(|l| l.trim_start().starts_with("Block RThroughput:"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
}

/// Dependent 1-cycle adds per round of [`add_chain`].
pub const ADDS_PER_ROUND: u64 = 100;

/// Runs `rounds` × [`ADDS_PER_ROUND`] register-register adds, each waiting
/// for the one before, so they take one cycle each whatever the core's
/// width: timing it gives the core clock. Not `add reg, imm`: recent Intel
/// cores fold immediate adds at rename, breaking the chain.
#[cfg(target_arch = "x86_64")]
#[inline(never)]
pub fn add_chain(rounds: u64) -> u64 {
    let mut x: u64 = 0;
    let one: u64 = std::hint::black_box(1);
    for _ in 0..rounds {
        // SAFETY: register-only arithmetic on values we own.
        unsafe {
            std::arch::asm!(
                ".rept {n}", "add {x}, {one}", ".endr",
                x = inout(reg) x,
                one = in(reg) one,
                n = const ADDS_PER_ROUND,
                options(nomem, nostack),
            );
        }
    }
    x
}

/// The core clock in GHz: the fastest of five timed [`add_chain`]s.
#[cfg(target_arch = "x86_64")]
pub fn measure_ghz() -> f64 {
    use std::time::Instant;
    let rounds: u64 = 2_000_000;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(add_chain(rounds));
        best = best.min(t.elapsed().as_secs_f64());
    }
    (rounds * ADDS_PER_ROUND) as f64 / best / 1e9
}

#[cfg(not(target_arch = "x86_64"))]
pub fn measure_ghz() -> f64 {
    f64::NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_block_is_the_innermost_loop() {
        let asm = "f:\n\tvxorps %xmm0, %xmm0, %xmm0\n.LBB0_1:\n\tvfmadd231ps (%rdi,%rax), %zmm1, %zmm0\n\taddq $64, %rax\n\tcmpq $3072, %rax\n\tjne .LBB0_1\n# %bb.2:\n\tretq\n";
        let (block, is_loop) = hot_block(asm);
        assert!(is_loop);
        assert_eq!(block.lines().count(), 4);
        assert!(block.contains("vfmadd231ps") && block.contains("jne"));
        let (block, is_loop) = hot_block("f:\n\tvaddps %zmm0, %zmm1, %zmm2\n\tretq\n");
        assert!(!is_loop);
        assert_eq!(block.lines().count(), 2);
    }

    #[test]
    fn throughput_is_read_from_the_summary() {
        let report = "Iterations:        100\nBlock RThroughput: 12.5\n";
        assert_eq!(block_throughput(report), Some(12.5));
        assert_eq!(block_throughput("nothing"), None);
    }

    #[test]
    fn the_clock_is_plausible() {
        let ghz = measure_ghz();
        assert!(ghz > 0.2 && ghz < 10.0, "{ghz} GHz");
    }
}
