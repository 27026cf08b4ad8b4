use super::util::{
    const_bounds, for_each_block, is_zero_const, push_op, widen_body, zero_lanes_add_zero, zero_op,
    IvSubst,
};
use super::Pass;
use crate::ir::{BinOp, Function, Inst, Loop, Op, Value};
use crate::PassError;
use std::collections::HashMap;

/// Finishes the epilogue with one vector iteration whose loads are masked
/// to the `dim % width` valid lanes (the rest read as zero), added into the
/// vector partial sums *before* their horizontal reduction — so the tail
/// costs one iteration, not `width − 1` scalar ones.
pub struct MaskTail {
    pub width: u32,
}

impl Pass for MaskTail {
    fn name(&self) -> &'static str {
        "mask-tail"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![("width", self.width.to_string())]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.width < 2 || !self.width.is_power_of_two() {
            return Err(PassError::not_applicable(
                self.name(),
                "width must be a power of two ≥ 2",
            ));
        }
        let defs = f.defs();
        let mut replace = HashMap::new();
        for_each_block(f, &mut |f, block| {
            let mut out = Vec::with_capacity(block.len());
            for inst in block.drain(..) {
                match inst {
                    Inst::Loop(l) if l.tail => out.extend(self.mask(f, l, &defs, &mut replace)?),
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

impl MaskTail {
    fn mask(
        &self,
        f: &mut Function,
        l: Loop,
        defs: &HashMap<Value, Op>,
        replace: &mut HashMap<Value, Value>,
    ) -> Result<Vec<Inst>, PassError> {
        let (start, trips) = const_bounds(&l, self.name())?;
        if l.step != 1 || trips >= self.width as i64 {
            return Err(PassError::not_applicable(
                self.name(),
                format!(
                    "a tail of {trips} iterations does not fit one {}-lane vector",
                    self.width
                ),
            ));
        }
        if trips > 0 && !zero_lanes_add_zero(&l) {
            return Err(PassError::not_applicable(
                self.name(),
                "the tail's terms are not zero in masked-off lanes",
            ));
        }
        let mut out = vec![];
        if trips == 0 {
            replace.extend(l.results.iter().copied().zip(l.inits.iter().copied()));
            return Ok(out);
        }
        // Continue the vector sum the init was reduced from, or start one
        // (f32xN, i32xN or i64xN, as the sum's type says).
        let mut accs = vec![];
        let mut addends = vec![];
        for &init in &l.inits {
            let vty = f.ty(init).with_lanes(self.width).ok_or_else(|| {
                PassError::not_applicable(self.name(), "the tail carries a value that is not a sum")
            })?;
            match defs.get(&init) {
                Some(Op::ReduceAdd(v)) if f.ty(*v) == vty => {
                    accs.push(*v);
                    addends.push(None);
                }
                d if is_zero_const(d) => {
                    accs.push(push_op(f, &mut out, vty, zero_op(vty)));
                    addends.push(None);
                }
                _ => {
                    accs.push(push_op(f, &mut out, vty, zero_op(vty)));
                    addends.push(Some(init));
                }
            }
        }
        let mut map: HashMap<_, _> = l.args.iter().copied().zip(accs).collect();
        let mut pre = vec![];
        let body = widen_body(
            f,
            &l.body,
            l.iv,
            IvSubst::Const(start),
            self.width,
            Some(trips as u32),
            &mut map,
            &mut pre,
            self.name(),
        )?;
        out.extend(pre);
        out.extend(body);
        for (k, y) in l.yields.iter().enumerate() {
            let sty = f.ty(l.inits[k]);
            let h = push_op(f, &mut out, sty, Op::ReduceAdd(map[y]));
            let total = match addends[k] {
                Some(x) => push_op(f, &mut out, sty, Op::Binary(BinOp::add_for(sty), x, h)),
                None => h,
            };
            replace.insert(l.results[k], total);
        }
        Ok(out)
    }
}
