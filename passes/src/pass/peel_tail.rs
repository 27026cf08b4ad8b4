use super::unroll::full_or_partial;
use super::util::{const_bounds, for_each_block};
use super::Pass;
use crate::ir::{Function, Inst};
use crate::PassError;
use std::collections::HashMap;

/// Finishes the scalar epilogue that `vectorize` leaves: each `loop.tail`
/// (fewer iterations than one vector) becomes straight-line scalar code.
pub struct PeelTail;

impl Pass for PeelTail {
    fn name(&self) -> &'static str {
        "peel-tail"
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        let mut replace = HashMap::new();
        for_each_block(f, &mut |f, block| {
            let mut out = Vec::with_capacity(block.len());
            for inst in block.drain(..) {
                match inst {
                    Inst::Loop(l) if l.tail => {
                        let (start, trips) = const_bounds(&l, "peel-tail")?;
                        out.extend(full_or_partial(
                            f,
                            l,
                            start,
                            trips,
                            trips,
                            &mut replace,
                            "peel-tail",
                        )?)
                    }
                    other => out.push(other),
                }
            }
            *block = out;
            Ok(())
        })?;
        f.replace_uses(&replace);
        Ok(())
    }
}
