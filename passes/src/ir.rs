//! The kernel IR's data structures.

use std::collections::HashMap;
use std::fmt;

/// A value's type. Vectors hold f32 (float kernels), i32 (the products
/// of quantized codes) or i64 (popcounts of bit words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    F32,
    /// `f32xN`, N a power of two ≥ 2.
    F32Vec(u32),
    /// Integer arithmetic of quantized kernels (codes widened on load).
    I32,
    /// `i32xN`, N a power of two ≥ 2.
    I32Vec(u32),
    I64,
    /// `i64xN`, N a power of two ≥ 2.
    I64Vec(u32),
    U32,
    Ptr,
}

impl Type {
    pub fn lanes(self) -> u32 {
        match self {
            Type::F32Vec(n) | Type::I32Vec(n) | Type::I64Vec(n) => n,
            _ => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Type::F32 | Type::F32Vec(_))
    }

    /// Integers that index memory (loop counters, row ids).
    pub fn is_int(self) -> bool {
        matches!(self, Type::I64 | Type::U32)
    }

    /// Integers that kernel arithmetic (sums, products, xor, popcount)
    /// works on, scalar or vector.
    pub fn is_arith_int(self) -> bool {
        matches!(
            self,
            Type::I32 | Type::I32Vec(_) | Type::I64 | Type::I64Vec(_)
        )
    }

    /// The type of one lane.
    pub fn scalar(self) -> Type {
        match self {
            Type::F32Vec(_) => Type::F32,
            Type::I32Vec(_) => Type::I32,
            Type::I64Vec(_) => Type::I64,
            t => t,
        }
    }

    /// The vector of `lanes` lanes of this type's scalar (the scalar itself
    /// for `lanes == 1`); `None` for types that have no vectors.
    pub fn with_lanes(self, lanes: u32) -> Option<Type> {
        Some(match (self.scalar(), lanes) {
            (t, 1) => t,
            (Type::F32, n) => Type::F32Vec(n),
            (Type::I32, n) => Type::I32Vec(n),
            (Type::I64, n) => Type::I64Vec(n),
            _ => return None,
        })
    }

    /// Whether sums of this type can be vectorized (f32, i32, i64).
    pub fn is_summable(self) -> bool {
        matches!(self.scalar(), Type::F32 | Type::I32 | Type::I64)
    }

    /// The f32 vector (or scalar, for `lanes == 1`) of this many lanes.
    pub fn f32s(lanes: u32) -> Type {
        if lanes == 1 {
            Type::F32
        } else {
            Type::F32Vec(lanes)
        }
    }

    /// Bits of one lane.
    pub fn lane_bits(self) -> u32 {
        match self.scalar() {
            Type::I64 | Type::Ptr => 64,
            _ => 32,
        }
    }

    /// Bytes of one scalar element as stored in memory.
    pub fn element_bytes(self) -> i64 {
        match self {
            Type::F32 | Type::F32Vec(_) | Type::U32 | Type::I32 | Type::I32Vec(_) => 4,
            Type::I64 | Type::I64Vec(_) | Type::Ptr => 8,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::F32 => f.write_str("f32"),
            Type::F32Vec(n) => write!(f, "f32x{n}"),
            Type::I32 => f.write_str("i32"),
            Type::I32Vec(n) => write!(f, "i32x{n}"),
            Type::I64 => f.write_str("i64"),
            Type::I64Vec(n) => write!(f, "i64x{n}"),
            Type::U32 => f.write_str("u32"),
            Type::Ptr => f.write_str("ptr"),
        }
    }
}

/// An SSA value: an index into [`Function::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u32);

#[derive(Debug, Clone, PartialEq)]
pub struct ValueData {
    pub ty: Type,
    /// The name shown in text form; unnamed values print as numbers.
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    FAdd,
    FSub,
    FMul,
    IAdd,
    ISub,
    IMin,
    /// Integer multiply (wrapping; quantized codes' products fit i32).
    IMul,
    Xor,
}

