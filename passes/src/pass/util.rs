//! Rewriting machinery the loop passes share: visiting blocks, finding sum
//! reductions, and copying (or widening) a loop body with its induction
//! variable moved or replaced by a constant.

use crate::ir::{Address, BinOp, Bound, Function, Inst, Loop, Op, Type, Value};
use crate::PassError;
use std::collections::{HashMap, HashSet};

/// A rewrite of one instruction list.
pub type BlockVisitor<'a> = dyn FnMut(&mut Function, &mut Vec<Inst>) -> Result<(), PassError> + 'a;

/// Visits every instruction list, innermost first, with the function at hand
/// (to make values). The body is taken out of `f` during the visit, so a
/// visitor must not walk `f.body`; it records replacements and applies them
/// with [`Function::replace_uses`] afterwards.
pub fn for_each_block(f: &mut Function, visit: &mut BlockVisitor) -> Result<(), PassError> {
    fn rec(
        f: &mut Function,
        block: &mut Vec<Inst>,
        visit: &mut BlockVisitor,
    ) -> Result<(), PassError> {
        for inst in block.iter_mut() {
            if let Inst::Loop(l) = inst {
                rec(f, &mut l.body, visit)?;
            }
        }
        visit(f, block)
    }
    let mut body = std::mem::take(&mut f.body);
    let result = rec(f, &mut body, visit);
    f.body = body;
    result
}

/// Appends an op with a fresh result of type `ty`.
pub fn push_op(f: &mut Function, out: &mut Vec<Inst>, ty: Type, op: Op) -> Value {
    let v = f.new_value(ty, None);
    out.push(Inst::Op {
        result: Some(v),
        op,
    });
    v
}

/// The index of the op that folds iter argument `k` into the sum, if the
/// argument is a plain sum reduction: read once, by `fadd` (`iadd` for an
/// integer sum) or as the addend of `fma`, whose result is yielded and read
/// by nothing else.
pub fn reduction_sites(l: &Loop) -> Option<Vec<usize>> {
    let mut uses: HashMap<Value, usize> = HashMap::new();
    for inst in &l.body {
        if let Inst::Op { op, .. } = inst {
            for v in op.operands() {
                *uses.entry(v).or_default() += 1;
            }
        }
    }
    let mut sites = vec![];
    for (k, &arg) in l.args.iter().enumerate() {
        if uses.get(&arg) != Some(&1) || uses.contains_key(&l.yields[k]) {
            return None;
        }
        let site = l.body.iter().position(|inst| match inst {
            Inst::Op {
                result: Some(r),
                op,
            } if *r == l.yields[k] => match op {
                Op::Binary(BinOp::FAdd | BinOp::IAdd, a, b) => *a == arg || *b == arg,
                Op::Fma(_, _, c) => *c == arg,
                _ => false,
            },
            _ => false,
        })?;
        sites.push(site);
    }
    Some(sites)
}

/// Whether each sum of `l` adds exactly zero in an iteration whose loads
/// indexed by the induction variable all read zero, as masked-off and
/// zero-padded lanes do. True for the metrics' terms (products and
/// differences of loads); false for, say, `x + 1` or `x · c` (`0 · ∞` is
/// NaN), which such lanes would add to the sum.
pub fn zero_lanes_add_zero(l: &Loop) -> bool {
    let Some(sites) = reduction_sites(l) else {
        return false;
    };
    let mut zero: HashSet<Value> = HashSet::new();
    for inst in &l.body {
        let Inst::Op {
            result: Some(r),
            op,
        } = inst
        else {
            continue;
        };
        let z = |v: &Value| zero.contains(v);
        let is_zero = match op {
            Op::Load(a) => a.index == Some(l.iv),
            Op::FConst(c) => *c == 0.0,
            Op::IConst(c) => *c == 0,
            Op::Binary(
                BinOp::FAdd
                | BinOp::FSub
                | BinOp::FMul
                | BinOp::IAdd
                | BinOp::ISub
                | BinOp::IMul
                | BinOp::Xor,
                a,
                b,
            ) => z(a) && z(b),
            Op::Fma(a, b, c) => z(a) && z(b) && z(c),
            Op::Popcnt(a) => z(a),
            _ => false,
        };
        if is_zero {
            zero.insert(*r);
        }
    }
    sites
        .iter()
        .zip(&l.args)
        .all(|(&site, &arg)| match &l.body[site] {
            Inst::Op {
                op: Op::Binary(BinOp::FAdd | BinOp::IAdd, a, b),
                ..
            } => zero.contains(if *a == arg { b } else { a }),
            Inst::Op {
                op: Op::Fma(a, b, _),
                ..
            } => zero.contains(a) && zero.contains(b),
            _ => false,
        })
}

