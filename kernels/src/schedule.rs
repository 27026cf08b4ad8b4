use crate::SpecError;
use std::fmt;
use std::str::FromStr;

/// How the loop over elements handles the `dim % width` elements that do not
/// fill a whole vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TailStrategy {
    /// A scalar epilogue, fully peeled (the dimension is a constant).
    Scalar,
    /// One last vector iteration whose loads are masked to the valid lanes.
    Masked,
    /// Rows are zero-padded to a multiple of the width; the vector loop
    /// simply runs over the padding. Callers must pass padded slices.
    Padded,
}

impl TailStrategy {
    pub fn name(self) -> &'static str {
        match self {
            TailStrategy::Scalar => "scalar",
            TailStrategy::Masked => "masked",
            TailStrategy::Padded => "padded",
        }
    }
}

/// How far the element loop is unrolled (without adding accumulators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Unroll {
    /// Replicate the body this many times per iteration.
    Factor(u32),
    /// Remove the loop entirely: straight-line code over the whole dimension.
    Full,
}

/// How a kernel is executed, kept apart from what it computes.
///
/// Printed and parsed as `width=4,unroll=2,acc=4,prefetch=4,pflines=2,tail=scalar`;
/// keys may be given in any order and missing keys keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Schedule {
    /// Lanes per vector operation (1 = scalar): f32 lanes, u64 words of a
    /// bit vector, or codes of a quantized one (one i32 lane each).
    pub width: u32,
    /// Extra unrolling of the (already accumulator-split) element loop.
    pub unroll: Unroll,
    /// Independent partial sums, to hide FMA latency.
    pub accumulators: u32,
    /// For `gather` and `scan`: prefetch the row this many rows ahead (0 = off).
    pub prefetch: u32,
    /// How much of each row ahead is prefetched: its first this many cache
    /// lines (0 = every line). A row's first lines are what the hardware
    /// cannot foresee; once they are requested, its prefetchers stream
    /// the rest of the row. Prefetching every line instead spends a load
    /// slot and a fill buffer per line: gather ip d1536 from DRAM ran at
    /// 1.33× the read floor that way, 1.02× with two lines
    /// (`benches/streaming.rs`).
    pub prefetch_lines: u32,
    pub tail: TailStrategy,
    /// For `gather` and `scan`: rows computed together in one pass over
    /// the query (1 = one row at a time). Each load of the query then
    /// serves this many rows, and their sums are independent chains: at
    /// d1536, where the query cannot stay in registers, the loads per
    /// vector drop from 2 to 1 + 1/rows. Printed only when above 1.
    pub tile_rows: u32,
}

/// The widest vector, in lanes, of any kernel: 64 i32 lanes of quantized
/// codes (64 code bytes, one zmm register of them, per vector step).
/// Float kernels stop at [`MAX_FLOAT_WIDTH`] ([`crate::KernelSpec::check_schedule`]).
pub const MAX_WIDTH: u32 = 64;
/// The widest f32 (and bit-word) vector: 16 lanes, a zmm register.
pub const MAX_FLOAT_WIDTH: u32 = 16;
pub const MAX_UNROLL: u32 = 64;
pub const MAX_ACCUMULATORS: u32 = 16;
pub const MAX_PREFETCH: u32 = 64;
/// At most this many prefetched lines a row (4 KiB, a page).
pub const MAX_PREFETCH_LINES: u32 = 64;
/// The lines of each row ahead that a default schedule prefetches.
pub const DEFAULT_PREFETCH_LINES: u32 = 2;
/// At most this many rows a tile.
pub const MAX_TILE_ROWS: u32 = 8;

impl Default for Schedule {
    /// A sound schedule for 128-bit vectors: four f32x4 accumulators cover
    /// the FMA latency (4 cycles) at one FMA per cycle on a load-bound loop.
    fn default() -> Self {
        Schedule {
            width: 4,
            unroll: Unroll::Factor(2),
            accumulators: 4,
            prefetch: 4,
            prefetch_lines: DEFAULT_PREFETCH_LINES,
            tail: TailStrategy::Scalar,
            tile_rows: 1,
        }
    }
}

