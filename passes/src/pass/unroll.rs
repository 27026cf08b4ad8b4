use super::util::{const_bounds, copy_body, for_each_block, peel_iterations, IvSubst};
use super::Pass;
use crate::ir::{Bound, Function, Inst, Loop, Value};
use crate::PassError;
use std::collections::HashMap;

/// Unrolls each innermost (non-tail) element loop by `factor` — the copies chain
/// through the iter arguments, so no new accumulators appear — peeling the
/// leftover iterations after it. `factor = full` (or one at least the trip
/// count) removes the loop: straight-line code.
pub struct Unroll {
    /// `None` = full.
    pub factor: Option<u32>,
}

/// Refuse to generate more straight-line ops than this from one loop.
const MAX_UNROLLED_OPS: i64 = 1 << 16;

impl Pass for Unroll {
    fn name(&self) -> &'static str {
        "unroll"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![(
            "factor",
            self.factor.map_or("full".to_string(), |u| u.to_string()),
        )]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.factor == Some(0) {
            return Err(PassError::not_applicable(
                self.name(),
                "factor must be at least 1",
            ));
        }
        let mut replace = HashMap::new();
        for_each_block(f, &mut |f, block| {
            let mut out = Vec::with_capacity(block.len());
            for inst in block.drain(..) {
                match inst {
                    // Element loops carry sums; a row loop that became innermost
                    // after its element loop was unrolled is left alone.
                    Inst::Loop(l) if l.is_element_loop() => {
                        out.extend(self.unroll(f, l, &mut replace)?)
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

impl Unroll {
    fn unroll(
        &self,
        f: &mut Function,
        l: Loop,
        replace: &mut HashMap<Value, Value>,
    ) -> Result<Vec<Inst>, PassError> {
        let (start, trips) = const_bounds(&l, self.name())?;
        let u = self.factor.map_or(trips, |u| (u as i64).min(trips));
        if trips * l.body.len() as i64 > MAX_UNROLLED_OPS && u == trips {
            return Err(PassError::not_applicable(
                self.name(),
                format!(
                    "full unrolling would emit {} ops (limit {MAX_UNROLLED_OPS})",
                    trips * l.body.len() as i64
                ),
            ));
        }
        if u <= 1 && u != trips {
            return Ok(vec![Inst::Loop(l)]);
        }
        full_or_partial(f, l, start, trips, u, replace, self.name())
    }
}

/// Unrolls `l` by `u` (fully when `u == trips`).
pub(super) fn full_or_partial(
    f: &mut Function,
    l: Loop,
    start: i64,
    trips: i64,
    u: i64,
    replace: &mut HashMap<Value, Value>,
    pass: &str,
) -> Result<Vec<Inst>, PassError> {
    let mut out = vec![];
    let main_trips = if u == 0 { 0 } else { trips / u };
    let main_end = start + main_trips * u * l.step;
    let carried = if main_trips <= 1 {
        // A single unrolled iteration is just straight-line code.
        peel_iterations(
            f,
            &mut out,
            &l,
            start,
            main_trips * u,
            l.inits.clone(),
            pass,
        )?
    } else {
        let iv = super::util::fresh_like(f, l.iv);
        let args: Vec<Value> = l.args.iter().map(|&a| f.new_value(f.ty(a), None)).collect();
        let mut carried = args.clone();
        let mut body = vec![];
        for j in 0..u {
            let mut map: HashMap<_, _> = l
                .args
                .iter()
                .copied()
                .zip(carried.iter().copied())
                .collect();
            let subst = IvSubst::Shift {
                new_iv: iv,
                delta: j * l.step,
            };
            body.extend(copy_body(f, &l.body, l.iv, subst, &mut map, pass)?);
            carried = l.yields.iter().map(|y| *map.get(y).unwrap_or(y)).collect();
        }
        let results: Vec<Value> = args.iter().map(|&a| f.new_value(f.ty(a), None)).collect();
        out.push(Inst::Loop(Loop {
            iv,
            start: Bound::Const(start),
            end: Bound::Const(main_end),
            step: l.step * u,
            tail: l.tail,
            args,
            inits: l.inits.clone(),
            results: results.clone(),
            body,
            yields: carried,
        }));
        results
    };
    let leftover = trips - main_trips * u;
    let finals = peel_iterations(f, &mut out, &l, main_end, leftover, carried, pass)?;
    replace.extend(l.results.iter().copied().zip(finals));
    Ok(out)
}
