//! The front end: a kernel spec becomes naive kernel IR — scalar loops over
//! a runtime dimension `%n`, one loop per sum, exactly as the math reads.
//! Every optimization is left to the passes, so what `hektor ir --emit
//! passes` shows is the whole story.
//!
//! Kernel ABI (after `specialize-dim` removes `%n`):
//! * pair:   `(a: ptr, b: ptr) -> f32`
//! * gather: `(q: ptr, base: ptr, stride: i64, ids: ptr, count: i64, out: ptr)`
//! * scan:   `(q: ptr, base: ptr, stride: i64, count: i64, out: ptr)`
//!
//! `stride` is in elements; `ids` are u32 row numbers; `out` receives one
//! f32 distance per row.

use crate::ir::{Address, BinOp, Bound, Function, Inst, Loop, MemElem, Op, Type, Value};
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};

/// The name of the runtime-dimension parameter that `specialize-dim` binds.
pub const DIM_PARAM: &str = "n";

/// Naive IR for `spec`.
pub fn kernel_ir(spec: &KernelSpec) -> Function {
    let mut b = Builder {
        f: Function::new(spec.symbol()),
        elem: mem_elem(spec.dtype),
    };
    b.build(spec);
    b.f
}

struct Builder {
    f: Function,
    /// How the vectors' components are stored.
    elem: MemElem,
}

/// The memory form of a spec's element type; arithmetic stays in f32.
pub fn mem_elem(dtype: ElementType) -> MemElem {
    match dtype {
        ElementType::F16 => MemElem::F16,
        _ => MemElem::Native,
    }
}

impl Builder {
    fn param(&mut self, name: &str, ty: Type) -> Value {
        let v = self.f.new_value(ty, Some(name));
        self.f.params.push(v);
        v
    }

    fn op(&mut self, out: &mut Vec<Inst>, ty: Option<Type>, name: &str, op: Op) -> Value {
        let result = ty.map(|t| self.f.new_value(t, Some(name)));
        out.push(Inst::Op { result, op });
        result.unwrap_or(Value(u32::MAX))
    }

    fn build(&mut self, spec: &KernelSpec) {
        let mut body = vec![];
        match spec.shape {
            Shape::Pair => {
                let a = self.param("a", Type::Ptr);
                let b = self.param("b", Type::Ptr);
                let n = self.param(DIM_PARAM, Type::I64);
                self.f.ret = Some(Type::F32);
                let zero = self.op(&mut body, Some(Type::F32), "zero", Op::FConst(0.0));
                let d = self.distance(&mut body, spec.metric, a, b, n, zero);
                self.op(&mut body, None, "", Op::Return(Some(d)));
            }
            Shape::Gather | Shape::Scan => {
                let q = self.param("q", Type::Ptr);
                let base = self.param("base", Type::Ptr);
                let stride = self.param("stride", Type::I64);
                let ids = (spec.shape == Shape::Gather).then(|| self.param("ids", Type::Ptr));
                let count = self.param("count", Type::I64);
                let out = self.param("out", Type::Ptr);
                let n = self.param(DIM_PARAM, Type::I64);
                let zero = self.op(&mut body, Some(Type::F32), "zero", Op::FConst(0.0));
                let j = self.f.new_value(Type::I64, Some("j"));
                let mut rows = vec![];
                let index = match ids {
                    Some(ids) => {
                        let addr = Address {
                            ptr: ids,
                            index: Some(j),
                            offset: 0,
                            elem: MemElem::Native,
                        };
                        self.op(&mut rows, Some(Type::U32), "id", Op::Load(addr))
                    }
                    None => j,
                };
                let row = self.op(
                    &mut rows,
                    Some(Type::Ptr),
                    "row",
                    Op::RowAddr {
                        base,
                        index,
                        stride,
                        elem: self.elem,
                    },
                );
                let d = self.distance(&mut rows, spec.metric, q, row, n, zero);
                let addr = Address {
                    ptr: out,
                    index: Some(j),
                    offset: 0,
                    elem: MemElem::Native,
                };
                self.op(&mut rows, None, "", Op::Store { addr, value: d });
                body.push(Inst::Loop(Loop {
                    iv: j,
                    start: Bound::Const(0),
                    end: Bound::Value(count),
                    step: 1,
                    tail: false,
                    args: vec![],
                    inits: vec![],
                    results: vec![],
                    body: rows,
                    yields: vec![],
                }));
                self.op(&mut body, None, "", Op::Return(None));
            }
        }
        self.f.body = body;
    }

