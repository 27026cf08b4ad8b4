use super::Pass;
use crate::ir::{walk, Function, Inst};
use crate::PassError;

/// Removes ops whose results nothing reads, and loops whose results nothing
/// reads and whose bodies have no effect (no store, no prefetch).
pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        loop {
            let uses = f.use_counts();
            let used = |v: &crate::ir::Value| uses.contains_key(v);
            let mut removed = false;
            let mut body = std::mem::take(&mut f.body);
            sweep(&mut body, &used, &mut removed);
            f.body = body;
            if !removed {
                return Ok(());
            }
        }
    }
}

fn has_effect(insts: &[Inst]) -> bool {
    let mut effect = false;
    walk(insts, &mut |i| {
        if let Inst::Op { op, .. } = i {
            effect |= !op.is_pure();
        }
    });
    effect
}

fn sweep(block: &mut Vec<Inst>, used: &dyn Fn(&crate::ir::Value) -> bool, removed: &mut bool) {
    block.retain_mut(|inst| {
        let keep = match inst {
            Inst::Op {
                result: Some(r),
                op,
            } => !op.is_pure() || used(r),
            Inst::Op { result: None, .. } => true,
            Inst::Loop(l) => {
                sweep(&mut l.body, used, removed);
                l.results.iter().any(used) || has_effect(&l.body)
            }
        };
        *removed |= !keep;
        keep
    });
}