impl BinOp {
    pub fn name(self) -> &'static str {
        match self {
            BinOp::FAdd => "fadd",
            BinOp::FSub => "fsub",
            BinOp::FMul => "fmul",
            BinOp::IAdd => "iadd",
            BinOp::ISub => "isub",
            BinOp::IMin => "imin",
            BinOp::IMul => "imul",
            BinOp::Xor => "xor",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, BinOp::FAdd | BinOp::FSub | BinOp::FMul)
    }

    pub const ALL: [BinOp; 8] = [
        BinOp::FAdd,
        BinOp::FSub,
        BinOp::FMul,
        BinOp::IAdd,
        BinOp::ISub,
        BinOp::IMin,
        BinOp::IMul,
        BinOp::Xor,
    ];

    /// The sum of a value of type `ty` (`fadd` or `iadd`).
    pub fn add_for(ty: Type) -> BinOp {
        if ty.is_float() {
            BinOp::FAdd
        } else {
            BinOp::IAdd
        }
    }
}

/// How an element is stored in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemElem {
    /// As the value's type says: f32 (or u32 ids), 4 bytes.
    #[default]
    Native,
    /// IEEE half precision, 2 bytes, widened to f32 (exactly) on load.
    F16,
    /// A signed 8-bit code, sign-extended to i32 on load.
    I8,
    /// An unsigned 8-bit code, zero-extended to i32 on load.
    U8,
    /// A 64-bit word of a bit vector, loaded as i64.
    U64,
    /// An f32 of a quantized row's metadata: 4 bytes at any alignment
    /// (rows of bytes promise no more).
    Meta,
}

impl MemElem {
    /// Bytes one element occupies.
    pub fn bytes(self) -> i64 {
        match self {
            MemElem::Native | MemElem::Meta => 4,
            MemElem::F16 => 2,
            MemElem::I8 | MemElem::U8 => 1,
            MemElem::U64 => 8,
        }
    }

    /// The suffix that marks it in text (`%a:i8[...]`); none for native.
    pub fn name(self) -> Option<&'static str> {
        match self {
            MemElem::Native => None,
            MemElem::F16 => Some("f16"),
            MemElem::I8 => Some("i8"),
            MemElem::U8 => Some("u8"),
            MemElem::U64 => Some("u64"),
            MemElem::Meta => Some("meta"),
        }
    }

    pub const ALL: [MemElem; 6] = [
        MemElem::Native,
        MemElem::F16,
        MemElem::I8,
        MemElem::U8,
        MemElem::U64,
        MemElem::Meta,
    ];

    /// The scalar type a load of this element produces, where it is fixed
    /// (`Native` loads f32 or u32).
    pub fn loaded_scalar(self) -> Option<Type> {
        match self {
            MemElem::Native => None,
            MemElem::F16 | MemElem::Meta => Some(Type::F32),
            MemElem::I8 | MemElem::U8 => Some(Type::I32),
            MemElem::U64 => Some(Type::I64),
        }
    }
}

/// The element address `ptr + (index + offset) · sizeof(elem)`; a missing
/// index means 0 (straight-line code after full unrolling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    pub ptr: Value,
    pub index: Option<Value>,
    pub offset: i64,
    /// How the addressed elements are stored.
    pub elem: MemElem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A float constant; a vector type means every lane holds it.
    FConst(f32),
    /// An integer constant: i64 unless its result says i32 or an integer
    /// vector (every lane holds it).
    IConst(i64),
    Load(Address),
    /// Loads the first `lanes` lanes, zero in the others; never touches
    /// memory past the last valid lane.
    LoadMasked {
        addr: Address,
        lanes: u32,
    },
    Store {
        addr: Address,
        value: Value,
    },
    Binary(BinOp, Value, Value),
    /// `a · b + c` with one rounding.
    Fma(Value, Value, Value),
    Splat(Value),
    /// Sum of a vector's lanes (pairwise).
    ReduceAdd(Value),
    /// Bits set in each lane (i64 or i64xN).
    Popcnt(Value),
    /// A signed integer (i32 or i64) converted to the nearest f32.
    IToF(Value),
    /// `base + index · stride · sizeof(elem)` bytes: the start of row `index`.
    RowAddr {
        base: Value,
        index: Value,
        stride: Value,
        elem: MemElem,
    },
    /// Prefetch `bytes` bytes starting at `ptr` into the cache.
    PrefetchRow {
        ptr: Value,
        bytes: u32,
    },
    /// `1 − dot / (√na · √nb)` evaluated in f64; `1` if na or nb is below
    /// `f32::MIN_POSITIVE`.
    CosineDistance {
        dot: Value,
        norm_a: Value,
        norm_b: Value,
    },
    Return(Option<Value>),
}