    /// Emits the metric over `a` and `b`; returns the distance.
    fn distance(
        &mut self,
        out: &mut Vec<Inst>,
        metric: Metric,
        a: Value,
        b: Value,
        n: Value,
        zero: Value,
    ) -> Value {
        match metric {
            Metric::L2 => self.sum_loop(out, "l2", n, zero, |s, body, i| {
                let x = s.load(body, a, i, "x");
                let y = s.load(body, b, i, "y");
                let d = s.op(body, Some(Type::F32), "diff", Op::Binary(BinOp::FSub, x, y));
                s.op(body, Some(Type::F32), "sq", Op::Binary(BinOp::FMul, d, d))
            }),
            Metric::Ip => {
                let dot = self.dot(out, a, b, n, zero, "dot");
                let one = self.op(out, Some(Type::F32), "one", Op::FConst(1.0));
                self.op(
                    out,
                    Some(Type::F32),
                    "dist",
                    Op::Binary(BinOp::FSub, one, dot),
                )
            }
            Metric::CosineNorms => {
                // 1 − (a·b)·(1/|a|)·(1/|b|): the inverse norms sit right
                // after the components, at index n.
                let dot = self.dot(out, a, b, n, zero, "dot");
                let inv_a = self.load(out, a, n, "inv_norm_a");
                let inv_b = self.load(out, b, n, "inv_norm_b");
                let scaled = self.op(
                    out,
                    Some(Type::F32),
                    "scaled",
                    Op::Binary(BinOp::FMul, dot, inv_a),
                );
                let cos = self.op(
                    out,
                    Some(Type::F32),
                    "cos",
                    Op::Binary(BinOp::FMul, scaled, inv_b),
                );
                let one = self.op(out, Some(Type::F32), "one", Op::FConst(1.0));
                self.op(
                    out,
                    Some(Type::F32),
                    "dist",
                    Op::Binary(BinOp::FSub, one, cos),
                )
            }
            Metric::Cosine => {
                let dot = self.dot(out, a, b, n, zero, "dot");
                let na = self.dot(out, a, a, n, zero, "norm_a");
                let nb = self.dot(out, b, b, n, zero, "norm_b");
                self.op(
                    out,
                    Some(Type::F32),
                    "dist",
                    Op::CosineDistance {
                        dot,
                        norm_a: na,
                        norm_b: nb,
                    },
                )
            }
        }
    }

    fn dot(
        &mut self,
        out: &mut Vec<Inst>,
        a: Value,
        b: Value,
        n: Value,
        zero: Value,
        name: &str,
    ) -> Value {
        self.sum_loop(out, name, n, zero, |s, body, i| {
            let x = s.load(body, a, i, "x");
            let y = if a == b { x } else { s.load(body, b, i, "y") };
            s.op(body, Some(Type::F32), "prod", Op::Binary(BinOp::FMul, x, y))
        })
    }

    fn load(&mut self, out: &mut Vec<Inst>, ptr: Value, i: Value, name: &str) -> Value {
        let addr = Address {
            ptr,
            index: Some(i),
            offset: 0,
            elem: self.elem,
        };
        self.op(out, Some(Type::F32), name, Op::Load(addr))
    }

    /// `Σ term(i)` for `i` in `0..n`, as a loop carrying the partial sum.
    fn sum_loop(
        &mut self,
        out: &mut Vec<Inst>,
        name: &str,
        n: Value,
        zero: Value,
        term: impl FnOnce(&mut Self, &mut Vec<Inst>, Value) -> Value,
    ) -> Value {
        let i = self.f.new_value(Type::I64, Some("i"));
        let acc = self.f.new_value(Type::F32, Some("acc"));
        let mut body = vec![];
        let t = term(self, &mut body, i);
        let next = self.op(
            &mut body,
            Some(Type::F32),
            "next",
            Op::Binary(BinOp::FAdd, acc, t),
        );
        let result = self.f.new_value(Type::F32, Some(name));
        out.push(Inst::Loop(Loop {
            iv: i,
            start: Bound::Const(0),
            end: Bound::Value(n),
            step: 1,
            tail: false,
            args: vec![acc],
            inits: vec![zero],
            results: vec![result],
            body,
            yields: vec![next],
        }));
        result
    }
}
