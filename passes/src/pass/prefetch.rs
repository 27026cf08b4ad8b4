use super::util::{copy_body, for_each_block, push_op, IvSubst};
use super::Pass;
use crate::ir::{BinOp, Bound, Function, Inst, Loop, Op, Type, Value};
use crate::PassError;
use std::collections::{HashMap, HashSet};

/// In a loop over rows (`gather`, `scan`), prefetches the rows `distance`
/// rows ahead: the address computation of each row the body reads (for
/// `gather`, the id load and `row_addr`; a tile of `tile-rows` reads
/// several) is copied for iteration `min(j + distance, last)` and followed
/// by `prefetch_row` of `bytes`, where `last` is the loop's last iteration
/// (`count − 1`, or `count − rows` for a tile). Clamping keeps the id loads
/// in bounds; the last rows prefetch themselves.
pub struct Prefetch {
    pub distance: u32,
    pub bytes: u32,
}

impl Pass for Prefetch {
    fn name(&self) -> &'static str {
        "prefetch"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![
            ("distance", self.distance.to_string()),
            ("bytes", self.bytes.to_string()),
        ]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.distance == 0 {
            return Ok(());
        }
        let mut found = false;
        for_each_block(f, &mut |f, block| {
            let mut out = Vec::with_capacity(block.len());
            for inst in block.drain(..) {
                match inst {
                    Inst::Loop(mut l) => {
                        let slices = row_address_slices(&l);
                        if !slices.is_empty() {
                            found = true;
                            let last = self.last_index(f, &mut out, &l);
                            let mut prologue = vec![];
                            for slice in &slices {
                                prologue.extend(self.prologue(f, &l, slice, last)?);
                            }
                            l.body.splice(0..0, prologue);
                        }
                        out.push(Inst::Loop(l));
                    }
                    other => out.push(other),
                }
            }
            *block = out;
            Ok(())
        })?;
        if !found {
            return Err(PassError::not_applicable(
                self.name(),
                "no loop over rows (row_addr) to prefetch in",
            ));
        }
        Ok(())
    }
}

impl Prefetch {
    /// The last iteration, `end − 1`, computed before the loop.
    fn last_index(&self, f: &mut Function, out: &mut Vec<Inst>, l: &Loop) -> Value {
        match l.end {
            Bound::Const(c) => push_op(f, out, Type::I64, Op::IConst(c - 1)),
            Bound::Value(count) => {
                let one = push_op(f, out, Type::I64, Op::IConst(1));
                push_op(f, out, Type::I64, Op::Binary(BinOp::ISub, count, one))
            }
        }
    }

    fn prologue(
        &self,
        f: &mut Function,
        l: &Loop,
        slice: &[Inst],
        last: Value,
    ) -> Result<Vec<Inst>, PassError> {
        let mut out = vec![];
        let d = push_op(f, &mut out, Type::I64, Op::IConst(self.distance as i64));
        let ahead = push_op(f, &mut out, Type::I64, Op::Binary(BinOp::IAdd, l.iv, d));
        let clamped = push_op(f, &mut out, Type::I64, Op::Binary(BinOp::IMin, ahead, last));
        let mut map = HashMap::new();
        let subst = IvSubst::Shift {
            new_iv: clamped,
            delta: 0,
        };
        out.extend(copy_body(f, slice, l.iv, subst, &mut map, self.name())?);
        let Some(Inst::Op {
            result: Some(row), ..
        }) = slice.last()
        else {
            unreachable!("a slice ends with its row_addr")
        };
        out.push(Inst::Op {
            result: None,
            op: Op::PrefetchRow {
                ptr: map[row],
                bytes: self.bytes,
            },
        });
        Ok(out)
    }
}

/// For each `row_addr` among the ops of `l`'s body before its first loop,
/// the ops that compute it (in order, the `row_addr` last), if that address
/// depends on the induction variable.
fn row_address_slices(l: &Loop) -> Vec<Vec<Inst>> {
    let prologue = l
        .body
        .iter()
        .position(|i| matches!(i, Inst::Loop(_)))
        .unwrap_or(l.body.len());
    (0..prologue)
        .filter(|&pos| l.body[pos].is_row_addr())
        .filter_map(|pos| row_address_slice(l, pos))
        .collect()
}

/// The ops of `l`'s body that compute the `row_addr` at `pos` (in order,
/// the `row_addr` last), if that address depends on the induction variable.
fn row_address_slice(l: &Loop, pos: usize) -> Option<Vec<Inst>> {
    let mut needed: HashSet<Value> = HashSet::new();
    let mut slice = vec![];
    for inst in l.body[..=pos].iter().rev() {
        let Inst::Op { result, op } = inst else {
            continue;
        };
        let wanted = slice.is_empty() || result.is_some_and(|r| needed.contains(&r));
        if wanted {
            needed.extend(op.operands());
            slice.push(inst.clone());
        }
    }
    slice.reverse();
    needed.contains(&l.iv).then_some(slice)
}
