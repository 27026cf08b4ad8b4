//! The CPU facts that decide which kernels can run, recorded next to bench numbers.

use std::collections::BTreeSet;

/// Flags that gate the SIMD kernels being compared, in the order they are reported.
pub const RELEVANT_FLAGS: &[&str] = &[
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_vpopcntdq",
    "avx512_fp16",
    "f16c",
];

#[derive(Debug, Default, PartialEq)]
pub struct CpuInfo {
    pub model: Option<String>,
    pub flags: BTreeSet<String>,
}

impl CpuInfo {
    pub fn read() -> CpuInfo {
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|text| parse(&text))
            .unwrap_or_default()
    }

    pub fn model_or_unknown(&self) -> &str {
        self.model.as_deref().unwrap_or("unknown")
    }

    pub fn relevant_flags(&self) -> Vec<(&'static str, bool)> {
        RELEVANT_FLAGS
            .iter()
            .map(|&flag| (flag, self.flags.contains(flag)))
            .collect()
    }
}

/// Reads the first processor's entry; benchmarks assume a homogeneous machine.
pub fn parse(cpuinfo: &str) -> CpuInfo {
    let mut info = CpuInfo::default();
    let mut flags_seen = false;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "model name" if info.model.is_none() => info.model = Some(value.to_string()),
            "flags" if !flags_seen => {
                flags_seen = true;
                info.flags = value.split_whitespace().map(String::from).collect();
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma f16c avx512f avx512_vnni avx512_bf16
bugs\t\t: spectre_v1

processor\t: 1
model name\t: Something Else
flags\t\t: fpu
";

    #[test]
    fn parses_first_processor() {
        let info = parse(SAMPLE);
        assert_eq!(
            info.model.as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8480+")
        );
        let present: Vec<&str> = info
            .relevant_flags()
            .into_iter()
            .filter(|&(_, on)| on)
            .map(|(flag, _)| flag)
            .collect();
        assert_eq!(
            present,
            [
                "avx2",
                "fma",
                "avx512f",
                "avx512_vnni",
                "avx512_bf16",
                "f16c"
            ]
        );
    }

    #[test]
    fn missing_fields() {
        let info = parse("processor : 0\n");
        assert_eq!(info.model_or_unknown(), "unknown");
        assert!(info.relevant_flags().iter().all(|&(_, on)| !on));
    }
}
