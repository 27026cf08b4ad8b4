//! Kernel IR → LLVM IR (through inkwell). One rule per kernel-IR op; loops
//! become a header block with phis for the induction variable and the iter
//! arguments, bottom-tested, with a trip-count guard only when the bounds
//! are not constants. Vectors are LLVM vectors of the IR's width
//! (`<8 x float>`, `<16 x float>`, `<16 x i32>`, `<8 x i64>`), so LLVM's
//! instruction selection picks ymm or zmm registers; horizontal sums are
//! shuffle trees.
//!
//! Integer kernels are plain LLVM integer IR, which LLVM's x86 backend
//! turns into the special instructions: a loop summing
//! `mul(sext i8, sext i8)` (or zext u8) into a vector that ends in
//! `llvm.vector.reduce.add` is rewritten by X86PartialReduction into
//! `vpmaddwd` over i16 pairs, which with AVX-512 VNNI / AVX-VNNI fuses with
//! the add into `vpdpwssd`: at 64 lanes (the quantized default on
//! AVX-512), `vpmovsxbw zmm` + `vpdpwssd zmm`, 32 codes an instruction.
//! `llvm.ctpop` on `<N x i64>` becomes `vpopcntq` with AVX512-VPOPCNTDQ
//! and `popcnt` on scalars.

use hektor_passes::ir::{Address, BinOp, Bound, Function, Inst, Loop, MemElem, Op, Type, Value};
use inkwell::attributes::AttributeLoc;
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::Module;
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum};
use inkwell::values::{
    BasicMetadataValueEnum, BasicValue, BasicValueEnum, FunctionValue, IntValue, PointerValue,
};
use inkwell::{AddressSpace, FloatPredicate, IntPredicate};
use std::collections::HashMap;

type R<T> = Result<T, String>;

fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// What the generated function is told about the CPU.
pub struct FunctionTarget<'a> {
    pub cpu: &'a str,
    pub features: &'a str,
    /// `prefer-vector-width` in bits (LLVM keeps 256-bit vectors on
    /// AVX-512 CPUs unless told otherwise).
    pub vector_bits: u32,
    /// Keep LLVM's own vectorizers off the kernel (`noimplicitfloat`).
    /// For integer kernels that the schedule made scalar: integer sums may
    /// be reassociated, so LLVM's SLP vectorizer would otherwise turn a
    /// `popcnt` loop into its own `vpshufb` popcount. The schedule decides
    /// the width; the tuner compares both.
    pub keep_scalar: bool,
}

