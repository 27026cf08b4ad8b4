//! The memory-bandwidth floor for `benches/streaming.rs`: a plain streaming
//! read that touches every byte of the rows a kernel would read, and does
//! nothing else with them.
//!
//! Each element's bit pattern is OR-ed into independent vector accumulators
//! (four of them; an integer OR has one cycle of latency, so the loop is
//! bound by the loads alone) and the accumulators are folded into one `u32`
//! at the end, which the caller hands to `black_box` so no load can be
//! removed. The widest vectors this CPU has are used: AVX-512F (64-byte
//! loads), else AVX2 (32-byte loads), else a scalar loop, picked once by
//! [`ReadFloor::detect`].
//!
//! No distance kernel can read its rows faster than this loop does (it
//! issues the same loads and no arithmetic), so a kernel's time over the
//! floor's time says how close it comes to the bandwidth the memory
//! system gives one core.

/// The instruction set the floor reads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit loads (AVX-512F).
    Avx512,
    /// 256-bit loads (AVX2).
    Avx2,
    /// One `f32` at a time.
    Scalar,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512 (64-byte loads, 4 OR accumulators)",
            Isa::Avx2 => "avx2 (32-byte loads, 4 OR accumulators)",
            Isa::Scalar => "scalar (one f32 at a time)",
        }
    }
}

/// A streaming reader with the widest loads this CPU supports; only ever
/// built with an [`Isa`] the CPU has, so its methods are safe.
#[derive(Debug, Clone, Copy)]
pub struct ReadFloor {
    isa: Isa,
}

impl ReadFloor {
    /// The widest reader this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return ReadFloor { isa: Isa::Avx512 };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return ReadFloor { isa: Isa::Avx2 };
            }
        }
        ReadFloor { isa: Isa::Scalar }
    }

    /// Every reader this CPU runs, widest first (for tests).
    pub fn all_supported() -> Vec<Self> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(ReadFloor { isa: Isa::Avx512 });
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(ReadFloor { isa: Isa::Avx2 });
            }
        }
        all.push(ReadFloor { isa: Isa::Scalar });
        all
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The OR of the bit patterns of every element of `data`.
    #[inline]
    pub fn read(&self, data: &[f32]) -> u32 {
        match self.isa {
            // SAFETY: `detect` built this reader only where the CPU has
            // the instruction set.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::rows_avx512(data, 0, data.len(), &[0]) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::rows_avx2(data, 0, data.len(), &[0]) },
            _ => scalar(data),
        }
    }

    /// The OR of the bit patterns of the first `dim` elements of rows
    /// `ids` of `base` (row `i` starts at element `i · stride`): exactly
    /// the bytes a `gather` kernel reads. Panics if a row lies outside
    /// `base`.
    #[inline]
    pub fn read_rows(&self, base: &[f32], stride: usize, dim: usize, ids: &[u32]) -> u32 {
        match self.isa {
            // SAFETY: `detect` built this reader only where the CPU has
            // the instruction set.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::rows_avx512(base, stride, dim, ids) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::rows_avx2(base, stride, dim, ids) },
            _ => ids.iter().fold(0, |acc, &id| {
                let start = id as usize * stride;
                acc | scalar(&base[start..start + dim])
            }),
        }
    }
}