impl Op {
    /// Values this op reads.
    pub fn operands(&self) -> Vec<Value> {
        let addr = |a: &Address| {
            let mut v = vec![a.ptr];
            v.extend(a.index);
            v
        };
        match self {
            Op::FConst(_) | Op::IConst(_) => vec![],
            Op::Load(a) | Op::LoadMasked { addr: a, .. } => addr(a),
            Op::Store { addr: a, value } => {
                let mut v = addr(a);
                v.push(*value);
                v
            }
            Op::Binary(_, a, b) => vec![*a, *b],
            Op::Fma(a, b, c) => vec![*a, *b, *c],
            Op::Splat(a) | Op::ReduceAdd(a) | Op::Popcnt(a) | Op::IToF(a) => vec![*a],
            Op::RowAddr {
                base,
                index,
                stride,
                ..
            } => vec![*base, *index, *stride],
            Op::PrefetchRow { ptr, .. } => vec![*ptr],
            Op::CosineDistance {
                dot,
                norm_a,
                norm_b,
            } => vec![*dot, *norm_a, *norm_b],
            Op::Return(v) => v.iter().copied().collect(),
        }
    }

    /// Rewrites every operand through `f`.
    pub fn map_operands(&mut self, mut f: impl FnMut(Value) -> Value) {
        let addr = |a: &mut Address, f: &mut dyn FnMut(Value) -> Value| {
            a.ptr = f(a.ptr);
            a.index = a.index.map(&mut *f);
        };
        match self {
            Op::FConst(_) | Op::IConst(_) => {}
            Op::Load(a) | Op::LoadMasked { addr: a, .. } => addr(a, &mut f),
            Op::Store { addr: a, value } => {
                addr(a, &mut f);
                *value = f(*value);
            }
            Op::Binary(_, a, b) => {
                *a = f(*a);
                *b = f(*b);
            }
            Op::Fma(a, b, c) => {
                *a = f(*a);
                *b = f(*b);
                *c = f(*c);
            }
            Op::Splat(a) | Op::ReduceAdd(a) | Op::Popcnt(a) | Op::IToF(a) => *a = f(*a),
            Op::RowAddr {
                base,
                index,
                stride,
                ..
            } => {
                *base = f(*base);
                *index = f(*index);
                *stride = f(*stride);
            }
            Op::PrefetchRow { ptr, .. } => *ptr = f(*ptr),
            Op::CosineDistance {
                dot,
                norm_a,
                norm_b,
            } => {
                *dot = f(*dot);
                *norm_a = f(*norm_a);
                *norm_b = f(*norm_b);
            }
            Op::Return(v) => *v = v.map(f),
        }
    }

    /// Whether removing the op (when its result is unused) changes nothing.
    pub fn is_pure(&self) -> bool {
        !matches!(
            self,
            Op::Store { .. } | Op::PrefetchRow { .. } | Op::Return(_)
        )
    }
}

/// A loop bound: a constant once the dimension is specialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    Const(i64),
    Value(Value),
}

/// `results = loop iv = start to end step step iter(args = inits) { body; yield yields }`.
///
/// The body runs for `iv = start, start+step, ...` while `iv < end`;
/// `args` hold `inits` in the first iteration and the previous iteration's
/// `yields` after that; `results` are the last `yields` (or `inits` if the
/// body never runs).
#[derive(Debug, Clone, PartialEq)]
pub struct Loop {
    pub iv: Value,
    pub start: Bound,
    pub end: Bound,
    pub step: i64,
    /// Marks the remainder loop that vectorization leaves behind, so that
    /// the tail passes (peel, mask) find it and the others leave it alone.
    pub tail: bool,
    pub args: Vec<Value>,
    pub inits: Vec<Value>,
    pub results: Vec<Value>,
    pub body: Vec<Inst>,
    pub yields: Vec<Value>,
}

impl Loop {
    /// The number of iterations, when both bounds are constants.
    pub fn const_trip_count(&self) -> Option<i64> {
        match (self.start, self.end) {
            (Bound::Const(s), Bound::Const(e)) => Some(if e > s {
                (e - s + self.step - 1) / self.step
            } else {
                0
            }),
            _ => None,
        }
    }

    pub fn is_innermost(&self) -> bool {
        !self.body.iter().any(|i| matches!(i, Inst::Loop(_)))
    }

    /// Whether this is a loop over rows (`gather`, `scan`): its own body
    /// computes a `row_addr`. The element-loop passes leave such loops
    /// alone, also once their element loops are unrolled away and the row
    /// loop is innermost (a tile of rows carries an iter argument too).
    pub fn walks_rows(&self) -> bool {
        self.body.iter().any(Inst::is_row_addr)
    }

