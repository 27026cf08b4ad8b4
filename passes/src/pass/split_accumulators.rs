use super::util::{
    const_bounds, copy_body, for_each_block, peel_iterations, push_op, reduction_sites, tree_sum,
    IvSubst,
};
use super::Pass;
use crate::ir::{Bound, Function, Inst, Loop, Value};
use crate::PassError;
use std::collections::HashMap;

/// Splits each sum into `count` independent partial sums: the loop steps
/// `count` times as far, each copy of the body feeds its own accumulator,
/// and the partial sums are added pairwise after the loop. This hides the
/// latency of the add (or FMA) chain. Iterations that do not fill a whole
/// step are peeled after the loop into the first accumulators.
pub struct SplitAccumulators {
    pub count: u32,
}

impl Pass for SplitAccumulators {
    fn name(&self) -> &'static str {
        "split-accumulators"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![("count", self.count.to_string())]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.count == 0 {
            return Err(PassError::not_applicable(
                self.name(),
                "count must be at least 1",
            ));
        }
        let mut replace = HashMap::new();
        for_each_block(f, &mut |f, block| {
            let mut out = Vec::with_capacity(block.len());
            for inst in block.drain(..) {
                match inst {
                    Inst::Loop(l) if l.is_element_loop() => {
                        out.extend(self.split(f, l, &mut replace)?)
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

impl SplitAccumulators {
    fn split(
        &self,
        f: &mut Function,
        l: Loop,
        replace: &mut HashMap<Value, Value>,
    ) -> Result<Vec<Inst>, PassError> {
        let (start, trips) = const_bounds(&l, self.name())?;
        if reduction_sites(&l).is_none() {
            return Err(PassError::not_applicable(
                self.name(),
                "loop carries a value that is not a sum",
            ));
        }
        let k = (self.count as i64).min(trips);
        if k <= 1 {
            return Ok(vec![Inst::Loop(l)]);
        }
        let mut out = vec![];
        let main_trips = trips / k;
        let main_end = start + main_trips * k * l.step;
        // accs[j][a]: accumulator j of iter argument a.
        let mut inits = vec![l.inits.clone()];
        for _ in 1..k {
            let zeros = l.args.iter().map(|&a| {
                let ty = f.ty(a);
                push_op(f, &mut out, ty, super::util::zero_op(ty))
            });
            inits.push(zeros.collect());
        }
        let iv = super::util::fresh_like(f, l.iv);
        let mut args = vec![];
        let mut body = vec![];
        let mut yields = vec![];
        for j in 0..k {
            let acc: Vec<Value> = l.args.iter().map(|&a| f.new_value(f.ty(a), None)).collect();
            let mut map: HashMap<_, _> = l.args.iter().copied().zip(acc.iter().copied()).collect();
            let subst = IvSubst::Shift {
                new_iv: iv,
                delta: j * l.step,
            };
            body.extend(copy_body(f, &l.body, l.iv, subst, &mut map, self.name())?);
            yields.extend(l.yields.iter().map(|y| map[y]));
            args.extend(acc);
        }
        let results: Vec<Value> = args.iter().map(|&a| f.new_value(f.ty(a), None)).collect();
        out.push(Inst::Loop(Loop {
            iv,
            start: Bound::Const(start),
            end: Bound::Const(main_end),
            step: l.step * k,
            tail: false,
            args,
            inits: inits.concat(),
            results: results.clone(),
            body,
            yields,
        }));
        let n = l.args.len();
        let mut partial: Vec<Vec<Value>> = results.chunks(n).map(<[Value]>::to_vec).collect();
        // Leftover iterations go to the first accumulators, one each.
        for (j, slot) in partial
            .iter_mut()
            .enumerate()
            .take((trips - main_trips * k) as usize)
        {
            let at = main_end + j as i64 * l.step;
            *slot = peel_iterations(f, &mut out, &l, at, 1, slot.clone(), self.name())?;
        }
        for (a, &old) in l.results.iter().enumerate() {
            let parts = partial.iter().map(|p| p[a]).collect();
            let total = tree_sum(f, &mut out, parts);
            replace.insert(old, total);
        }
        Ok(out)
    }
}
