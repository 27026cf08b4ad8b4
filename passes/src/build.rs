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
//!
//! Integer kernels have the same ABI. A quantized (`i8`, `u8`) kernel sums
//! `Σ cᵢ·dᵢ` of the codes in an i32 loop, then reads each row's metadata
//! (`%a:meta[k]`, at the spec's `meta_offset`) and finishes the distance in
//! f32 (see `hektor_kernels::quant`). A `bit` kernel sums
//! `popcnt(aᵢ xor bᵢ)` over the u64 words in an i64 loop; `%n` is then the
//! number of words.

use crate::ir::{Address, BinOp, Bound, Function, Inst, Loop, MemElem, Op, Type, Value};
use hektor_kernels::{ElementType, KernelSpec, Metric, Shape};

/// The name of the runtime-dimension parameter that `specialize-dim` binds.
pub const DIM_PARAM: &str = "n";

/// Naive IR for `spec`.
pub fn kernel_ir(spec: &KernelSpec) -> Function {
    let mut b = Builder {
        f: Function::new(spec.symbol()),
        elem: mem_elem(spec.dtype),
        spec: *spec,
    };
    b.build(spec);
    b.f
}

struct Builder {
    f: Function,
    /// How the vectors' components are stored.
    elem: MemElem,
    spec: KernelSpec,
}