/// Adds the kernel `f` to `module`.
pub fn translate<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    f: &Function,
    target: &FunctionTarget,
) -> R<()> {
    let ptr = ctx.ptr_type(AddressSpace::default());
    let ty = |t: Type| -> BasicTypeEnum<'ctx> {
        match t {
            Type::F32 => ctx.f32_type().into(),
            Type::F32Vec(n) => ctx.f32_type().vec_type(n).into(),
            Type::I32 => ctx.i32_type().into(),
            Type::I32Vec(n) => ctx.i32_type().vec_type(n).into(),
            Type::I64 => ctx.i64_type().into(),
            Type::I64Vec(n) => ctx.i64_type().vec_type(n).into(),
            Type::U32 => ctx.i32_type().into(),
            Type::Ptr => ptr.into(),
        }
    };
    let params: Vec<BasicMetadataTypeEnum> = f.params.iter().map(|&p| ty(f.ty(p)).into()).collect();
    let fn_type = match f.ret {
        Some(t) => ty(t).fn_type(&params, false),
        None => ctx.void_type().fn_type(&params, false),
    };
    let function = module.add_function(&f.name, fn_type, None);
    // Without these, the code is generated for a baseline x86-64 CPU and
    // `llvm.fma` on vectors becomes a libm call per lane (measured here:
    // 1348 ns instead of 31.6 ns for a 768-dim dot product).
    for (k, v) in [
        ("target-cpu", target.cpu.to_string()),
        ("target-features", target.features.to_string()),
        ("prefer-vector-width", target.vector_bits.to_string()),
        ("min-legal-vector-width", target.vector_bits.to_string()),
    ] {
        if !v.is_empty() {
            function.add_attribute(AttributeLoc::Function, ctx.create_string_attribute(k, &v));
        }
    }
    let mut kinds = vec!["nounwind", "nofree", "nosync"];
    if target.keep_scalar {
        kinds.push("noimplicitfloat");
    }
    for kind in kinds {
        let id = inkwell::attributes::Attribute::get_named_enum_kind_id(kind);
        function.add_attribute(AttributeLoc::Function, ctx.create_enum_attribute(id, 0));
    }
    // Every pointer argument is `noalias`: only the output is written, and
    // the safe calls pass it as a `&mut [f32]`, which cannot overlap the
    // inputs (the `*_unchecked` contracts say the same). Read-only
    // arguments may overlap each other (`pair(a, a)`, a query that is one
    // of the rows): LLVM's `noalias` constrains only memory that is
    // modified. Without it, the store of each row's distance could alias
    // the query, so the query was reloaded for every row.
    let noalias = inkwell::attributes::Attribute::get_named_enum_kind_id("noalias");
    for (k, &p) in f.params.iter().enumerate() {
        if f.ty(p) == Type::Ptr {
            function.add_attribute(
                AttributeLoc::Param(k as u32),
                ctx.create_enum_attribute(noalias, 0),
            );
        }
    }
    let builder = ctx.create_builder();
    let entry = ctx.append_basic_block(function, "entry");
    builder.position_at_end(entry);
    let mut vals = HashMap::new();
    for (k, &p) in f.params.iter().enumerate() {
        vals.insert(
            p,
            function
                .get_nth_param(k as u32)
                .ok_or("missing parameter")?,
        );
    }
    let mut l = Lowerer {
        ctx,
        module,
        builder,
        function,
        f,
        vals,
        consts: HashMap::new(),
    };
    l.block(&f.body)?;
    if !function.verify(false) {
        return Err(format!(
            "LLVM rejected the generated function:\n{}",
            module.print_to_string()
        ));
    }
    Ok(())
}

struct Lowerer<'ctx, 'm, 'f> {
    ctx: &'ctx Context,
    module: &'m Module<'ctx>,
    builder: Builder<'ctx>,
    function: FunctionValue<'ctx>,
    f: &'f Function,
    vals: HashMap<Value, BasicValueEnum<'ctx>>,
    consts: HashMap<Value, i64>,
}

macro_rules! int_op {
    ($self:ident, $method:ident, $a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        match (a, b) {
            (BasicValueEnum::IntValue(x), BasicValueEnum::IntValue(y)) => $self
                .builder
                .$method(x, y, "")
                .map_err(e)?
                .as_basic_value_enum(),
            (BasicValueEnum::VectorValue(x), BasicValueEnum::VectorValue(y)) => $self
                .builder
                .$method(x, y, "")
                .map_err(e)?
                .as_basic_value_enum(),
            _ => return Err(format!("{} on mismatched operands", stringify!($method))),
        }
    }};
}

macro_rules! float_op {
    ($self:ident, $method:ident, $a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        match (a, b) {
            (BasicValueEnum::FloatValue(x), BasicValueEnum::FloatValue(y)) => $self
                .builder
                .$method(x, y, "")
                .map_err(e)?
                .as_basic_value_enum(),
            (BasicValueEnum::VectorValue(x), BasicValueEnum::VectorValue(y)) => $self
                .builder
                .$method(x, y, "")
                .map_err(e)?
                .as_basic_value_enum(),
            _ => return Err(format!("{} on mismatched operands", stringify!($method))),
        }
    }};
}

