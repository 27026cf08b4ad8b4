use crate::{ElementType, Metric, Shape, SpecError};
use std::fmt;
use std::str::FromStr;

/// The largest dimension a kernel can be specialized for.
pub const MAX_DIM: usize = 65536;

/// The largest dimension of a `u8` kernel (its i32 dot product of codes
/// up to 255 must not overflow).
pub const MAX_U8_DIM: usize = 32768;

/// What a kernel computes: the metric over `dim` elements of `dtype`, in a
/// given call shape. Printed and parsed as `l2.f32.d768.pair`, the one
/// compact name that the CLI, logs and (later) the tuning file share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct KernelSpec {
    pub metric: Metric,
    pub dtype: ElementType,
    pub dim: usize,
    pub shape: Shape,
}

impl KernelSpec {
    /// A spec with a checked dimension.
    pub fn new(
        metric: Metric,
        dtype: ElementType,
        dim: usize,
        shape: Shape,
    ) -> Result<Self, SpecError> {
        check_dim(dim as u64)?;
        metric.check_element_type(dtype)?;
        if dtype == ElementType::U8 && dim > MAX_U8_DIM {
            // The i32 dot product of u8 codes must not overflow:
            // 32768 · 255² < 2³¹.
            return Err(SpecError::InvalidSpec(format!(
                "{metric}.{dtype}.d{dim}: u8 kernels sum products of codes in i32, which holds dimensions up to {MAX_U8_DIM}"
            )));
        }
        Ok(KernelSpec {
            metric,
            dtype,
            dim,
            shape,
        })
    }

    /// Stored elements that hold the components: `dim`, or the
    /// `ceil(dim / 64)` words of a `bit` vector. The kernel's element loop
    /// runs over these.
    pub fn elements(&self) -> usize {
        self.dtype.elements_for(self.dim)
    }

    /// Elements at the end of each row that hold per-row data rather than
    /// components: the inverse norm of `cosine_norms`, the metadata of a
    /// quantized row ([`crate::quant`]).
    pub fn meta_len(&self) -> usize {
        if self.dtype.is_quantized() {
            crate::quant::META_BYTES
        } else {
            self.metric.extra_slots()
        }
    }

    /// Elements each row (and the query) must hold under `schedule`: the
    /// components, padded to the width for `tail=padded`, plus the trailing
    /// per-row data ([`KernelSpec::meta_len`]). Quantized rows pad their
    /// codes to [`KernelSpec::meta_offset`].
    pub fn row_len(&self, schedule: &crate::Schedule) -> usize {
        if self.dtype.is_quantized() {
            self.meta_offset() + self.meta_len()
        } else {
            schedule.padded_len(self.elements()) + self.meta_len()
        }
    }

    /// Where a quantized row's metadata starts: after the codes, zero
    /// padded to a multiple of 64 bytes whatever the schedule (no width is
    /// wider than 64 codes), so that the layout of stored rows does not
    /// depend on how the kernel is tuned and the metadata is aligned.
    pub fn meta_offset(&self) -> usize {
        self.dim
            .next_multiple_of(crate::schedule::MAX_WIDTH as usize)
    }

    /// Bytes one row occupies (what `prefetch` fetches).
    pub fn row_bytes(&self, schedule: &crate::Schedule) -> usize {
        self.row_len(schedule) * self.dtype.size_bytes()
    }

    /// Rejects schedules that contradict the spec's row layout.
    pub fn check_schedule(&self, schedule: &crate::Schedule) -> Result<(), SpecError> {
        schedule.validate()?;
        if !self.dtype.is_quantized() && schedule.width > crate::MAX_FLOAT_WIDTH {
            return Err(SpecError::InvalidSchedule(format!(
                "width={} is wider than {} {} lanes (only quantized codes go up to {})",
                schedule.width,
                crate::MAX_FLOAT_WIDTH,
                self.dtype,
                crate::MAX_WIDTH
            )));
        }
        if schedule.tile_rows > 1 && !self.shape.has_rows() {
            return Err(SpecError::InvalidSchedule(format!(
                "rows={} tiles a loop over rows, and a {} kernel has none",
                schedule.tile_rows, self.shape
            )));
        }
        if self.metric.extra_slots() > 0 && schedule.tail == crate::TailStrategy::Padded {
            return Err(SpecError::InvalidSchedule(format!(
                "tail=padded would run the vector loop over the inverse norm that {} rows store after their components; use tail=scalar or tail=masked",
                self.metric
            )));
        }
        Ok(())
    }