/// The memory form of a spec's element type: f16 is widened to f32, codes
/// to i32, bit words load as i64.
pub fn mem_elem(dtype: ElementType) -> MemElem {
    match dtype {
        ElementType::F16 => MemElem::F16,
        ElementType::I8 => MemElem::I8,
        ElementType::U8 => MemElem::U8,
        ElementType::Bit => MemElem::U64,
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
                let zero = self.zero(&mut body);
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
                let zero = self.zero(&mut body);
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

    /// The type the element loop sums in: f32, or i32 products of codes,
    /// or i64 popcounts.
    fn sum_type(&self) -> Type {
        match self.spec.dtype {
            ElementType::I8 | ElementType::U8 => Type::I32,
            ElementType::Bit => Type::I64,
            _ => Type::F32,
        }
    }

    /// The initial value of the sums.
    fn zero(&mut self, out: &mut Vec<Inst>) -> Value {
        let ty = self.sum_type();
        let op = if ty.is_float() {
            Op::FConst(0.0)
        } else {
            Op::IConst(0)
        };
        self.op(out, Some(ty), "zero", op)
    }

    fn fbin(&mut self, out: &mut Vec<Inst>, name: &str, b: BinOp, x: Value, y: Value) -> Value {
        self.op(out, Some(Type::F32), name, Op::Binary(b, x, y))
    }

    /// Hamming: `Σ popcnt(aᵢ xor bᵢ)` over the words, as f32.
    fn hamming(&mut self, out: &mut Vec<Inst>, a: Value, b: Value, n: Value, zero: Value) -> Value {
        let count = self.sum_loop(out, "count", n, zero, |s, body, i| {
            let x = s.load_as(body, a, i, "x", Type::I64);
            let y = s.load_as(body, b, i, "y", Type::I64);
            let d = s.op(body, Some(Type::I64), "diff", Op::Binary(BinOp::Xor, x, y));
            s.op(body, Some(Type::I64), "bits", Op::Popcnt(d))
        });
        self.op(out, Some(Type::F32), "dist", Op::IToF(count))
    }

    /// A quantized distance: the exact i32 dot product of the codes, then
    /// `x·y = n·oa·ob + oa·sb·Σd + ob·sa·Σc + sa·sb·D` and the metric from
    /// it and the stored squared norms.
    fn quantized(
        &mut self,
        out: &mut Vec<Inst>,
        metric: Metric,
        a: Value,
        b: Value,
        n: Value,
        zero: Value,
    ) -> Value {
        let codes = self.sum_loop(out, "codes_dot", n, zero, |s, body, i| {
            let x = s.load_as(body, a, i, "c", Type::I32);
            let y = s.load_as(body, b, i, "d", Type::I32);
            s.op(body, Some(Type::I32), "prod", Op::Binary(BinOp::IMul, x, y))
        });
        // The metadata's place is fixed by the spec (not the schedule).
        let at = (self.spec.meta_offset() / 4) as i64;
        let meta = |s: &mut Self, out: &mut Vec<Inst>, ptr: Value, k: i64, name: &str| {
            let addr = Address {
                ptr,
                index: None,
                offset: at + k,
                elem: MemElem::Meta,
            };
            s.op(out, Some(Type::F32), name, Op::Load(addr))
        };
        let oa = meta(self, out, a, 0, "offset_a");
        let sa = meta(self, out, a, 1, "scale_a");
        let ca = meta(self, out, a, 2, "code_sum_a");
        let na = meta(self, out, a, 3, "norm_a");
        let ob = meta(self, out, b, 0, "offset_b");
        let sb = meta(self, out, b, 1, "scale_b");
        let cb = meta(self, out, b, 2, "code_sum_b");
        let nb = meta(self, out, b, 3, "norm_b");
        let d = self.op(out, Some(Type::F32), "codes_dot_f", Op::IToF(codes));
        let dim = self.op(
            out,
            Some(Type::F32),
            "dim",
            Op::FConst(self.spec.dim as f32),
        );
        let oo = self.fbin(out, "oa_ob", BinOp::FMul, oa, ob);
        let t1 = self.fbin(out, "t_offsets", BinOp::FMul, oo, dim);
        let os = self.fbin(out, "oa_sb", BinOp::FMul, oa, sb);
        let t2 = self.fbin(out, "t_codes_b", BinOp::FMul, os, cb);
        let so = self.fbin(out, "ob_sa", BinOp::FMul, ob, sa);
        let t3 = self.fbin(out, "t_codes_a", BinOp::FMul, so, ca);
        let ss = self.fbin(out, "sa_sb", BinOp::FMul, sa, sb);
        let t4 = self.fbin(out, "t_dot", BinOp::FMul, ss, d);
        let s12 = self.fbin(out, "xy_12", BinOp::FAdd, t1, t2);
        let s123 = self.fbin(out, "xy_123", BinOp::FAdd, s12, t3);
        let xy = self.fbin(out, "xy", BinOp::FAdd, s123, t4);
        match metric {
            Metric::L2 => {
                let norms = self.fbin(out, "norms", BinOp::FAdd, na, nb);
                let two = self.op(out, Some(Type::F32), "two", Op::FConst(2.0));
                let twice = self.fbin(out, "twice_xy", BinOp::FMul, two, xy);
                self.fbin(out, "dist", BinOp::FSub, norms, twice)
            }
            Metric::Ip => {
                let one = self.op(out, Some(Type::F32), "one", Op::FConst(1.0));
                self.fbin(out, "dist", BinOp::FSub, one, xy)
            }
            _ => self.op(
                out,
                Some(Type::F32),
                "dist",
                Op::CosineDistance {
                    dot: xy,
                    norm_a: na,
                    norm_b: nb,
                },
            ),
        }
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
        if self.spec.dtype.is_quantized() {
            return self.quantized(out, metric, a, b, n, zero);
        }
        match metric {
            Metric::Hamming => self.hamming(out, a, b, n, zero),
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
        self.load_as(out, ptr, i, name, Type::F32)
    }

    /// Loads component `i` as `ty` (what the storage element widens to).
    fn load_as(
        &mut self,
        out: &mut Vec<Inst>,
        ptr: Value,
        i: Value,
        name: &str,
        ty: Type,
    ) -> Value {
        let addr = Address {
            ptr,
            index: Some(i),
            offset: 0,
            elem: self.elem,
        };
        self.op(out, Some(ty), name, Op::Load(addr))
    }

    /// `Σ term(i)` for `i` in `0..n`, as a loop carrying the partial sum
    /// (of `zero`'s type).
    fn sum_loop(
        &mut self,
        out: &mut Vec<Inst>,
        name: &str,
        n: Value,
        zero: Value,
        term: impl FnOnce(&mut Self, &mut Vec<Inst>, Value) -> Value,
    ) -> Value {
        let ty = self.f.ty(zero);
        let i = self.f.new_value(Type::I64, Some("i"));
        let acc = self.f.new_value(ty, Some("acc"));
        let mut body = vec![];
        let t = term(self, &mut body, i);
        let next = self.op(
            &mut body,
            Some(ty),
            "next",
            Op::Binary(BinOp::add_for(ty), acc, t),
        );
        let result = self.f.new_value(ty, Some(name));
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
