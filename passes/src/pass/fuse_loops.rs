use super::Pass;
use crate::ir::{walk, Bound, Function, Inst, Loop, Op};
use crate::PassError;
use std::collections::{HashMap, HashSet};

/// Fuses adjacent loops over the same range when the second does not read
/// the first's results: cosine's three sums (a·b, |a|², |b|²) become one
/// pass over both vectors. `cse` then shares the loads they have in common.
pub struct FuseLoops;

impl Pass for FuseLoops {
    fn name(&self) -> &'static str {
        "fuse-loops"
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        let mut renames = HashMap::new();
        super::util::for_each_block(f, &mut |_, block| {
            let mut k = 0;
            while k + 1 < block.len() {
                if let (Inst::Loop(a), Inst::Loop(b)) = (&block[k], &block[k + 1]) {
                    if fusible(a, b) {
                        let Inst::Loop(b) = block.remove(k + 1) else {
                            unreachable!()
                        };
                        let Inst::Loop(a) = &mut block[k] else {
                            unreachable!()
                        };
                        renames.insert(b.iv, a.iv);
                        a.args.extend(b.args);
                        a.inits.extend(b.inits);
                        a.results.extend(b.results);
                        a.body.extend(b.body);
                        a.yields.extend(b.yields);
                        continue;
                    }
                }
                k += 1;
            }
            Ok(())
        })?;
        f.replace_uses(&renames);
        Ok(())
    }
}

fn has_store(l: &Loop) -> bool {
    let mut found = false;
    walk(&l.body, &mut |i| {
        if let Inst::Op {
            op: Op::Store { .. } | Op::Return(_),
            ..
        } = i
        {
            found = true;
        }
    });
    found
}

fn fusible(a: &Loop, b: &Loop) -> bool {
    if (a.start, a.end, a.step, a.tail) != (b.start, b.end, b.step, b.tail)
        || has_store(a)
        || has_store(b)
    {
        return false;
    }
    let produced: HashSet<_> = a.results.iter().copied().collect();
    let mut reads_a = b.inits.iter().any(|v| produced.contains(v));
    for bound in [b.start, b.end] {
        if let Bound::Value(v) = bound {
            reads_a |= produced.contains(&v);
        }
    }
    walk(&b.body, &mut |i| match i {
        Inst::Op { op, .. } => reads_a |= op.operands().iter().any(|v| produced.contains(v)),
        Inst::Loop(l) => reads_a |= l.inits.iter().any(|v| produced.contains(v)),
    });
    reads_a |= b.yields.iter().any(|v| produced.contains(v));
    !reads_a
}