impl<'ctx> Lowerer<'ctx, '_, '_> {
    fn v(&self, v: Value) -> R<BasicValueEnum<'ctx>> {
        self.vals
            .get(&v)
            .copied()
            .ok_or_else(|| format!("value v{} used before lowering", v.0))
    }

    fn int(&self, v: Value) -> R<IntValue<'ctx>> {
        Ok(self.v(v)?.into_int_value())
    }

    fn i64c(&self, c: i64) -> IntValue<'ctx> {
        self.ctx.i64_type().const_int(c as u64, true)
    }

    fn intrinsic(&self, name: &str, types: &[BasicTypeEnum<'ctx>]) -> R<FunctionValue<'ctx>> {
        Intrinsic::find(name)
            .and_then(|i| i.get_declaration(self.module, types))
            .ok_or_else(|| format!("LLVM has no intrinsic {name}"))
    }

    fn call(
        &self,
        f: FunctionValue<'ctx>,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> R<Option<BasicValueEnum<'ctx>>> {
        Ok(self
            .builder
            .build_call(f, args, "")
            .map_err(e)?
            .try_as_basic_value()
            .basic())
    }

    /// `ptr + (index + offset)` elements of f32 (or u32: also 4 bytes).
    fn address(&self, a: &Address) -> R<PointerValue<'ctx>> {
        let base = self.v(a.ptr)?.into_pointer_value();
        let index = match a.index {
            Some(i) => match self.consts.get(&i) {
                Some(c) => self.i64c(c + a.offset),
                None => {
                    let i = self.int(i)?;
                    if a.offset == 0 {
                        i
                    } else {
                        self.builder
                            .build_int_add(i, self.i64c(a.offset), "")
                            .map_err(e)?
                    }
                }
            },
            None => self.i64c(a.offset),
        };
        // SAFETY (of the LLVM IR, not of this Rust call): every address a
        // kernel forms lies inside the slices its handle checked.
        unsafe {
            self.builder
                .build_in_bounds_gep(self.mem_type(a.elem), base, &[index], "")
        }
        .map_err(e)
    }

    /// The LLVM type of one element as stored.
    fn mem_type(&self, elem: MemElem) -> BasicTypeEnum<'ctx> {
        match elem {
            MemElem::Native | MemElem::Meta => self.ctx.f32_type().into(),
            MemElem::F16 => self.ctx.f16_type().into(),
            MemElem::I8 | MemElem::U8 => self.ctx.i8_type().into(),
            MemElem::U64 => self.ctx.i64_type().into(),
        }
    }

    /// Loads `lanes` (1 = scalar) integer elements at `a`, widened to
    /// `ty`'s lanes: i8 codes sign-extended, u8 codes zero-extended to
    /// i32; u64 words as i64.
    fn load_int(&self, a: &Address, lanes: u32, ty: Type) -> R<BasicValueEnum<'ctx>> {
        let stored = self.mem_type(a.elem);
        let stored: BasicTypeEnum = if lanes == 1 {
            stored
        } else {
            stored.into_int_type().vec_type(lanes).into()
        };
        let p = self.address(a)?;
        let v = self.builder.build_load(stored, p, "").map_err(e)?;
        v.as_instruction_value()
            .ok_or("load is not an instruction")?
            .set_alignment(a.elem.bytes() as u32)
            .map_err(e)?;
        let wide = self.ctx.i32_type();
        Ok(match (a.elem, v) {
            (MemElem::U64, v) => v,
            (MemElem::I8, BasicValueEnum::IntValue(x)) => self
                .builder
                .build_int_s_extend(x, wide, "")
                .map_err(e)?
                .into(),
            (MemElem::U8, BasicValueEnum::IntValue(x)) => self
                .builder
                .build_int_z_extend(x, wide, "")
                .map_err(e)?
                .into(),
            (MemElem::I8, BasicValueEnum::VectorValue(x)) => self
                .builder
                .build_int_s_extend(x, wide.vec_type(lanes), "")
                .map_err(e)?
                .into(),
            (MemElem::U8, BasicValueEnum::VectorValue(x)) => self
                .builder
                .build_int_z_extend(x, wide.vec_type(lanes), "")
                .map_err(e)?
                .into(),
            (elem, _) => return Err(format!("no integer load of {elem:?} as {ty}")),
        })
    }

    /// Loads `lanes` elements at `a` as `ty` (a scalar for `lanes == 1`).
    fn load_as(&self, a: &Address, lanes: u32, ty: Type) -> R<BasicValueEnum<'ctx>> {
        if ty.is_float() {
            self.load_f32(a, lanes)
        } else {
            self.load_int(a, lanes, ty)
        }
    }

    /// Loads `lanes` (1 = scalar) elements at `a` as f32: half-precision
    /// elements are widened exactly (`fpext`, i.e. F16C's `vcvtph2ps`).
    fn load_f32(&self, a: &Address, lanes: u32) -> R<BasicValueEnum<'ctx>> {
        let stored: BasicTypeEnum = match (a.elem, lanes) {
            (MemElem::Native | MemElem::Meta, 1) => self.ctx.f32_type().into(),
            (MemElem::Native | MemElem::Meta, n) => self.ctx.f32_type().vec_type(n).into(),
            (MemElem::F16, 1) => self.ctx.f16_type().into(),
            (MemElem::F16, n) => self.ctx.f16_type().vec_type(n).into(),
            (elem, _) => return Err(format!("no f32 load of {elem:?}")),
        };
        let p = self.address(a)?;
        let v = self.builder.build_load(stored, p, "").map_err(e)?;
        // A quantized row's metadata follows byte codes: no alignment.
        let align = if a.elem == MemElem::Meta {
            1
        } else {
            a.elem.bytes() as u32
        };
        v.as_instruction_value()
            .ok_or("load is not an instruction")?
            .set_alignment(align)
            .map_err(e)?;
        Ok(match (a.elem, v) {
            (MemElem::Native | MemElem::Meta, v) => v,
            (MemElem::F16, BasicValueEnum::FloatValue(x)) => self
                .builder
                .build_float_ext(x, self.ctx.f32_type(), "")
                .map_err(e)?
                .into(),
            (MemElem::F16, BasicValueEnum::VectorValue(x)) => self
                .builder
                .build_float_ext(x, self.ctx.f32_type().vec_type(lanes), "")
                .map_err(e)?
                .into(),
            _ => return Err("unexpected loaded value".into()),
        })
    }

    fn bound(&self, b: Bound) -> R<IntValue<'ctx>> {
        match b {
            Bound::Const(c) => Ok(self.i64c(c)),
            Bound::Value(v) => self.int(v),
        }
    }

    fn block(&mut self, insts: &[Inst]) -> R<()> {
        for inst in insts {
            match inst {
                Inst::Op { result, op } => {
                    if let Some(val) = self.op(op, *result)? {
                        if let Some(r) = result {
                            self.vals.insert(*r, val);
                        }
                    }
                }
                Inst::Loop(l) => self.loop_(l)?,
            }
        }
        Ok(())
    }

    fn loop_(&mut self, l: &Loop) -> R<()> {
        if l.const_trip_count() == Some(0) {
            for (&r, &i) in l.results.iter().zip(&l.inits) {
                let v = self.v(i)?;
                self.vals.insert(r, v);
            }
            return Ok(());
        }
        let start = self.bound(l.start)?;
        let end = self.bound(l.end)?;
        let before: BasicBlock<'ctx> = self.builder.get_insert_block().ok_or("no insert block")?;
        let header = self.ctx.append_basic_block(self.function, "loop");
        let exit = self.ctx.append_basic_block(self.function, "exit");
        let inits: Vec<BasicValueEnum> = l.inits.iter().map(|&v| self.v(v)).collect::<R<_>>()?;
        match l.const_trip_count() {
            Some(_) => {
                self.builder.build_unconditional_branch(header).map_err(e)?;
            }
            None => {
                let go = self
                    .builder
                    .build_int_compare(IntPredicate::SLT, start, end, "")
                    .map_err(e)?;
                self.builder
                    .build_conditional_branch(go, header, exit)
                    .map_err(e)?;
            }
        }
        self.builder.position_at_end(header);
        let iv = self
            .builder
            .build_phi(self.ctx.i64_type(), "iv")
            .map_err(e)?;
        iv.add_incoming(&[(&start, before)]);
        self.vals.insert(l.iv, iv.as_basic_value());
        let mut arg_phis = vec![];
        for (k, &a) in l.args.iter().enumerate() {
            let phi = self.builder.build_phi(inits[k].get_type(), "").map_err(e)?;
            phi.add_incoming(&[(&inits[k], before)]);
            self.vals.insert(a, phi.as_basic_value());
            arg_phis.push(phi);
        }
        self.block(&l.body)?;
        let latch = self.builder.get_insert_block().ok_or("no insert block")?;
        let next = self
            .builder
            .build_int_add(iv.as_basic_value().into_int_value(), self.i64c(l.step), "")
            .map_err(e)?;
        iv.add_incoming(&[(&next, latch)]);
        let yields: Vec<BasicValueEnum> = l.yields.iter().map(|&v| self.v(v)).collect::<R<_>>()?;
        for (phi, y) in arg_phis.iter().zip(&yields) {
            phi.add_incoming(&[(y, latch)]);
        }
        let again = self
            .builder
            .build_int_compare(IntPredicate::SLT, next, end, "")
            .map_err(e)?;
        self.builder
            .build_conditional_branch(again, header, exit)
            .map_err(e)?;
        self.builder.position_at_end(exit);
        for (k, &r) in l.results.iter().enumerate() {
            let phi = self
                .builder
                .build_phi(yields[k].get_type(), "")
                .map_err(e)?;
            phi.add_incoming(&[(&yields[k], latch)]);
            if l.const_trip_count().is_none() {
                phi.add_incoming(&[(&inits[k], before)]);
            }
            self.vals.insert(r, phi.as_basic_value());
        }
        Ok(())
    }

    fn splat(&self, x: BasicValueEnum<'ctx>, lanes: u32) -> R<BasicValueEnum<'ctx>> {
        let vt = self.ctx.f32_type().vec_type(lanes);
        let undef = vt.get_poison();
        let one = self
            .builder
            .build_insert_element(undef, x, self.ctx.i32_type().const_zero(), "")
            .map_err(e)?;
        let mask = inkwell::types::VectorType::const_vector(&vec![
            self.ctx.i32_type().const_zero();
            lanes as usize
        ]);
        Ok(self
            .builder
            .build_shuffle_vector(one, undef, mask, "")
            .map_err(e)?
            .into())
    }

    fn op(&mut self, op: &Op, result: Option<Value>) -> R<Option<BasicValueEnum<'ctx>>> {
        let rty = result.map(|r| self.f.ty(r));
        let f32t = self.ctx.f32_type();
        Ok(Some(match op {
            Op::FConst(c) => match rty {
                Some(Type::F32Vec(n)) => inkwell::types::VectorType::const_vector(&vec![
                        f32t.const_float(*c as f64);
                        n as usize
                    ])
                .into(),
                _ => f32t.const_float(*c as f64).into(),
            },
            Op::IConst(c) => match rty {
                Some(t @ (Type::I32 | Type::I32Vec(_) | Type::I64Vec(_))) => {
                    let it = if t.scalar() == Type::I32 {
                        self.ctx.i32_type()
                    } else {
                        self.ctx.i64_type()
                    };
                    let x = it.const_int(*c as u64, true);
                    if t.lanes() == 1 {
                        x.into()
                    } else {
                        inkwell::types::VectorType::const_vector(&vec![x; t.lanes() as usize])
                            .into()
                    }
                }
                _ => {
                    if let Some(r) = result {
                        self.consts.insert(r, *c);
                    }
                    self.i64c(*c).into()
                }
            },
            Op::Load(a) => match rty.ok_or("load without a result")? {
                Type::U32 => {
                    let p = self.address(a)?;
                    let v = self
                        .builder
                        .build_load(self.ctx.i32_type(), p, "")
                        .map_err(e)?;
                    v.as_instruction_value()
                        .ok_or("load is not an instruction")?
                        .set_alignment(4)
                        .map_err(e)?;
                    v
                }
                t => self.load_as(a, t.lanes(), t)?,
            },
            Op::LoadMasked { addr, lanes } => {
                // Lane by lane: exact semantics (never touches memory past
                // the valid lanes), and LLVM's backend is free to combine.
                let Some(t) = rty.filter(|t| t.lanes() > 1) else {
                    return Err("load_masked must produce a vector".into());
                };
                let n = t.lanes() as usize;
                let mut v: BasicValueEnum = match t.scalar() {
                    Type::F32 => {
                        inkwell::types::VectorType::const_vector(&vec![f32t.const_zero(); n])
                    }
                    Type::I32 => inkwell::types::VectorType::const_vector(&vec![
                        self.ctx
                            .i32_type()
                            .const_zero();
                        n
                    ]),
                    _ => inkwell::types::VectorType::const_vector(&vec![
                        self.ctx
                            .i64_type()
                            .const_zero();
                        n
                    ]),
                }
                .into();
                for lane in 0..*lanes {
                    let a = Address {
                        offset: addr.offset + lane as i64,
                        ..*addr
                    };
                    let x = self.load_as(&a, 1, t.scalar())?;
                    let idx = self.ctx.i32_type().const_int(lane as u64, false);
                    v = self
                        .builder
                        .build_insert_element(v.into_vector_value(), x, idx, "")
                        .map_err(e)?
                        .into();
                }
                v
            }
            Op::Store { addr, value } => {
                let p = self.address(addr)?;
                let st = self.builder.build_store(p, self.v(*value)?).map_err(e)?;
                st.set_alignment(4).map_err(e)?;
                return Ok(None);
            }
            Op::Binary(b, x, y) => {
                let (x, y) = (self.v(*x)?, self.v(*y)?);
                match b {
                    BinOp::FAdd => float_op!(self, build_float_add, x, y),
                    BinOp::FSub => float_op!(self, build_float_sub, x, y),
                    BinOp::FMul => float_op!(self, build_float_mul, x, y),
                    BinOp::IAdd => int_op!(self, build_int_add, x, y),
                    BinOp::ISub => int_op!(self, build_int_sub, x, y),
                    BinOp::IMul => int_op!(self, build_int_mul, x, y),
                    BinOp::Xor => int_op!(self, build_xor, x, y),
                    BinOp::IMin => {
                        let smin = self.intrinsic("llvm.smin", &[self.ctx.i64_type().into()])?;
                        self.call(smin, &[x.into(), y.into()])?
                            .ok_or("smin returned nothing")?
                    }
                }
            }
            Op::Fma(a, b, c) => {
                let (a, b, c) = (self.v(*a)?, self.v(*b)?, self.v(*c)?);
                let fma = self.intrinsic("llvm.fma", &[c.get_type()])?;
                self.call(fma, &[a.into(), b.into(), c.into()])?
                    .ok_or("fma returned nothing")?
            }
            Op::Splat(x) => {
                let Some(Type::F32Vec(n)) = rty else {
                    return Err("splat must produce a vector".into());
                };
                self.splat(self.v(*x)?, n)?
            }
            Op::Popcnt(x) => {
                let x = self.v(*x)?;
                let ctpop = self.intrinsic("llvm.ctpop", &[x.get_type()])?;
                self.call(ctpop, &[x.into()])?
                    .ok_or("ctpop returned nothing")?
            }
            Op::IToF(x) => self
                .builder
                .build_signed_int_to_float(self.int(*x)?, f32t, "")
                .map_err(e)?
                .into(),
            Op::ReduceAdd(x) if !self.f.ty(*x).is_float() => {
                // Integer sums are exact in any order, so LLVM may pick one:
                // `llvm.vector.reduce.add` is what its X86PartialReduction
                // pass recognizes to turn the loop's sign-extended i8
                // products into `vpmaddwd` (and, with VNNI, `vpdpwssd`).
                let v = self.v(*x)?;
                let reduce = self.intrinsic("llvm.vector.reduce.add", &[v.get_type()])?;
                self.call(reduce, &[v.into()])?
                    .ok_or("vector.reduce.add returned nothing")?
            }
            Op::ReduceAdd(x) => {
                // Pairwise halves, the order the error bound assumes.
                let float = self.f.ty(*x).is_float();
                let mut v = self.v(*x)?.into_vector_value();
                let mut n = v.get_type().get_size();
                while n > 1 {
                    n /= 2;
                    let idx = |k: u32| self.ctx.i32_type().const_int(k as u64, false);
                    let lo = inkwell::types::VectorType::const_vector(
                        &(0..n).map(idx).collect::<Vec<_>>(),
                    );
                    let hi = inkwell::types::VectorType::const_vector(
                        &(n..2 * n).map(idx).collect::<Vec<_>>(),
                    );
                    let a = self.builder.build_shuffle_vector(v, v, lo, "").map_err(e)?;
                    let b = self.builder.build_shuffle_vector(v, v, hi, "").map_err(e)?;
                    v = if float {
                        self.builder.build_float_add(a, b, "").map_err(e)?
                    } else {
                        self.builder.build_int_add(a, b, "").map_err(e)?
                    };
                }
                self.builder
                    .build_extract_element(v, self.ctx.i32_type().const_zero(), "")
                    .map_err(e)?
            }
            Op::RowAddr {
                base,
                index,
                stride,
                elem,
            } => {
                let mut idx = self.int(*index)?;
                if self.f.ty(*index) == Type::U32 {
                    idx = self
                        .builder
                        .build_int_z_extend(idx, self.ctx.i64_type(), "")
                        .map_err(e)?;
                }
                let elems = self
                    .builder
                    .build_int_mul(idx, self.int(*stride)?, "")
                    .map_err(e)?;
                let base = self.v(*base)?.into_pointer_value();
                // SAFETY (of the IR): the handle checked every row.
                unsafe {
                    self.builder
                        .build_in_bounds_gep(self.mem_type(*elem), base, &[elems], "")
                }
                .map_err(e)?
                .into()
            }
            Op::PrefetchRow { ptr, bytes } => {
                let pf = self.intrinsic(
                    "llvm.prefetch",
                    &[self.ctx.ptr_type(AddressSpace::default()).into()],
                )?;
                let base = self.v(*ptr)?.into_pointer_value();
                let i32t = self.ctx.i32_type();
                for line in (0..*bytes).step_by(64) {
                    // SAFETY (of the IR): a prefetch never faults.
                    let p = unsafe {
                        self.builder.build_gep(
                            self.ctx.i8_type(),
                            base,
                            &[self.i64c(line as i64)],
                            "",
                        )
                    }
                    .map_err(e)?;
                    // read, highest locality, data cache
                    self.call(
                        pf,
                        &[
                            p.into(),
                            i32t.const_zero().into(),
                            i32t.const_int(3, false).into(),
                            i32t.const_int(1, false).into(),
                        ],
                    )?;
                }
                return Ok(None);
            }
            Op::CosineDistance {
                dot,
                norm_a,
                norm_b,
            } => {
                // In f64, so that |a|²·|b|² neither overflows nor underflows.
                let f64t = self.ctx.f64_type();
                let wide = |s: &Self, v: Value| -> R<inkwell::values::FloatValue<'ctx>> {
                    s.builder
                        .build_float_ext(s.v(v)?.into_float_value(), f64t, "")
                        .map_err(e)
                };
                let (d, na, nb) = (
                    wide(self, *dot)?,
                    wide(self, *norm_a)?,
                    wide(self, *norm_b)?,
                );
                let min = f64t.const_float(f32::MIN_POSITIVE as f64);
                let one = f64t.const_float(1.0);
                let small_a = self
                    .builder
                    .build_float_compare(FloatPredicate::OLT, na, min, "")
                    .map_err(e)?;
                let small_b = self
                    .builder
                    .build_float_compare(FloatPredicate::OLT, nb, min, "")
                    .map_err(e)?;
                let small = self.builder.build_or(small_a, small_b, "").map_err(e)?;
                let sqrt = self.intrinsic("llvm.sqrt", &[f64t.into()])?;
                let ra = self
                    .call(sqrt, &[na.into()])?
                    .ok_or("sqrt")?
                    .into_float_value();
                let rb = self
                    .call(sqrt, &[nb.into()])?
                    .ok_or("sqrt")?
                    .into_float_value();
                let denom = self.builder.build_float_mul(ra, rb, "").map_err(e)?;
                let cos = self.builder.build_float_div(d, denom, "").map_err(e)?;
                let dist = self.builder.build_float_sub(one, cos, "").map_err(e)?;
                let chosen = self
                    .builder
                    .build_select(small, one, dist, "")
                    .map_err(e)?
                    .into_float_value();
                self.builder
                    .build_float_trunc(chosen, f32t, "")
                    .map_err(e)?
                    .into()
            }
            Op::Return(v) => {
                match v {
                    Some(v) => self.builder.build_return(Some(&self.v(*v)?)).map_err(e)?,
                    None => self.builder.build_return(None).map_err(e)?,
                };
                return Ok(None);
            }
        }))
    }
}
