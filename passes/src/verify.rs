//! Structural checks of the kernel IR, run after every pass: every value is
//! defined once, before use, in an enclosing scope; every op's operand types
//! fit; loops carry matching types; a function with a return type returns.

use crate::ir::{Address, BinOp, Bound, Function, Inst, MemElem, Op, Type, Value};
use crate::VerifyError;
use std::collections::HashSet;

pub fn verify(f: &Function) -> Result<(), VerifyError> {
    let mut v = Verifier {
        f,
        defined: HashSet::new(),
        scopes: vec![vec![]],
    };
    for &p in &f.params {
        v.define(p)?;
    }
    v.block(&f.body)?;
    let returns = f.body.iter().any(|i| {
        matches!(
            i,
            Inst::Op {
                op: Op::Return(_),
                ..
            }
        )
    });
    if !returns {
        return Err(VerifyError("the kernel never returns".into()));
    }
    Ok(())
}

struct Verifier<'a> {
    f: &'a Function,
    /// Values defined so far anywhere (SSA: each exactly once).
    defined: HashSet<Value>,
    /// Values visible in each open scope.
    scopes: Vec<Vec<Value>>,
}

fn err<T>(m: String) -> Result<T, VerifyError> {
    Err(VerifyError(m))
}

impl Verifier<'_> {
    fn name(&self, v: Value) -> String {
        match self.f.name_of(v) {
            Some(n) => format!("%{n}"),
            None => format!("v{}", v.0),
        }
    }

    fn define(&mut self, v: Value) -> Result<(), VerifyError> {
        if v.0 as usize >= self.f.values.len() {
            return err(format!("value v{} has no type", v.0));
        }
        if !self.defined.insert(v) {
            return err(format!("{} is defined twice", self.name(v)));
        }
        self.scopes.last_mut().expect("a scope is open").push(v);
        Ok(())
    }

    fn visible(&self, v: Value) -> Result<Type, VerifyError> {
        if self.scopes.iter().any(|s| s.contains(&v)) {
            Ok(self.f.ty(v))
        } else {
            err(format!("{} is used where it is not defined", self.name(v)))
        }
    }

    fn expect(
        &self,
        v: Value,
        want: impl Fn(Type) -> bool,
        what: &str,
    ) -> Result<Type, VerifyError> {
        let t = self.visible(v)?;
        if want(t) {
            Ok(t)
        } else {
            err(format!("{} has type {t}, expected {what}", self.name(v)))
        }
    }

    fn address(&self, a: &Address) -> Result<(), VerifyError> {
        self.expect(a.ptr, |t| t == Type::Ptr, "ptr")?;
        if let Some(i) = a.index {
            self.expect(i, |t| t == Type::I64, "i64")?;
        }
        Ok(())
    }

    /// A load of `elem`s producing `t`: widened elements produce their
    /// fixed type; native ones f32 (or u32 row ids).
    fn loaded(&self, elem: MemElem, t: Type) -> Result<(), VerifyError> {
        let ok = match elem.loaded_scalar() {
            Some(s) => t.scalar() == s && (elem != MemElem::Meta || t == Type::F32),
            None => t.is_float() || t == Type::U32,
        };
        if ok {
            Ok(())
        } else {
            err(format!(
                "a load of {} elements cannot produce {t}",
                elem.name().unwrap_or("native")
            ))
        }
    }

    fn block(&mut self, insts: &[Inst]) -> Result<(), VerifyError> {
        for (k, inst) in insts.iter().enumerate() {
            match inst {
                Inst::Op { result, op } => {
                    let ty = self.op(op, result.map(|r| self.f.ty(r)))?;
                    if matches!(op, Op::Return(_)) && k + 1 != insts.len() {
                        return err("`ret` must be the last instruction of its block".into());
                    }
                    match (result, ty) {
                        (Some(r), Some(t)) => {
                            if self.f.ty(*r) != t {
                                return err(format!(
                                    "{} is declared {} but its op produces {t}",
                                    self.name(*r),
                                    self.f.ty(*r)
                                ));
                            }
                            self.define(*r)?;
                        }
                        (None, None) => {}
                        (Some(r), None) => {
                            return err(format!(
                                "{} names the result of an op without one",
                                self.name(*r)
                            ))
                        }
                        (None, Some(_)) => return err("an op's result is not named".into()),
                    }
                }
                Inst::Loop(l) => {
                    for b in [l.start, l.end] {
                        if let Bound::Value(v) = b {
                            self.expect(v, |t| t == Type::I64, "i64 loop bound")?;
                        }
                    }
                    if l.step <= 0 {
                        return err("loop step must be positive".into());
                    }
                    if l.args.len() != l.inits.len()
                        || l.args.len() != l.results.len()
                        || l.args.len() != l.yields.len()
                    {
                        return err(format!(
                            "loop {} has {} args, {} inits, {} yields, {} results",
                            self.name(l.iv),
                            l.args.len(),
                            l.inits.len(),
                            l.yields.len(),
                            l.results.len()
                        ));
                    }
                    for &i in &l.inits {
                        self.visible(i)?;
                    }
                    self.scopes.push(vec![]);
                    self.define(l.iv)?;
                    if self.f.ty(l.iv) != Type::I64 {
                        return err("a loop's induction variable must be i64".into());
                    }
                    for &a in &l.args {
                        self.define(a)?;
                    }
                    self.block(&l.body)?;
                    for (k, &y) in l.yields.iter().enumerate() {
                        let want = self.f.ty(l.args[k]);
                        self.expect(y, |t| t == want, &want.to_string())?;
                    }
                    self.scopes.pop();
                    for (k, &r) in l.results.iter().enumerate() {
                        if self.f.ty(r) != self.f.ty(l.inits[k])
                            || self.f.ty(l.args[k]) != self.f.ty(r)
                        {
                            return err(format!(
                                "loop result {} does not match its iter argument's type",
                                self.name(r)
                            ));
                        }
                        self.define(r)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks an op's operands; returns the type it produces.
    fn op(&self, op: &Op, declared: Option<Type>) -> Result<Option<Type>, VerifyError> {
        let float = |t: Type| t.is_float();
        Ok(match op {
            Op::FConst(_) => {
                Some(declared.filter(|t| t.is_float()).ok_or_else(|| {
                    VerifyError("fconst must produce f32 or an f32 vector".into())
                })?)
            }
            Op::IConst(_) => Some(declared.filter(|t| t.is_arith_int()).ok_or_else(|| {
                VerifyError("iconst must produce i32, i64 or their vectors".into())
            })?),
            Op::Load(a) => {
                self.address(a)?;
                let t = declared.ok_or_else(|| VerifyError("load without a result".into()))?;
                self.loaded(a.elem, t)?;
                Some(t)
            }
            Op::LoadMasked { addr, lanes } => {
                self.address(addr)?;
                let t = declared.unwrap_or(Type::F32);
                if !(t.lanes() > 1 && *lanes >= 1 && *lanes < t.lanes()) {
                    return err(format!(
                        "load_masked of {lanes} lanes must produce a wider vector, not {t}"
                    ));
                }
                self.loaded(addr.elem, t)?;
                Some(t)
            }
            Op::Store { addr, value } => {
                self.address(addr)?;
                self.expect(*value, |t| t == Type::F32, "f32")?;
                None
            }
            Op::Binary(b, x, y) => {
                let tx = self.visible(*x)?;
                let ty = self.visible(*y)?;
                if tx != ty {
                    return err(format!("{} mixes {tx} and {ty}", b.name()));
                }
                let ok = if b.is_float() {
                    tx.is_float()
                } else {
                    tx.is_arith_int()
                };
                if !ok {
                    return err(format!("{} cannot operate on {tx}", b.name()));
                }
                let _: BinOp = *b;
                Some(tx)
            }
            Op::Fma(a, b, c) => {
                let t = self.expect(*c, float, "f32 or an f32 vector")?;
                self.expect(*a, |x| x == t, &t.to_string())?;
                self.expect(*b, |x| x == t, &t.to_string())?;
                Some(t)
            }
            Op::Splat(v) => {
                self.expect(*v, |t| t == Type::F32, "f32")?;
                Some(
                    declared
                        .filter(|t| matches!(t, Type::F32Vec(_)))
                        .ok_or_else(|| VerifyError("splat must produce an f32 vector".into()))?,
                )
            }
            Op::ReduceAdd(v) => {
                let t = self.expect(
                    *v,
                    |t| t.lanes() > 1 && t.is_summable(),
                    "an f32, i32 or i64 vector",
                )?;
                Some(t.scalar())
            }
            Op::Popcnt(v) => {
                Some(self.expect(*v, |t| t.scalar() == Type::I64, "i64 or an i64 vector")?)
            }
            Op::IToF(v) => {
                self.expect(*v, |t| matches!(t, Type::I32 | Type::I64), "i32 or i64")?;
                Some(Type::F32)
            }
            Op::RowAddr {
                base,
                index,
                stride,
                ..
            } => {
                self.expect(*base, |t| t == Type::Ptr, "ptr")?;
                self.expect(*index, Type::is_int, "i64 or u32")?;
                self.expect(*stride, |t| t == Type::I64, "i64")?;
                Some(Type::Ptr)
            }
            Op::PrefetchRow { ptr, .. } => {
                self.expect(*ptr, |t| t == Type::Ptr, "ptr")?;
                None
            }
            Op::CosineDistance {
                dot,
                norm_a,
                norm_b,
            } => {
                for v in [dot, norm_a, norm_b] {
                    self.expect(*v, |t| t == Type::F32, "f32")?;
                }
                Some(Type::F32)
            }
            Op::Return(v) => {
                match (v, self.f.ret) {
                    (None, None) => {}
                    (Some(v), Some(t)) => {
                        self.expect(*v, |x| x == t, &t.to_string())?;
                    }
                    _ => return err("`ret` does not match the kernel's return type".into()),
                }
                None
            }
        })
    }
}