impl Schedule {
    /// A sound schedule for `spec` on 128-bit vectors (16 registers),
    /// chosen by measurement (`hektor kernels --dim 768 --schedule ...`):
    /// l2 and ip are load-bound, and eight accumulators keep enough loads in
    /// flight; cosine carries three sums, so two accumulators each (six
    /// partial sums) fill the registers without spilling.
    ///
    /// Integer kernels (`i8`, `u8`, `bit`) are scalar here: the 128-bit
    /// tier (Cranelift) lowers their loops one element (one 64-bit word for
    /// `bit`, with `popcnt`) at a time; four sums hide the multiply latency.
    pub fn default_for(spec: &crate::KernelSpec) -> Self {
        if spec.dtype.is_integer() {
            return Schedule {
                width: 1,
                accumulators: 4,
                ..Schedule::default()
            }
            .with_default_prefetch(spec);
        }
        let accumulators = match spec.metric {
            crate::Metric::L2 | crate::Metric::Ip | crate::Metric::CosineNorms => 8,
            crate::Metric::Cosine | crate::Metric::Hamming => 2,
        };
        Schedule {
            accumulators,
            ..Schedule::default()
        }
        .with_default_prefetch(spec)
    }

    /// `self` with the default prefetch distance for `spec`: 4 rows ahead
    /// for `gather` (its rows are scattered: each must be requested ahead
    /// of use), and for `scan` at least 4 KiB ahead, so that short rows
    /// from DRAM are asked for a memory latency before they are read
    /// (scan l2/ip d128 from DRAM: 1.20×/1.19× the read floor at commit
    /// 71e34e3, 4 whole rows ahead; 1.11×/1.01× now; `benches/streaming.rs`).
    pub fn with_default_prefetch(self, spec: &crate::KernelSpec) -> Self {
        const SCAN_AHEAD_BYTES: usize = 4096;
        let prefetch = match spec.shape {
            crate::Shape::Scan => {
                let row = spec.row_bytes(&self).max(1);
                SCAN_AHEAD_BYTES
                    .div_ceil(row)
                    .clamp(4, MAX_PREFETCH as usize) as u32
            }
            _ => 4,
        };
        Schedule { prefetch, ..self }
    }