    /// A symbol-safe name, used for the generated function.
    pub fn symbol(&self) -> String {
        format!(
            "{}_{}_d{}_{}",
            self.metric, self.dtype, self.dim, self.shape
        )
    }
}

/// Checks that `dim` lies in `1..=MAX_DIM`.
pub fn check_dim(dim: u64) -> Result<usize, SpecError> {
    if dim == 0 || dim > MAX_DIM as u64 {
        Err(SpecError::DimensionOutOfRange(dim))
    } else {
        Ok(dim as usize)
    }
}

impl fmt::Display for KernelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.d{}.{}",
            self.metric, self.dtype, self.dim, self.shape
        )
    }
}

impl FromStr for KernelSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        let parts: Vec<&str> = s.split('.').collect();
        let [metric, dtype, dim, shape] = parts[..] else {
            return Err(SpecError::InvalidSpec(s.to_string()));
        };
        let dim = dim
            .strip_prefix('d')
            .ok_or_else(|| SpecError::InvalidSpec(s.to_string()))?;
        let dim: u64 = dim
            .parse()
            .map_err(|_| SpecError::InvalidDimension(dim.to_string()))?;
        KernelSpec::new(
            metric.parse()?,
            dtype.parse()?,
            check_dim(dim)?,
            shape.parse()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_row_shapes_take_a_tile_of_rows() {
        let tiled: crate::Schedule = "rows=4".parse().unwrap();
        for shape in ["gather", "scan"] {
            let spec: KernelSpec = format!("l2.f32.d64.{shape}").parse().unwrap();
            assert!(spec.check_schedule(&tiled).is_ok(), "{spec}");
        }
        let pair: KernelSpec = "l2.f32.d64.pair".parse().unwrap();
        let err = pair.check_schedule(&tiled).unwrap_err().to_string();
        assert!(err.contains("rows=4") && err.contains("pair"), "{err}");
    }

    #[test]
    fn integer_specs_and_their_rows() {
        let spec: KernelSpec = "ip.i8.d768.pair".parse().unwrap();
        let s: crate::Schedule = "width=16,tail=masked".parse().unwrap();
        assert_eq!(spec.row_len(&s), 768 + 16);
        let spec: KernelSpec = "l2.u8.d13.gather".parse().unwrap();
        let s: crate::Schedule = "width=8,tail=padded".parse().unwrap();
        assert_eq!(spec.row_len(&s), 64 + 16);
        assert_eq!(spec.meta_offset(), 64);
        let wide: crate::Schedule = "width=64".parse().unwrap();
        assert!(spec.check_schedule(&wide).is_ok());
        let f32_spec: KernelSpec = "l2.f32.d13.gather".parse().unwrap();
        assert!(f32_spec.check_schedule(&wide).is_err());
        let spec: KernelSpec = "hamming.bit.d1000.pair".parse().unwrap();
        assert_eq!(spec.elements(), 16);
        assert_eq!(spec.row_len(&s), 16);
        assert_eq!(spec.row_bytes(&s), 128);
        for bad in [
            "hamming.f32.d8.pair",
            "l2.bit.d64.pair",
            "hamming.i8.d8.pair",
        ] {
            assert!(
                matches!(
                    bad.parse::<KernelSpec>(),
                    Err(SpecError::MetricForElementType { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn spec_round_trips_through_its_name() {
        let spec = KernelSpec::new(Metric::Cosine, ElementType::F32, 768, Shape::Gather).unwrap();
        assert_eq!(spec.to_string(), "cosine.f32.d768.gather");
        assert_eq!(spec.to_string().parse::<KernelSpec>().unwrap(), spec);
    }

    #[test]
    fn dimension_bounds_are_enforced() {
        assert_eq!(check_dim(0), Err(SpecError::DimensionOutOfRange(0)));
        assert_eq!(check_dim(65537), Err(SpecError::DimensionOutOfRange(65537)));
        assert_eq!(check_dim(65536), Ok(65536));
        assert!("l2.f32.d0.pair".parse::<KernelSpec>().is_err());
        assert!("l2.f16.d8.pair".parse::<KernelSpec>().is_ok());
        assert!("l2.i8.d8.pair".parse::<KernelSpec>().is_ok());
        assert!("cosine_norms.f16.d8.pair".parse::<KernelSpec>().is_err());
        assert!("cosine_norms.i8.d8.pair".parse::<KernelSpec>().is_err());
        assert!("l2.u8.d32769.pair".parse::<KernelSpec>().is_err());
        assert!("l2.i8.d65536.pair".parse::<KernelSpec>().is_ok());
        assert!("l2.f32.pair".parse::<KernelSpec>().is_err());
    }
}