    /// An element loop that the loop passes may rewrite: innermost, not a
    /// vectorization remainder, carrying sums, and not a loop over rows.
    pub fn is_element_loop(&self) -> bool {
        self.is_innermost() && !self.tail && !self.args.is_empty() && !self.walks_rows()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inst {
    Op { result: Option<Value>, op: Op },
    Loop(Loop),
}

impl Inst {
    /// Whether this computes the start of a row (`row_addr`).
    pub fn is_row_addr(&self) -> bool {
        matches!(
            self,
            Inst::Op {
                op: Op::RowAddr { .. },
                ..
            }
        )
    }
}

/// A kernel: parameters, an optional return type and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub params: Vec<Value>,
    pub ret: Option<Type>,
    pub body: Vec<Inst>,
    pub values: Vec<ValueData>,
}

impl Function {
    pub fn new(name: impl Into<String>) -> Self {
        Function {
            name: name.into(),
            params: vec![],
            ret: None,
            body: vec![],
            values: vec![],
        }
    }

    pub fn new_value(&mut self, ty: Type, name: Option<&str>) -> Value {
        self.values.push(ValueData {
            ty,
            name: name.map(str::to_string),
        });
        Value(self.values.len() as u32 - 1)
    }

    pub fn ty(&self, v: Value) -> Type {
        self.values[v.0 as usize].ty
    }

    pub fn name_of(&self, v: Value) -> Option<&str> {
        self.values[v.0 as usize].name.as_deref()
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<Value> {
        self.params
            .iter()
            .copied()
            .find(|&p| self.name_of(p) == Some(name))
    }

    /// Every op that defines a value, keyed by that value (loops excluded).
    pub fn defs(&self) -> HashMap<Value, Op> {
        let mut out = HashMap::new();
        walk(&self.body, &mut |inst| {
            if let Inst::Op {
                result: Some(r),
                op,
            } = inst
            {
                out.insert(*r, op.clone());
            }
        });
        out
    }

    /// How many times each value is read (by ops, bounds, inits, yields).
    pub fn use_counts(&self) -> HashMap<Value, usize> {
        let mut counts = HashMap::new();
        let mut bump = |v: Value| *counts.entry(v).or_insert(0) += 1;
        walk(&self.body, &mut |inst| match inst {
            Inst::Op { op, .. } => op.operands().into_iter().for_each(&mut bump),
            Inst::Loop(l) => {
                for b in [l.start, l.end] {
                    if let Bound::Value(v) = b {
                        bump(v)
                    }
                }
                l.inits.iter().chain(&l.yields).for_each(|&v| bump(v));
            }
        });
        counts
    }

    /// Replaces every read of a key of `map` by its value.
    pub fn replace_uses(&mut self, map: &HashMap<Value, Value>) {
        if map.is_empty() {
            return;
        }
        let f = |v: Value| *map.get(&v).unwrap_or(&v);
        walk_mut(&mut self.body, &mut |inst| match inst {
            Inst::Op { op, .. } => op.map_operands(f),
            Inst::Loop(l) => {
                for b in [&mut l.start, &mut l.end] {
                    if let Bound::Value(v) = b {
                        *v = f(*v)
                    }
                }
                l.inits
                    .iter_mut()
                    .chain(&mut l.yields)
                    .for_each(|v| *v = f(*v));
            }
        });
    }
}

/// Visits every instruction, loops before their bodies.
pub fn walk(insts: &[Inst], f: &mut dyn FnMut(&Inst)) {
    for inst in insts {
        f(inst);
        if let Inst::Loop(l) = inst {
            walk(&l.body, f);
        }
    }
}

/// Visits every instruction mutably, loops before their bodies.
pub fn walk_mut(insts: &mut [Inst], f: &mut dyn FnMut(&mut Inst)) {
    for inst in insts {
        f(inst);
        if let Inst::Loop(l) = inst {
            walk_mut(&mut l.body, f);
        }
    }
}

/// Visits every instruction list (the function body and each loop body),
/// outermost first, letting the visitor rewrite the list.
pub fn walk_blocks_mut<E>(
    insts: &mut Vec<Inst>,
    f: &mut dyn FnMut(&mut Vec<Inst>) -> Result<(), E>,
) -> Result<(), E> {
    f(insts)?;
    for inst in insts.iter_mut() {
        if let Inst::Loop(l) = inst {
            walk_blocks_mut(&mut l.body, f)?;
        }
    }
    Ok(())
}
