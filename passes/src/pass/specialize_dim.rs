use super::Pass;
use crate::build::DIM_PARAM;
use crate::ir::{walk_mut, Bound, Function, Inst, Op, Type};
use crate::PassError;
use std::collections::HashMap;

/// Binds the runtime dimension `%n` to a constant: loop bounds become
/// constant trip counts (which every later loop pass needs) and `%n`
/// leaves the kernel's signature.
pub struct SpecializeDim {
    pub dim: i64,
}

impl Pass for SpecializeDim {
    fn name(&self) -> &'static str {
        "specialize-dim"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![("dim", self.dim.to_string())]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.dim <= 0 {
            return Err(PassError::not_applicable(
                self.name(),
                "dim must be positive",
            ));
        }
        let n = f.param(DIM_PARAM).ok_or_else(|| {
            PassError::not_applicable(
                self.name(),
                format!("the kernel has no %{DIM_PARAM} parameter"),
            )
        })?;
        walk_mut(&mut f.body, &mut |inst| {
            if let Inst::Loop(l) = inst {
                for b in [&mut l.start, &mut l.end] {
                    if *b == Bound::Value(n) {
                        *b = Bound::Const(self.dim);
                    }
                }
            }
        });
        // Any other read of %n becomes a constant.
        if f.use_counts().contains_key(&n) {
            let c = f.new_value(Type::I64, Some(DIM_PARAM));
            f.body.insert(
                0,
                Inst::Op {
                    result: Some(c),
                    op: Op::IConst(self.dim),
                },
            );
            f.replace_uses(&HashMap::from([(n, c)]));
        }
        f.params.retain(|&p| p != n);
        Ok(())
    }
}
