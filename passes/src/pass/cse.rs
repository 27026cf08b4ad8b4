use super::Pass;
use crate::ir::{Function, Inst, Op};
use crate::PassError;
use std::collections::HashMap;

/// Common-subexpression elimination over the loop tree: an op identical to
/// one already computed in an enclosing scope reuses its value. Loads count
/// as pure until a store is seen (kernels store only their outputs).
pub struct Cse;

impl Pass for Cse {
    fn name(&self) -> &'static str {
        "cse"
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        let mut replace = HashMap::new();
        let mut scopes: Vec<HashMap<String, crate::ir::Value>> = vec![HashMap::new()];
        let mut body = std::mem::take(&mut f.body);
        cse_block(f, &mut body, &mut scopes, &mut replace);
        f.body = body;
        f.replace_uses(&replace);
        Ok(())
    }
}

fn cse_block(
    f: &Function,
    block: &mut Vec<Inst>,
    scopes: &mut Vec<HashMap<String, crate::ir::Value>>,
    replace: &mut HashMap<crate::ir::Value, crate::ir::Value>,
) {
    block.retain_mut(|inst| match inst {
        Inst::Op { result, op } => {
            op.map_operands(|v| *replace.get(&v).unwrap_or(&v));
            if matches!(op, Op::Store { .. }) {
                for s in scopes.iter_mut() {
                    s.retain(|k, _| !k.starts_with("Load"));
                }
            }
            let Some(r) = result else { return true };
            if !op.is_pure() {
                return true;
            }
            let key = format!("{op:?}:{}", f.ty(*r));
            if let Some(&prev) = scopes.iter().rev().find_map(|s| s.get(&key)) {
                replace.insert(*r, prev);
                false
            } else {
                scopes.last_mut().expect("scope").insert(key, *r);
                true
            }
        }
        Inst::Loop(l) => {
            l.inits
                .iter_mut()
                .for_each(|v| *v = *replace.get(v).unwrap_or(v));
            // A store in the loop may change, from the second iteration
            // on, what a load before the loop read.
            let mut stores = false;
            crate::ir::walk(&l.body, &mut |i| {
                stores |= matches!(
                    i,
                    Inst::Op {
                        op: Op::Store { .. },
                        ..
                    }
                )
            });
            if stores {
                for s in scopes.iter_mut() {
                    s.retain(|k, _| !k.starts_with("Load"));
                }
            }
            scopes.push(HashMap::new());
            cse_block(f, &mut l.body, scopes, replace);
            scopes.pop();
            l.yields
                .iter_mut()
                .for_each(|v| *v = *replace.get(v).unwrap_or(v));
            true
        }
    });
}