/// Where a copied body's induction variable goes.
#[derive(Debug, Clone, Copy)]
pub enum IvSubst {
    /// `old_iv + delta` becomes `new_iv + delta`, folded into load offsets.
    Shift { new_iv: Value, delta: i64 },
    /// The iteration is at a known position: loads address it directly.
    Const(i64),
}

/// Rewrites a load address of `old_iv`.
fn move_address(a: &Address, old_iv: Value, subst: IvSubst) -> Address {
    if a.index != Some(old_iv) {
        return *a;
    }
    match subst {
        IvSubst::Shift { new_iv, delta } => Address {
            index: Some(new_iv),
            offset: a.offset + delta,
            ..*a
        },
        IvSubst::Const(c) => Address {
            index: None,
            offset: a.offset + c,
            ..*a
        },
    }
}

/// The value that stands for `old_iv` in a copy, for uses other than load
/// addresses (made on first need).
fn iv_value(f: &mut Function, out: &mut Vec<Inst>, subst: IvSubst) -> Value {
    match subst {
        IvSubst::Shift { new_iv, delta: 0 } => new_iv,
        IvSubst::Shift { new_iv, delta } => {
            let c = push_op(f, out, Type::I64, Op::IConst(delta));
            push_op(f, out, Type::I64, Op::Binary(BinOp::IAdd, new_iv, c))
        }
        IvSubst::Const(c) => push_op(f, out, Type::I64, Op::IConst(c)),
    }
}

/// `op` with the addresses that `old_iv` indexes moved as `subst` says.
fn move_addresses(op: &Op, old_iv: Value, subst: IvSubst) -> Op {
    let mut op = op.clone();
    if let Op::Load(a) | Op::LoadMasked { addr: a, .. } | Op::Store { addr: a, .. } = &mut op {
        *a = move_address(a, old_iv, subst);
    }
    op
}

/// The copy of `op`: its addresses moved (`old_iv` by `subst`), then every
/// operand read through `map`.
fn moved_op(op: &Op, old_iv: Value, subst: IvSubst, map: &HashMap<Value, Value>) -> Op {
    let mut op = move_addresses(op, old_iv, subst);
    op.map_operands(|v| *map.get(&v).unwrap_or(&v));
    op
}

/// Copies the ops of an innermost loop body. `map` holds the substitutions
/// for values defined outside the copy (iter arguments) and receives one
/// entry per copied result. Nested loops are not copied (callers only copy
/// innermost bodies).
pub fn copy_body(
    f: &mut Function,
    body: &[Inst],
    old_iv: Value,
    subst: IvSubst,
    map: &mut HashMap<Value, Value>,
    pass: &str,
) -> Result<Vec<Inst>, PassError> {
    let mut out = vec![];
    let mut iv_copy = None;
    for inst in body {
        let Inst::Op { result, op } = inst else {
            return Err(PassError::not_applicable(pass, "cannot copy a loop nest"));
        };
        // Uses of the induction variable outside addresses read a copy,
        // made where first needed.
        let addressed = move_addresses(op, old_iv, subst);
        if addressed.operands().contains(&old_iv) && iv_copy.is_none() {
            let v = iv_value(f, &mut out, subst);
            iv_copy = Some(v);
            map.insert(old_iv, v);
        }
        let op = moved_op(op, old_iv, subst, map);
        let new_result = result.map(|r| {
            let ty = f.ty(r);
            let n = f.new_value(ty, None);
            map.insert(r, n);
            n
        });
        out.push(Inst::Op {
            result: new_result,
            op,
        });
    }
    Ok(out)
}

