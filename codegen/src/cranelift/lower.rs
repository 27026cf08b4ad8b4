//! Kernel IR → Cranelift IR. One rule per kernel-IR op; loops become a
//! bottom-tested header block whose parameters are the induction variable
//! and the iter arguments, guarded by a trip-count check only when the
//! bounds are not constants.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    types, AbiParam, BlockArg, FuncRef, Function as ClFunction, InstBuilder, MemFlagsData,
    Signature, Type as ClType, Value as ClValue,
};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};
use hektor_passes::ir::{Address, BinOp, Bound, Function, Inst, Loop, MemElem, Op, Type, Value};
use std::collections::HashMap;

fn cl_type(t: Type, ptr: ClType) -> Result<ClType, String> {
    Ok(match t {
        Type::F32 => types::F32,
        Type::F32Vec(4) => types::F32X4,
        Type::F32Vec(n) => {
            return Err(format!(
                "f32x{n} has no Cranelift x64 lowering (128-bit vectors only)"
            ))
        }
        Type::I32 => types::I32,
        Type::I64 => types::I64,
        Type::U32 => types::I32,
        Type::Ptr => ptr,
        Type::I32Vec(n) | Type::I64Vec(n) => {
            return Err(format!(
                "{t} has no lowering here: integer kernels are scalar on the Cranelift tier (width=1, got {n} lanes)"
            ))
        }
    })
}

/// Fills `func` (signature and body) from kernel IR.
pub fn translate(
    module: &mut JITModule,
    func: &mut ClFunction,
    f: &Function,
) -> Result<(), String> {
    let ptr = module.target_config().pointer_type();
    let mut sig = Signature::new(module.isa().default_call_conv());
    for &p in &f.params {
        sig.params.push(AbiParam::new(cl_type(f.ty(p), ptr)?));
    }
    if let Some(t) = f.ret {
        sig.returns.push(AbiParam::new(cl_type(t, ptr)?));
    }
    func.signature = sig;
    let prefetch = if uses_prefetch(&f.body) {
        let mut psig = module.make_signature();
        psig.params.push(AbiParam::new(ptr));
        psig.params.push(AbiParam::new(types::I64));
        let id = module
            .declare_function("hektor_prefetch_row", Linkage::Import, &psig)
            .map_err(|e| e.to_string())?;
        Some(module.declare_func_in_func(id, func))
    } else {
        None
    };
    let mut fbc = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(func, &mut fbc);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let mut vals = HashMap::new();
    for (k, &p) in f.params.iter().enumerate() {
        vals.insert(p, b.block_params(entry)[k]);
    }
    let mut l = Lowerer {
        b,
        f,
        ptr,
        vals,
        consts: HashMap::new(),
        prefetch,
    };
    l.block(&f.body)?;
    l.b.seal_all_blocks();
    let config = module.target_config();
    l.b.finalize(config);
    Ok(())
}

fn uses_prefetch(insts: &[Inst]) -> bool {
    let mut found = false;
    hektor_passes::ir::walk(insts, &mut |i| {
        found |= matches!(
            i,
            Inst::Op {
                op: Op::PrefetchRow { .. },
                ..
            }
        );
    });
    found
}

struct Lowerer<'a, 'f> {
    b: FunctionBuilder<'a>,
    f: &'f Function,
    ptr: ClType,
    vals: HashMap<Value, ClValue>,
    /// Integer constants, folded into addresses.
    consts: HashMap<Value, i64>,
    prefetch: Option<FuncRef>,
}

fn mem() -> MemFlagsData {
    // Kernels are only called through length-checked handles, so their
    // accesses cannot trap; nothing is assumed about alignment.
    MemFlagsData::new().with_notrap()
}

/// Flags for loads of kernel inputs. The inputs are shared borrows that
/// nothing writes while the kernel runs (its only stores go to `out`, a
/// unique borrow that cannot alias them), and every address a kernel forms
/// is in bounds whenever it is formed (the handle checked the slices; the
/// query is valid even where a row loop runs zero times), so the loads are
/// `readonly` and `can_move`: Cranelift treats them as pure, places each
/// next to its use and folds it into the arithmetic's memory operand,
/// instead of issuing every load of an unrolled body first and running out
/// of registers.
fn input() -> MemFlagsData {
    mem().with_readonly().with_can_move()
}