    /// Checks the schedule's own consistency (a backend may further restrict
    /// the width it can lower).
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |msg: String| Err(SpecError::InvalidSchedule(msg));
        if !self.width.is_power_of_two() || self.width > MAX_WIDTH {
            return bad(format!(
                "width={} must be a power of two in 1..={MAX_WIDTH}",
                self.width
            ));
        }
        if let Unroll::Factor(u) = self.unroll {
            if u == 0 || u > MAX_UNROLL {
                return bad(format!("unroll={u} must be in 1..={MAX_UNROLL} or `full`"));
            }
        }
        if self.accumulators == 0 || self.accumulators > MAX_ACCUMULATORS {
            return bad(format!(
                "acc={} must be in 1..={MAX_ACCUMULATORS}",
                self.accumulators
            ));
        }
        if self.prefetch > MAX_PREFETCH {
            return bad(format!(
                "prefetch={} must be in 0..={MAX_PREFETCH}",
                self.prefetch
            ));
        }
        if self.prefetch_lines > MAX_PREFETCH_LINES {
            return bad(format!(
                "pflines={} must be in 0..={MAX_PREFETCH_LINES} (0 = the whole row)",
                self.prefetch_lines
            ));
        }
        if self.tile_rows == 0 || self.tile_rows > MAX_TILE_ROWS {
            return bad(format!(
                "rows={} must be in 1..={MAX_TILE_ROWS}",
                self.tile_rows
            ));
        }
        if self.tail == TailStrategy::Masked && self.width == 1 {
            return bad("tail=masked needs width > 1".to_string());
        }
        Ok(())
    }

    /// Parses `key=value` pairs over `self` as defaults.
    pub fn with_overrides(mut self, text: &str) -> Result<Self, SpecError> {
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| SpecError::InvalidSchedule(format!("`{item}` is not key=value")))?;
            let number = || -> Result<u32, SpecError> {
                value.parse().map_err(|_| {
                    SpecError::InvalidSchedule(format!("{key}={value}: not a non-negative integer"))
                })
            };
            match key {
                "width" | "w" => self.width = number()?,
                "unroll" | "u" => {
                    self.unroll = if value == "full" {
                        Unroll::Full
                    } else {
                        Unroll::Factor(number()?)
                    }
                }
                "acc" | "accumulators" => self.accumulators = number()?,
                "prefetch" | "pf" => self.prefetch = number()?,
                "pflines" | "prefetch_lines" => self.prefetch_lines = number()?,
                "rows" | "tile_rows" => self.tile_rows = number()?,
                "tail" => {
                    self.tail = match value {
                        "scalar" | "peel" => TailStrategy::Scalar,
                        "masked" | "mask" => TailStrategy::Masked,
                        "padded" | "pad" => TailStrategy::Padded,
                        _ => {
                            return Err(SpecError::InvalidSchedule(format!(
                                "tail={value}: expected scalar, masked or padded"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(SpecError::InvalidSchedule(format!(
                        "unknown key `{key}` (expected width, unroll, acc, prefetch, pflines, tail, rows)"
                    )))
                }
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// Elements a row must hold for this schedule: `dim` rounded up to the
    /// width when the tail is padded, `dim` otherwise.
    pub fn padded_len(&self, dim: usize) -> usize {
        match self.tail {
            TailStrategy::Padded => dim.div_ceil(self.width as usize) * self.width as usize,
            _ => dim,
        }
    }

    /// Bytes of a row of `row_bytes` that its prefetch requests: the first
    /// `prefetch_lines` cache lines, or all of it.
    pub fn prefetch_bytes(&self, row_bytes: usize) -> usize {
        match self.prefetch_lines {
            0 => row_bytes,
            lines => row_bytes.min(lines as usize * 64),
        }
    }

    /// An upper bound on the number of additions any one product passes
    /// through on its way to the result (see [`crate::bound`]): each lane of
    /// each accumulator sums `ceil(dim / (width·acc))` terms, then up to
    /// `acc - 1` adds combine the accumulators, up to `width - 1` reduce the
    /// lanes and up to `width - 1` add the scalar tail.
    pub fn accumulation_depth(&self, dim: usize) -> usize {
        let w = self.width as usize;
        let k = self.accumulators as usize;
        dim.div_ceil(w * k) + k + 2 * w + 4
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "width={},unroll=", self.width)?;
        match self.unroll {
            Unroll::Factor(u) => write!(f, "{u}")?,
            Unroll::Full => f.write_str("full")?,
        }
        write!(
            f,
            ",acc={},prefetch={},pflines={},tail={}",
            self.accumulators,
            self.prefetch,
            self.prefetch_lines,
            self.tail.name()
        )?;
        if self.tile_rows > 1 {
            write!(f, ",rows={}", self.tile_rows)?;
        }
        Ok(())
    }
}

impl FromStr for Schedule {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        Schedule::default().with_overrides(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_round_trips_and_defaults_missing_keys() {
        let s: Schedule = "acc=8,width=4,unroll=full,tail=masked".parse().unwrap();
        assert_eq!(
            s.to_string(),
            "width=4,unroll=full,acc=8,prefetch=4,pflines=2,tail=masked"
        );
        assert_eq!(s.to_string().parse::<Schedule>().unwrap(), s);
        let tiled: Schedule = "rows=4".parse().unwrap();
        assert_eq!(tiled.tile_rows, 4);
        assert!(tiled.to_string().ends_with(",rows=4"));
        assert_eq!(tiled.to_string().parse::<Schedule>().unwrap(), tiled);
    }

    #[test]
    fn prefetch_requests_the_first_lines_or_the_whole_row() {
        let s: Schedule = "pflines=2".parse().unwrap();
        assert_eq!(s.prefetch_bytes(3072), 128);
        assert_eq!(s.prefetch_bytes(40), 40, "never past the row");
        let whole: Schedule = "pflines=0".parse().unwrap();
        assert_eq!(whole.prefetch_bytes(3072), 3072);
    }

    #[test]
    fn scan_prefetches_at_least_4_kib_ahead() {
        let spec = |dim, shape| {
            crate::KernelSpec::new(crate::Metric::L2, crate::ElementType::F32, dim, shape).unwrap()
        };
        let d = |dim, shape| {
            Schedule::default()
                .with_default_prefetch(&spec(dim, shape))
                .prefetch
        };
        assert_eq!(
            d(128, crate::Shape::Scan),
            8,
            "512-byte rows: 8 rows = 4 KiB"
        );
        assert_eq!(d(768, crate::Shape::Scan), 4, "never fewer than 4 rows");
        assert_eq!(d(8, crate::Shape::Scan), 64, "capped at MAX_PREFETCH");
        assert_eq!(d(128, crate::Shape::Gather), 4);
    }

    #[test]
    fn impossible_schedules_are_rejected() {
        for bad in [
            "width=3",
            "width=128",
            "acc=0",
            "acc=17",
            "unroll=0",
            "prefetch=65",
            "pflines=65",
            "rows=0",
            "rows=9",
            "tail=sideways",
            "width=1,tail=masked",
            "speed=11",
            "width",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn padding_rounds_up_to_the_width() {
        let s: Schedule = "width=8,tail=padded".parse().unwrap();
        assert_eq!(s.padded_len(13), 16);
        assert_eq!(s.padded_len(16), 16);
        let s: Schedule = "width=8,tail=scalar".parse().unwrap();
        assert_eq!(s.padded_len(13), 13);
    }
}
