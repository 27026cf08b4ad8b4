//! The optimization passes and the manager that runs them.
//!
//! Each pass does one thing and is named in text as `name(key=value, ...)`,
//! the form golden tests, `hektor ir --emit passes` and error messages
//! share. [`pipeline_for`] turns a schedule into the pipeline that realises
//! it; [`PassManager`] runs a pipeline, verifies the IR after every pass and
//! lets the caller observe each intermediate kernel.

mod contract_fma;
mod cse;
mod dce;
mod fuse_loops;
mod mask_tail;
mod peel_tail;
mod prefetch;
mod specialize_dim;
mod split_accumulators;
mod tile_rows;
mod unroll;
mod util;
mod vectorize;

pub use contract_fma::ContractFma;
pub use cse::Cse;
pub use dce::Dce;
pub use fuse_loops::FuseLoops;
pub use mask_tail::MaskTail;
pub use peel_tail::PeelTail;
pub use prefetch::Prefetch;
pub use specialize_dim::SpecializeDim;
pub use split_accumulators::SplitAccumulators;
pub use tile_rows::TileRows;
pub use unroll::Unroll;
pub use vectorize::Vectorize;

use crate::ir::{Function, Op};
use crate::verify::verify;
use crate::PassError;
use hektor_kernels::{KernelSpec, Schedule, TailStrategy};
use std::collections::HashMap;

/// One transformation of a kernel.
pub trait Pass: Send + Sync {
    /// The pass's name, as written in a pipeline.
    fn name(&self) -> &'static str;
    /// Its arguments, as `key=value` pairs in pipeline order.
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError>;

    /// `name(key=value, ...)`.
    fn describe(&self) -> String {
        let args = self.args();
        if args.is_empty() {
            self.name().to_string()
        } else {
            let a: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}({})", self.name(), a.join(", "))
        }
    }
}

/// What the target can execute, as far as the passes care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetCaps {
    /// Fused multiply-add: contract `fmul` + `fadd` into `fma`.
    pub fma: bool,
}

/// A sequence of passes.
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
}

impl PassManager {
    pub fn new(passes: Vec<Box<dyn Pass>>) -> Self {
        PassManager { passes }
    }

    /// Parses `specialize-dim(dim=10), vectorize(width=4), dce`.
    pub fn parse(text: &str) -> Result<Self, PassError> {
        let mut passes = vec![];
        for item in split_top_level(text) {
            passes.push(parse_pass(item)?);
        }
        Ok(PassManager { passes })
    }

    pub fn passes(&self) -> impl Iterator<Item = &dyn Pass> {
        self.passes.iter().map(|p| p.as_ref())
    }

    /// The pipeline, as text that [`PassManager::parse`] reads back.
    pub fn describe(&self) -> String {
        let d: Vec<String> = self.passes.iter().map(|p| p.describe()).collect();
        d.join(", ")
    }

    /// Runs every pass in order, verifying the IR after each, and calls
    /// `observe` with each pass's description and its output.
    pub fn run(
        &self,
        f: &mut Function,
        mut observe: impl FnMut(&str, &Function),
    ) -> Result<(), PassError> {
        for pass in &self.passes {
            pass.run(f)?;
            verify(f).map_err(|source| PassError::Broke {
                pass: pass.describe(),
                source,
            })?;
            observe(&pass.describe(), f);
        }
        Ok(())
    }
}

