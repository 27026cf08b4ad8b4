use super::Pass;
use crate::ir::{walk_mut, BinOp, Function, Inst, Op};
use crate::PassError;

/// Contracts `fadd x, (fmul a, b)` into `fma a, b, x` when the product has
/// no other reader: one rounding instead of two, and one instruction. The
/// orphaned `fmul` is left for `dce`.
pub struct ContractFma;

impl Pass for ContractFma {
    fn name(&self) -> &'static str {
        "contract-fma"
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        let defs = f.defs();
        let mut uses = f.use_counts();
        let product = |v| match defs.get(&v) {
            Some(Op::Binary(BinOp::FMul, a, b)) => Some((*a, *b)),
            _ => None,
        };
        walk_mut(&mut f.body, &mut |inst| {
            let Inst::Op { op, .. } = inst else { return };
            let Op::Binary(BinOp::FAdd, x, y) = *op else {
                return;
            };
            // Prefer the right operand: the builder writes `fadd acc, term`.
            for (p, other) in [(y, x), (x, y)] {
                if let Some((a, b)) = product(p) {
                    if uses.get(&p) == Some(&1) {
                        *op = Op::Fma(a, b, other);
                        uses.insert(p, 0);
                        for v in [a, b] {
                            *uses.entry(v).or_default() += 1;
                        }
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}
