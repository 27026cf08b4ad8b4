use super::util::{
    const_bounds, for_each_block, fresh_like, is_zero_const, push_op, reduction_sites, widen_body,
    zero_lanes_add_zero, zero_op, IvSubst,
};
use super::Pass;
use crate::ir::{Bound, Function, Inst, Loop, Op, Type};
use crate::PassError;
use std::collections::HashMap;

/// Turns each innermost scalar sum loop into a loop over `width`-lane
/// vectors: vector partial sums, one horizontal `reduce_add` after the loop,
/// then the `dim % width` leftover iterations as a `loop.tail` (which
/// `peel-tail` or `mask-tail` finish). With `padded`, rows are known to be
/// zero-padded to the width, so the vector loop covers the tail instead.
pub struct Vectorize {
    pub width: u32,
    pub padded: bool,
}

impl Pass for Vectorize {
    fn name(&self) -> &'static str {
        "vectorize"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        let mut a = vec![("width", self.width.to_string())];
        if self.padded {
            a.push(("padded", "true".into()));
        }
        a
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.width < 2 || !self.width.is_power_of_two() {
            return Err(PassError::not_applicable(
                self.name(),
                "width must be a power of two ≥ 2",
            ));
        }
        let mut replace = HashMap::new();
        // Taken before the walk: the visitor sees `f` without its body.
        let defs = f.defs();
        for_each_block(f, &mut |f, block| {
            let mut out = Vec::with_capacity(block.len());
            for inst in block.drain(..) {
                match inst {
                    Inst::Loop(l) if self.applies(f, &l) => {
                        out.extend(self.vectorize(f, l, &defs, &mut replace)?)
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

impl Vectorize {
    fn applies(&self, f: &Function, l: &Loop) -> bool {
        l.is_element_loop()
            && l.step == 1
            && l.args.iter().all(|&a| {
                let t = f.ty(a);
                t.lanes() == 1 && t.is_summable()
            })
    }

    fn vectorize(
        &self,
        f: &mut Function,
        l: Loop,
        defs: &HashMap<crate::ir::Value, Op>,
        replace: &mut HashMap<crate::ir::Value, crate::ir::Value>,
    ) -> Result<Vec<Inst>, PassError> {
        let (start, trips) = const_bounds(&l, self.name())?;
        if reduction_sites(&l).is_none() {
            return Err(PassError::not_applicable(
                self.name(),
                "loop carries a value that is not a sum",
            ));
        }
        let w = self.width as i64;
        let vector_trips = if self.padded {
            (trips + w - 1) / w
        } else {
            trips / w
        };
        if vector_trips * w > trips && !zero_lanes_add_zero(&l) {
            return Err(PassError::not_applicable(
                self.name(),
                "the loop's terms are not zero in padding lanes",
            ));
        }
        if vector_trips == 0 {
            // Shorter than one vector: all of it is tail.
            return Ok(vec![Inst::Loop(Loop { tail: true, ..l })]);
        }
        // One vector type per sum: f32xN, i32xN or i64xN.
        let vtys: Vec<Type> = l
            .args
            .iter()
            .map(|&a| f.ty(a).with_lanes(self.width).expect("summable"))
            .collect();
        let vend = start + vector_trips * w;
        let mut out = vec![];
        let mut zeros: HashMap<Type, crate::ir::Value> = HashMap::new();
        let mut inits = vec![];
        for &vty in &vtys {
            let z = *zeros
                .entry(vty)
                .or_insert_with(|| push_op(f, &mut out, vty, zero_op(vty)));
            inits.push(z);
        }
        let iv = fresh_like(f, l.iv);
        let args: Vec<_> = vtys.iter().map(|&t| f.new_value(t, None)).collect();
        let mut map: HashMap<_, _> = l.args.iter().copied().zip(args.iter().copied()).collect();
        let mut pre = vec![];
        let body = widen_body(
            f,
            &l.body,
            l.iv,
            IvSubst::Shift {
                new_iv: iv,
                delta: 0,
            },
            self.width,
            None,
            &mut map,
            &mut pre,
            self.name(),
        )?;
        out.extend(pre);
        let yields = l.yields.iter().map(|y| map[y]).collect();
        let results: Vec<_> = vtys.iter().map(|&t| f.new_value(t, None)).collect();
        out.push(Inst::Loop(Loop {
            iv,
            start: Bound::Const(start),
            end: Bound::Const(vend),
            step: w,
            tail: false,
            args,
            inits,
            results: results.clone(),
            body,
            yields,
        }));
        // Fold the lanes, then add the original initial value unless it is 0.
        let mut sums = vec![];
        for (k, &r) in results.iter().enumerate() {
            let sty = vtys[k].scalar();
            let h = push_op(f, &mut out, sty, Op::ReduceAdd(r));
            let init = l.inits[k];
            sums.push(if is_zero_const(defs.get(&init)) {
                h
            } else {
                push_op(
                    f,
                    &mut out,
                    sty,
                    Op::Binary(crate::ir::BinOp::add_for(sty), init, h),
                )
            });
        }
        if vend < start + trips && !self.padded {
            out.push(Inst::Loop(Loop {
                start: Bound::Const(vend),
                inits: sums,
                tail: true,
                ..l
            }));
        } else {
            replace.extend(l.results.iter().copied().zip(sums));
        }
        Ok(out)
    }
}