/// The pipeline that realises `schedule` for `spec`.
pub fn pipeline_for(spec: &KernelSpec, schedule: &Schedule, caps: TargetCaps) -> PassManager {
    let mut p: Vec<Box<dyn Pass>> = vec![Box::new(SpecializeDim {
        dim: spec.elements() as i64,
    })];
    if spec.shape.has_rows() && schedule.tile_rows > 1 {
        p.push(Box::new(TileRows {
            rows: schedule.tile_rows,
        }));
    }
    p.push(Box::new(FuseLoops));
    p.push(Box::new(Cse));
    let width = schedule.width;
    if width > 1 {
        p.push(Box::new(Vectorize {
            width,
            padded: schedule.tail == TailStrategy::Padded,
        }));
    }
    if schedule.accumulators > 1 {
        p.push(Box::new(SplitAccumulators {
            count: schedule.accumulators,
        }));
    }
    match schedule.unroll {
        hektor_kernels::Unroll::Factor(1) => {}
        hektor_kernels::Unroll::Factor(n) => p.push(Box::new(Unroll { factor: Some(n) })),
        hektor_kernels::Unroll::Full => p.push(Box::new(Unroll { factor: None })),
    }
    match schedule.tail {
        TailStrategy::Masked => p.push(Box::new(MaskTail { width })),
        TailStrategy::Scalar | TailStrategy::Padded => p.push(Box::new(PeelTail)),
    }
    if caps.fma {
        p.push(Box::new(ContractFma));
    }
    if spec.shape.has_rows() && schedule.prefetch > 0 {
        p.push(Box::new(Prefetch {
            distance: schedule.prefetch,
            bytes: schedule.prefetch_bytes(if spec.dtype.is_quantized() {
                // The epilogue reads the metadata after the codes too.
                spec.row_bytes(schedule)
            } else {
                schedule.padded_len(spec.elements()) * spec.dtype.size_bytes()
            }) as u32,
        }));
    }
    p.push(Box::new(Cse));
    p.push(Box::new(Dce));
    PassManager::new(p)
}

fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[start..].trim());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn parse_pass(item: &str) -> Result<Box<dyn Pass>, PassError> {
    let bad = || PassError::BadPipeline(item.to_string());
    let (name, args) = match item.split_once('(') {
        Some((n, rest)) => (n.trim(), rest.strip_suffix(')').ok_or_else(bad)?),
        None => (item, ""),
    };
    let mut kv: HashMap<&str, &str> = HashMap::new();
    for a in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let (k, v) = a.split_once('=').ok_or_else(bad)?;
        kv.insert(k.trim(), v.trim());
    }
    let num = |key: &str| -> Result<i64, PassError> {
        kv.get(key).ok_or_else(bad)?.parse().map_err(|_| bad())
    };
    let pass: Box<dyn Pass> = match name {
        "specialize-dim" => Box::new(SpecializeDim { dim: num("dim")? }),
        "fuse-loops" => Box::new(FuseLoops),
        "tile-rows" => Box::new(TileRows {
            rows: num("rows")? as u32,
        }),
        "cse" => Box::new(Cse),
        "vectorize" => Box::new(Vectorize {
            width: num("width")? as u32,
            padded: kv.get("padded") == Some(&"true"),
        }),
        "split-accumulators" => Box::new(SplitAccumulators {
            count: num("count")? as u32,
        }),
        "unroll" => Box::new(Unroll {
            factor: match kv.get("factor") {
                Some(&"full") => None,
                _ => Some(num("factor")? as u32),
            },
        }),
        "peel-tail" => Box::new(PeelTail),
        "mask-tail" => Box::new(MaskTail {
            width: num("width")? as u32,
        }),
        "contract-fma" => Box::new(ContractFma),
        "prefetch" => Box::new(Prefetch {
            distance: num("distance")? as u32,
            bytes: num("bytes")? as u32,
        }),
        "dce" => Box::new(Dce),
        _ => return Err(PassError::UnknownPass(name.to_string())),
    };
    Ok(pass)
}

/// The mnemonic of an op, for messages.
pub fn op_name(op: &Op) -> &'static str {
    match op {
        Op::FConst(_) => "fconst",
        Op::IConst(_) => "iconst",
        Op::Load(_) => "load",
        Op::LoadMasked { .. } => "load_masked",
        Op::Store { .. } => "store",
        Op::Binary(b, ..) => b.name(),
        Op::Fma(..) => "fma",
        Op::Splat(_) => "splat",
        Op::ReduceAdd(_) => "reduce_add",
        Op::Popcnt(_) => "popcnt",
        Op::IToF(_) => "itof",
        Op::RowAddr { .. } => "row_addr",
        Op::PrefetchRow { .. } => "prefetch_row",
        Op::CosineDistance { .. } => "cosine_distance",
        Op::Return(_) => "ret",
    }
}
