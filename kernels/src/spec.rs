use crate::{ElementType, Metric, Shape, SpecError};
use std::fmt;
use std::str::FromStr;

/// The largest dimension a kernel can be specialized for.
pub const MAX_DIM: usize = 65536;

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
        if metric.extra_slots() > 0 && dtype != ElementType::F32 {
            return Err(SpecError::InvalidSpec(format!(
                "{metric}.{dtype}: {metric} stores its inverse norm in an f32 slot, so its vectors are f32"
            )));
        }
        Ok(KernelSpec {
            metric,
            dtype,
            dim,
            shape,
        })
    }

    /// Elements each row (and the query) must hold under `schedule`: the
    /// components, padded to the width for `tail=padded`, plus the metric's
    /// extra slots (the stored inverse norm of `cosine_norms`).
    pub fn row_len(&self, schedule: &crate::Schedule) -> usize {
        schedule.padded_len(self.dim) + self.metric.extra_slots()
    }

    /// Rejects schedules that contradict the spec's row layout.
    pub fn check_schedule(&self, schedule: &crate::Schedule) -> Result<(), SpecError> {
        schedule.validate()?;
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
        assert!("l2.i8.d8.pair".parse::<KernelSpec>().is_err());
        assert!("cosine_norms.f16.d8.pair".parse::<KernelSpec>().is_err());
        assert!("l2.f32.pair".parse::<KernelSpec>().is_err());
    }
}