/// The scalar reference: the OR of every element's bit pattern.
pub fn scalar(data: &[f32]) -> u32 {
    data.iter().fold(0, |acc, x| acc | x.to_bits())
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    const ACC: usize = 4;

    /// One row with 512-bit loads.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn row_avx512(row: &[f32]) -> u32 {
        const LANES: usize = 16;
        let (n, p) = (row.len(), row.as_ptr());
        let mut acc = [_mm512_setzero_si512(); ACC];
        let mut i = 0;
        while i + ACC * LANES <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + (k + 1)·LANES <= n`: the 16-float load lies
                // inside `row`.
                let v = unsafe { _mm512_loadu_si512(p.add(i + k * LANES) as *const __m512i) };
                *acc = _mm512_or_si512(*acc, v);
            }
            i += ACC * LANES;
        }
        while i + LANES <= n {
            // SAFETY: `i + LANES <= n`: inside `row`.
            let v = unsafe { _mm512_loadu_si512(p.add(i) as *const __m512i) };
            acc[0] = _mm512_or_si512(acc[0], v);
            i += LANES;
        }
        let v = _mm512_or_si512(
            _mm512_or_si512(acc[0], acc[1]),
            _mm512_or_si512(acc[2], acc[3]),
        );
        _mm512_reduce_or_epi32(v) as u32 | super::scalar(&row[i..])
    }

    /// Rows `ids` (`dim` elements each, `stride` apart) with 512-bit loads.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows_avx512(base: &[f32], stride: usize, dim: usize, ids: &[u32]) -> u32 {
        let mut bits = 0;
        for &id in ids {
            let start = id as usize * stride;
            bits |= row_avx512(&base[start..start + dim]);
        }
        bits
    }

    /// One row with 256-bit loads.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn row_avx2(row: &[f32]) -> u32 {
        const LANES: usize = 8;
        let (n, p) = (row.len(), row.as_ptr());
        let mut acc = [_mm256_setzero_si256(); ACC];
        let mut i = 0;
        while i + ACC * LANES <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `i + (k + 1)·LANES <= n`: inside `row`.
                let v = unsafe { _mm256_loadu_si256(p.add(i + k * LANES) as *const __m256i) };
                *acc = _mm256_or_si256(*acc, v);
            }
            i += ACC * LANES;
        }
        while i + LANES <= n {
            // SAFETY: `i + LANES <= n`: inside `row`.
            let v = unsafe { _mm256_loadu_si256(p.add(i) as *const __m256i) };
            acc[0] = _mm256_or_si256(acc[0], v);
            i += LANES;
        }
        let v = _mm256_or_si256(
            _mm256_or_si256(acc[0], acc[1]),
            _mm256_or_si256(acc[2], acc[3]),
        );
        let v = _mm_or_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let v = _mm_or_si128(v, _mm_unpackhi_epi64(v, v));
        let v = _mm_or_si128(v, _mm_shuffle_epi32::<0b01>(v));
        _mm_cvtsi128_si32(v) as u32 | super::scalar(&row[i..])
    }

    /// Rows `ids` (`dim` elements each, `stride` apart) with 256-bit loads.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn rows_avx2(base: &[f32], stride: usize, dim: usize, ids: &[u32]) -> u32 {
        let mut bits = 0;
        for &id in ids {
            let start = id as usize * stride;
            bits |= row_avx2(&base[start..start + dim]);
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data where every element sets one bit of its own, so a skipped
    /// element leaves its bit clear.
    fn one_bit_each(len: usize) -> Vec<f32> {
        (0..len).map(|i| f32::from_bits(1 << (i % 32))).collect()
    }

    #[test]
    fn every_reader_touches_every_element() {
        for floor in ReadFloor::all_supported() {
            for len in 0..200 {
                for skip in 0..3.min(len + 1) {
                    let data = one_bit_each(len + skip);
                    let data = &data[skip..];
                    assert_eq!(floor.read(data), scalar(data), "{:?} len {len}", floor.isa);
                    // Every single element, alone, is seen.
                    for i in 0..data.len() {
                        let mut zeros = vec![0.0f32; data.len()];
                        zeros[i] = f32::from_bits(0x8000_0001);
                        assert_eq!(
                            floor.read(&zeros),
                            0x8000_0001,
                            "{:?} len {len} i {i}",
                            floor.isa
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rows_read_only_the_named_rows() {
        let (dim, stride, rows) = (37, 40, 10);
        for floor in ReadFloor::all_supported() {
            let mut base = vec![0.0f32; rows * stride];
            for r in 0..rows {
                for x in &mut base[r * stride..r * stride + dim] {
                    *x = f32::from_bits(1 << r);
                }
                // Padding past `dim` is never read.
                for x in &mut base[r * stride + dim..(r + 1) * stride] {
                    *x = f32::from_bits(1 << 31);
                }
            }
            assert_eq!(
                floor.read_rows(&base, stride, dim, &[3, 7, 3]),
                (1 << 3) | (1 << 7)
            );
            assert_eq!(floor.read_rows(&base, stride, dim, &[]), 0);
            let caught = std::panic::catch_unwind(|| floor.read_rows(&base, stride, dim, &[10]));
            assert!(
                caught.is_err(),
                "{:?}: a row past the end must panic",
                floor.isa
            );
        }
    }

    #[test]
    fn detect_picks_the_widest() {
        assert_eq!(
            ReadFloor::detect().isa(),
            ReadFloor::all_supported()[0].isa()
        );
    }
}