impl<'a> Lowerer<'a, '_> {
    fn ins(&mut self) -> cranelift_frontend::FuncInstBuilder<'_, 'a> {
        self.b.ins()
    }

    fn v(&self, v: Value) -> Result<ClValue, String> {
        self.vals
            .get(&v)
            .copied()
            .ok_or_else(|| format!("value v{} used before lowering", v.0))
    }

    fn ty(&self, v: Value) -> Result<ClType, String> {
        cl_type(self.f.ty(v), self.ptr)
    }

    /// Base pointer and byte offset of an element address.
    fn address(&mut self, a: &Address) -> Result<(ClValue, i32), String> {
        if a.elem == MemElem::F16 {
            return Err(
                "half-precision loads have no Cranelift lowering here (LLVM tier only)".into(),
            );
        }
        let elem_bytes = a.elem.bytes();
        let mut base = self.v(a.ptr)?;
        let mut offset = a.offset * elem_bytes;
        if let Some(i) = a.index {
            match self.consts.get(&i) {
                Some(c) => offset += c * elem_bytes,
                None => {
                    let idx = self.v(i)?;
                    let scaled = self
                        .b
                        .ins()
                        .ishl_imm_u(idx, elem_bytes.trailing_zeros() as i64);
                    base = self.b.ins().iadd(base, scaled);
                }
            }
        }
        match i32::try_from(offset) {
            Ok(o) => Ok((base, o)),
            Err(_) => Ok((self.b.ins().iadd_imm_s(base, offset), 0)),
        }
    }

    fn bound(&mut self, b: Bound) -> Result<ClValue, String> {
        match b {
            Bound::Const(c) => Ok(self.b.ins().iconst(types::I64, c)),
            Bound::Value(v) => self.v(v),
        }
    }

    fn block(&mut self, insts: &[Inst]) -> Result<(), String> {
        for inst in insts {
            match inst {
                Inst::Op { result, op } => {
                    let r = self.op(op, *result)?;
                    if let (Some(res), Some(val)) = (result, r) {
                        self.vals.insert(*res, val);
                    }
                }
                Inst::Loop(l) => self.loop_(l)?,
            }
        }
        Ok(())
    }

    fn loop_(&mut self, l: &Loop) -> Result<(), String> {
        let start = self.bound(l.start)?;
        let end = self.bound(l.end)?;
        let header = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, types::I64);
        for &a in &l.args {
            let t = self.ty(a)?;
            self.b.append_block_param(header, t);
            self.b.append_block_param(exit, t);
        }
        let inits: Vec<BlockArg> = l
            .inits
            .iter()
            .map(|&v| self.v(v).map(BlockArg::Value))
            .collect::<Result<_, _>>()?;
        let mut entry_args = vec![BlockArg::Value(start)];
        entry_args.extend(inits.iter().cloned());
        match l.const_trip_count() {
            Some(0) => {
                self.b.ins().jump(exit, &inits);
            }
            Some(_) => {
                self.b.ins().jump(header, &entry_args);
            }
            None => {
                let go = self.b.ins().icmp(IntCC::SignedLessThan, start, end);
                self.b.ins().brif(go, header, &entry_args, exit, &inits);
            }
        }
        self.b.switch_to_block(header);
        let params = self.b.block_params(header).to_vec();
        self.vals.insert(l.iv, params[0]);
        for (k, &a) in l.args.iter().enumerate() {
            self.vals.insert(a, params[k + 1]);
        }
        self.block(&l.body)?;
        let next = self.b.ins().iadd_imm_s(params[0], l.step);
        let again = self.b.ins().icmp(IntCC::SignedLessThan, next, end);
        let yields: Vec<BlockArg> = l
            .yields
            .iter()
            .map(|&v| self.v(v).map(BlockArg::Value))
            .collect::<Result<_, _>>()?;
        let mut back = vec![BlockArg::Value(next)];
        back.extend(yields.iter().cloned());
        self.b.ins().brif(again, header, &back, exit, &yields);
        self.b.switch_to_block(exit);
        let results = self.b.block_params(exit).to_vec();
        for (k, &r) in l.results.iter().enumerate() {
            self.vals.insert(r, results[k]);
        }
        Ok(())
    }

    fn op(&mut self, op: &Op, result: Option<Value>) -> Result<Option<ClValue>, String> {
        let rty = result.map(|r| self.ty(r)).transpose()?;
        Ok(Some(match op {
            Op::FConst(c) => {
                let s = self.ins().f32const(*c);
                match rty {
                    Some(t) if t.is_vector() => self.ins().splat(t, s),
                    _ => s,
                }
            }
            Op::IConst(c) => {
                if rty == Some(types::I32) {
                    self.ins().iconst(types::I32, *c)
                } else {
                    if let Some(r) = result {
                        self.consts.insert(r, *c);
                    }
                    self.ins().iconst(types::I64, *c)
                }
            }
            Op::Load(a) => {
                let t = rty.ok_or("load without a result")?;
                let (base, off) = self.address(a)?;
                // Codes widen to i32 as they load (movsx / movzx).
                match a.elem {
                    MemElem::I8 => self.ins().sload8(t, input(), base, off),
                    MemElem::U8 => self.ins().uload8(t, input(), base, off),
                    _ => self.ins().load(t, input(), base, off),
                }
            }
            Op::LoadMasked { addr, lanes } => {
                let t = rty.ok_or("load_masked without a result")?;
                let (base, off) = self.address(addr)?;
                let zero = self.ins().f32const(0.0);
                let mut v = self.ins().splat(t, zero);
                for lane in 0..*lanes {
                    let x = self
                        .ins()
                        .load(types::F32, input(), base, off + 4 * lane as i32);
                    v = self.ins().insertlane(v, x, lane as u8);
                }
                v
            }
            Op::Store { addr, value } => {
                let (base, off) = self.address(addr)?;
                let x = self.v(*value)?;
                self.ins().store(mem(), x, base, off);
                return Ok(None);
            }
            Op::Binary(bop, x, y) => {
                let (x, y) = (self.v(*x)?, self.v(*y)?);
                match bop {
                    BinOp::FAdd => self.ins().fadd(x, y),
                    BinOp::FSub => self.ins().fsub(x, y),
                    BinOp::FMul => self.ins().fmul(x, y),
                    BinOp::IAdd => self.ins().iadd(x, y),
                    BinOp::ISub => self.ins().isub(x, y),
                    BinOp::IMin => self.ins().smin(x, y),
                    BinOp::IMul => self.ins().imul(x, y),
                    BinOp::Xor => self.ins().bxor(x, y),
                }
            }
            Op::Popcnt(x) => {
                let x = self.v(*x)?;
                self.ins().popcnt(x)
            }
            Op::IToF(x) => {
                let x = self.v(*x)?;
                self.ins().fcvt_from_sint(types::F32, x)
            }
            Op::Fma(a, b, c) => {
                let (a, b, c) = (self.v(*a)?, self.v(*b)?, self.v(*c)?);
                self.ins().fma(a, b, c)
            }
            Op::Splat(x) => {
                let t = rty.ok_or("splat without a result")?;
                let x = self.v(*x)?;
                self.ins().splat(t, x)
            }
            Op::ReduceAdd(x) => {
                let lanes = self.f.ty(*x).lanes();
                let x = self.v(*x)?;
                let mut parts: Vec<ClValue> = (0..lanes)
                    .map(|k| self.ins().extractlane(x, k as u8))
                    .collect();
                while parts.len() > 1 {
                    parts = parts
                        .chunks(2)
                        .map(|p| self.ins().fadd(p[0], p[1]))
                        .collect();
                }
                parts[0]
            }
            Op::RowAddr {
                base,
                index,
                stride,
                elem,
            } => {
                let mut idx = self.v(*index)?;
                if self.f.ty(*index) == Type::U32 {
                    idx = self.ins().uextend(types::I64, idx);
                }
                let stride = self.v(*stride)?;
                let elems = self.ins().imul(idx, stride);
                let bytes = self
                    .ins()
                    .ishl_imm_u(elems, elem.bytes().trailing_zeros() as i64);
                let base = self.v(*base)?;
                self.ins().iadd(base, bytes)
            }
            Op::PrefetchRow { ptr, bytes } => {
                let callee = self.prefetch.ok_or("prefetch helper not declared")?;
                let p = self.v(*ptr)?;
                let n = self.ins().iconst(types::I64, *bytes as i64);
                self.ins().call(callee, &[p, n]);
                return Ok(None);
            }
            Op::CosineDistance {
                dot,
                norm_a,
                norm_b,
            } => {
                // In f64, so that |a|²·|b|² neither overflows nor underflows.
                let wide = |l: &mut Self, v: Value| -> Result<ClValue, String> {
                    let x = l.v(v)?;
                    Ok(l.b.ins().fpromote(types::F64, x))
                };
                let (d, na, nb) = (
                    wide(self, *dot)?,
                    wide(self, *norm_a)?,
                    wide(self, *norm_b)?,
                );
                let min = self.ins().f64const(f32::MIN_POSITIVE as f64);
                let one = self.ins().f64const(1.0);
                let small_a = self.ins().fcmp(FloatCC::LessThan, na, min);
                let small_b = self.ins().fcmp(FloatCC::LessThan, nb, min);
                let small = self.ins().bor(small_a, small_b);
                let ra = self.ins().sqrt(na);
                let rb = self.ins().sqrt(nb);
                let denom = self.ins().fmul(ra, rb);
                let cos = self.ins().fdiv(d, denom);
                let dist = self.ins().fsub(one, cos);
                let chosen = self.ins().select(small, one, dist);
                self.ins().fdemote(types::F32, chosen)
            }
            Op::Return(v) => {
                match v {
                    Some(v) => {
                        let x = self.v(*v)?;
                        self.ins().return_(&[x]);
                    }
                    None => {
                        self.ins().return_(&[]);
                    }
                }
                return Ok(None);
            }
        }))
    }
}