/// Copies `insts`, nested loops included (unlike [`copy_body`]), with
/// `old_iv` moved by `subst` (folded into the offsets of the addresses it
/// indexes). Copied values keep their names. `map` holds the substitutions
/// for values defined outside the copy and receives one entry per value
/// the copy defines.
pub fn copy_nest(
    f: &mut Function,
    insts: &[Inst],
    old_iv: Value,
    subst: IvSubst,
    map: &mut HashMap<Value, Value>,
) -> Vec<Inst> {
    let mut out = vec![];
    // For uses other than addresses; made once, at the copy's top level,
    // so that every later part of the copy can read it (dce removes it if
    // nothing does).
    map.entry(old_iv)
        .or_insert_with(|| iv_value(f, &mut out, subst));
    let look = |map: &HashMap<Value, Value>, v: Value| *map.get(&v).unwrap_or(&v);
    for inst in insts {
        match inst {
            Inst::Op { result, op } => {
                let op = moved_op(op, old_iv, subst, map);
                let result = result.map(|r| {
                    let n = fresh_like(f, r);
                    map.insert(r, n);
                    n
                });
                out.push(Inst::Op { result, op });
            }
            Inst::Loop(inner) => {
                let bound = |b: Bound| match b {
                    Bound::Value(v) => Bound::Value(look(map, v)),
                    c => c,
                };
                let (start, end) = (bound(inner.start), bound(inner.end));
                let inits = inner.inits.iter().map(|&v| look(map, v)).collect();
                let iv = fresh_like(f, inner.iv);
                map.insert(inner.iv, iv);
                let args = inner
                    .args
                    .iter()
                    .map(|&a| {
                        let n = fresh_like(f, a);
                        map.insert(a, n);
                        n
                    })
                    .collect();
                let body = copy_nest(f, &inner.body, old_iv, subst, map);
                let yields = inner.yields.iter().map(|&v| look(map, v)).collect();
                let results = inner
                    .results
                    .iter()
                    .map(|&r| {
                        let n = fresh_like(f, r);
                        map.insert(r, n);
                        n
                    })
                    .collect();
                out.push(Inst::Loop(Loop {
                    iv,
                    start,
                    end,
                    step: inner.step,
                    tail: inner.tail,
                    args,
                    inits,
                    results,
                    body,
                    yields,
                }));
            }
        }
    }
    out
}

/// Copies a scalar loop body as one `width`-lane vector iteration. Loads
/// indexed by the induction variable become vector loads (masked to `mask`
/// lanes when given); f32 values from outside the body are splatted into
/// `pre`. Each value keeps its lane type: f32 sums become `f32xN`, the i32
/// products of quantized codes `i32xN`, the i64 popcounts of bit words
/// `i64xN`. `map` works as in [`copy_body`].
#[allow(clippy::too_many_arguments)]
pub fn widen_body(
    f: &mut Function,
    body: &[Inst],
    old_iv: Value,
    subst: IvSubst,
    width: u32,
    mask: Option<u32>,
    map: &mut HashMap<Value, Value>,
    pre: &mut Vec<Inst>,
    pass: &str,
) -> Result<Vec<Inst>, PassError> {
    let fail = |m: String| Err(PassError::not_applicable(pass, m));
    let mut out = vec![];
    for inst in body {
        let Inst::Op { result, op } = inst else {
            return fail("cannot vectorize a loop nest".into());
        };
        let rty = result.map(|r| f.ty(r));
        let widened = match op {
            Op::Load(a)
                if a.index == Some(old_iv)
                    && rty.is_some_and(|t| t != Type::U32 && t.is_summable()) =>
            {
                let addr = move_address(a, old_iv, subst);
                match mask {
                    Some(lanes) => Op::LoadMasked { addr, lanes },
                    None => Op::Load(addr),
                }
            }
            Op::FConst(c) => Op::FConst(*c),
            Op::Binary(b, _, _) if b.is_float() => op.clone(),
            // Integer arithmetic on widened values (not on indices).
            Op::Binary(BinOp::IAdd | BinOp::ISub | BinOp::IMul | BinOp::Xor, x, y)
                if map.contains_key(x) && map.contains_key(y) =>
            {
                op.clone()
            }
            Op::Fma(..) => op.clone(),
            Op::Popcnt(x) if map.contains_key(x) => op.clone(),
            other => {
                return fail(format!(
                    "cannot vectorize `{}` (only unit-stride loads and arithmetic on them)",
                    crate::pass::op_name(other)
                ))
            }
        };
        let mut widened = widened;
        // Operands from outside the body: iter args are in `map` already;
        // anything else that is f32 is loop-invariant and gets splatted.
        for v in op.operands() {
            if !map.contains_key(&v) && f.ty(v) == Type::F32 {
                let s = push_op(f, pre, Type::F32Vec(width), Op::Splat(v));
                map.insert(v, s);
            }
        }
        widened.map_operands(|v| *map.get(&v).unwrap_or(&v));
        let r = result.expect("widened ops all produce values");
        let vty = f.ty(r).with_lanes(width).ok_or_else(|| {
            PassError::not_applicable(pass, format!("{} has no vector type", f.ty(r)))
        })?;
        let n = f.new_value(vty, None);
        map.insert(r, n);
        out.push(Inst::Op {
            result: Some(n),
            op: widened,
        });
    }
    Ok(out)
}

