use super::util::{copy_nest, fresh_like, push_op, IvSubst};
use super::Pass;
use crate::ir::{BinOp, Bound, Function, Inst, Loop, Op, Type, Value};
use crate::PassError;
use std::collections::HashMap;

/// Computes `rows` rows per iteration of the loop over rows (`gather`,
/// `scan`). The loop's body is copied once per row of the tile, the copies'
/// element loops side by side, so that `fuse-loops` makes them one pass
/// over the query and `cse` shares its loads between the rows. A remainder
/// loop, the original one, takes the last `count % rows` rows:
///
/// ```text
/// %done = loop %j = 0 to %count - (rows-1) step rows iter(%at = 0) {
///   <row j's prologue> … <row j+rows-1's prologue>
///   <row j's element loops> … <row j+rows-1's element loops>
///   <row j's epilogue> … <row j+rows-1's epilogue>
///   yield %j + rows
/// }
/// loop %j = %done to %count step 1 { <the original body> }
/// ```
///
/// Why: where the query outgrows the registers (d1536 is 96 zmm), every
/// row loads it again beside its own row, two loads a vector; a tile of
/// four loads it once for four rows, 1.25 a vector, and its sums are four
/// times as many independent chains.
pub struct TileRows {
    pub rows: u32,
}

impl Pass for TileRows {
    fn name(&self) -> &'static str {
        "tile-rows"
    }
    fn args(&self) -> Vec<(&'static str, String)> {
        vec![("rows", self.rows.to_string())]
    }
    fn run(&self, f: &mut Function) -> Result<(), PassError> {
        if self.rows <= 1 {
            return Ok(());
        }
        let body = std::mem::take(&mut f.body);
        let mut out = Vec::with_capacity(body.len() + 1);
        let mut found = false;
        let mut result = Ok(());
        for inst in body {
            match inst {
                Inst::Loop(l) if result.is_ok() && is_row_loop(&l) => {
                    found = true;
                    result = self.tile(f, l, &mut out);
                }
                other => out.push(other),
            }
        }
        f.body = out;
        result?;
        if !found {
            return Err(PassError::not_applicable(
                self.name(),
                "no loop over rows (a loop of step 1 with a row_addr, element loops and no iter arguments) to tile",
            ));
        }
        Ok(())
    }
}

impl TileRows {
    fn tile(&self, f: &mut Function, l: Loop, out: &mut Vec<Inst>) -> Result<(), PassError> {
        let rows = self.rows as i64;
        // The tile loop runs while all of its rows exist: j + rows - 1 < end.
        let end = match l.end {
            Bound::Const(c) => Bound::Const(c - (rows - 1)),
            Bound::Value(count) => {
                let short = push_op(f, out, Type::I64, Op::IConst(rows - 1));
                Bound::Value(push_op(
                    f,
                    out,
                    Type::I64,
                    Op::Binary(BinOp::ISub, count, short),
                ))
            }
        };
        let first = match l.start {
            Bound::Const(s) => push_op(f, out, Type::I64, Op::IConst(s)),
            Bound::Value(v) => v,
        };
        let iv = fresh_like(f, l.iv);
        let at = f.new_value(Type::I64, Some("at"));
        let done = f.new_value(Type::I64, Some("done"));
        let (pre, loops, post) = split_row_body(&l.body);
        let mut maps: Vec<HashMap<Value, Value>> = vec![HashMap::new(); self.rows as usize];
        let mut body = vec![];
        for part in [pre, loops, post] {
            for (k, map) in maps.iter_mut().enumerate() {
                let subst = IvSubst::Shift {
                    new_iv: iv,
                    delta: k as i64,
                };
                body.extend(copy_nest(f, part, l.iv, subst, map));
            }
        }
        let step = push_op(f, &mut body, Type::I64, Op::IConst(rows));
        let after = push_op(f, &mut body, Type::I64, Op::Binary(BinOp::IAdd, iv, step));
        out.push(Inst::Loop(Loop {
            iv,
            start: l.start,
            end,
            step: rows,
            tail: false,
            args: vec![at],
            inits: vec![first],
            results: vec![done],
            body,
            yields: vec![after],
        }));
        out.push(Inst::Loop(Loop {
            start: Bound::Value(done),
            ..l
        }));
        Ok(())
    }
}

/// A loop over rows this pass can tile: step 1, no iter arguments, a
/// `row_addr` among the ops before its element loops, and ops only after
/// them.
fn is_row_loop(l: &Loop) -> bool {
    if l.step != 1 || !l.args.is_empty() {
        return false;
    }
    let (pre, loops, post) = split_row_body(&l.body);
    !loops.is_empty()
        && pre.iter().any(Inst::is_row_addr)
        && post.iter().all(|i| matches!(i, Inst::Op { .. }))
}

/// The ops before the first loop, the run of loops after them, and the rest.
fn split_row_body(body: &[Inst]) -> (&[Inst], &[Inst], &[Inst]) {
    let first = body
        .iter()
        .position(|i| matches!(i, Inst::Loop(_)))
        .unwrap_or(body.len());
    let after = body[first..]
        .iter()
        .position(|i| !matches!(i, Inst::Loop(_)))
        .map_or(body.len(), |p| first + p);
    (&body[..first], &body[first..after], &body[after..])
}
