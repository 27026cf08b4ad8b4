//! The host CPU, detected at run time (never at build time: the machine
//! that runs Hektor may differ from the one that built it).

use std::fmt;

/// The x86 features Hektor's kernels care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct HostFeatures {
    pub sse42: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub f16c: bool,
    pub popcnt: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vl: bool,
    pub avx512vnni: bool,
    pub avx512bf16: bool,
    pub avx512fp16: bool,
    pub avx512vpopcntdq: bool,
}

impl HostFeatures {
    #[cfg(target_arch = "x86_64")]
    pub fn detect() -> Self {
        use std::arch::is_x86_feature_detected as has;
        HostFeatures {
            sse42: has!("sse4.2"),
            avx: has!("avx"),
            avx2: has!("avx2"),
            fma: has!("fma"),
            f16c: has!("f16c"),
            popcnt: has!("popcnt"),
            avx512f: has!("avx512f"),
            avx512bw: has!("avx512bw"),
            avx512vl: has!("avx512vl"),
            avx512vnni: has!("avx512vnni"),
            avx512bf16: has!("avx512bf16"),
            avx512fp16: has!("avx512fp16"),
            avx512vpopcntdq: has!("avx512vpopcntdq"),
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn detect() -> Self {
        HostFeatures::default()
    }

    /// A one-word ISA level: the widest vector extension present.
    pub fn isa_level(&self) -> &'static str {
        if self.avx512f && self.avx512bw && self.avx512vl {
            "avx512"
        } else if self.avx2 && self.fma {
            "avx2+fma"
        } else if self.avx {
            "avx"
        } else if self.sse42 {
            "sse4.2"
        } else {
            "baseline"
        }
    }
}

impl fmt::Display for HostFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = [
            ("sse4.2", self.sse42),
            ("avx", self.avx),
            ("avx2", self.avx2),
            ("fma", self.fma),
            ("f16c", self.f16c),
            ("popcnt", self.popcnt),
            ("avx512f", self.avx512f),
            ("avx512bw", self.avx512bw),
            ("avx512vl", self.avx512vl),
            ("avx512vnni", self.avx512vnni),
            ("avx512bf16", self.avx512bf16),
            ("avx512fp16", self.avx512fp16),
            ("avx512vpopcntdq", self.avx512vpopcntdq),
        ];
        let on: Vec<&str> = all.iter().filter(|(_, v)| *v).map(|(n, _)| *n).collect();
        f.write_str(&on.join(" "))
    }
}

/// The CPU's model name, from `/proc/cpuinfo` (Linux), for reports.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}