/// The zero of type `ty` (`fconst` or `iconst`).
pub fn zero_op(ty: Type) -> Op {
    if ty.is_float() {
        Op::FConst(0.0)
    } else {
        Op::IConst(0)
    }
}

/// Whether `op` is the constant zero.
pub fn is_zero_const(op: Option<&Op>) -> bool {
    matches!(op, Some(Op::FConst(c)) if *c == 0.0) || matches!(op, Some(Op::IConst(0)))
}

/// Adds `values` pairwise, `(v0 + v1) + (v2 + v3)`, keeping the tree shallow.
pub fn tree_sum(f: &mut Function, out: &mut Vec<Inst>, mut values: Vec<Value>) -> Value {
    while values.len() > 1 {
        let mut next = vec![];
        for pair in values.chunks(2) {
            next.push(match pair {
                [a, b] => {
                    let ty = f.ty(*a);
                    push_op(f, out, ty, Op::Binary(BinOp::add_for(ty), *a, *b))
                }
                [a] => *a,
                _ => unreachable!(),
            });
        }
        values = next;
    }
    values[0]
}

/// The constant start and trip count of a loop, or why it has none.
pub fn const_bounds(l: &Loop, pass: &str) -> Result<(i64, i64), PassError> {
    match (l.start, l.const_trip_count()) {
        (Bound::Const(s), Some(t)) => Ok((s, t)),
        _ => Err(PassError::not_applicable(
            pass,
            "needs constant loop bounds: run specialize-dim first",
        )),
    }
}

/// Straight-line copies of iterations `first..first+count` of `l`, chained
/// through the iter arguments starting from `carried`; returns the values
/// carried out of the last copy.
pub fn peel_iterations(
    f: &mut Function,
    out: &mut Vec<Inst>,
    l: &Loop,
    first: i64,
    count: i64,
    mut carried: Vec<Value>,
    pass: &str,
) -> Result<Vec<Value>, PassError> {
    for k in 0..count {
        let mut map: HashMap<Value, Value> = l
            .args
            .iter()
            .copied()
            .zip(carried.iter().copied())
            .collect();
        let pos = first + k * l.step;
        out.extend(copy_body(
            f,
            &l.body,
            l.iv,
            IvSubst::Const(pos),
            &mut map,
            pass,
        )?);
        carried = l.yields.iter().map(|y| *map.get(y).unwrap_or(y)).collect();
    }
    Ok(carried)
}

/// A new value with the type and name of `v` (the printer numbers any
/// duplicate name, so copies stay readable).
pub fn fresh_like(f: &mut Function, v: Value) -> Value {
    let ty = f.ty(v);
    let name = f.name_of(v).map(str::to_string);
    f.new_value(ty, name.as_deref())
}
