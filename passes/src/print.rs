//! The text form of the kernel IR.
//!
//! ```text
//! kernel @l2_f32_d768_pair(%a: ptr, %b: ptr) -> f32 {
//!   %zero = fconst.f32 0.0
//!   %sum = loop %i = 0 to 768 step 1 iter(%acc = %zero) {
//!     %x = load.f32 %a[%i]
//!     ...
//!     yield %next
//!   }
//!   ret %sum
//! }
//! ```
//!
//! Named values print by name (the first value to claim a name keeps it);
//! the others are numbered in order of definition. [`crate::parse`] reads
//! exactly this form back, so `print(parse(text)) == text` for printed text.

use crate::ir::{Address, Bound, Function, Inst, Loop, Op, Value};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// Prints `f` in canonical text form.
pub fn print(f: &Function) -> String {
    let mut p = Printer {
        f,
        names: HashMap::new(),
        taken: HashSet::new(),
        next_number: 0,
        out: String::new(),
    };
    p.function();
    p.out
}

struct Printer<'a> {
    f: &'a Function,
    names: HashMap<Value, String>,
    taken: HashSet<String>,
    next_number: u32,
    out: String,
}

impl Printer<'_> {
    /// Gives `v` its printed name at its definition.
    fn define(&mut self, v: Value) -> String {
        let name = match self.f.name_of(v) {
            // Only names the parser reads back as names: not empty, not
            // all digits (those are numbers), no other characters.
            Some(n)
                if !self.taken.contains(n)
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !n.chars().all(|c| c.is_ascii_digit()) =>
            {
                n.to_string()
            }
            _ => loop {
                let n = self.next_number.to_string();
                self.next_number += 1;
                if !self.taken.contains(&n) {
                    break n;
                }
            },
        };
        self.taken.insert(name.clone());
        self.names.insert(v, name.clone());
        format!("%{name}")
    }

    fn use_(&self, v: Value) -> String {
        match self.names.get(&v) {
            Some(n) => format!("%{n}"),
            // Only invalid IR uses a value before defining it; print it
            // recognisably rather than failing, so dumps of broken IR help.
            None => format!("%<undefined v{}>", v.0),
        }
    }

    fn function(&mut self) {
        let f = self.f;
        let params: Vec<String> = f
            .params
            .iter()
            .map(|&p| {
                let n = self.define(p);
                format!("{n}: {}", f.ty(p))
            })
            .collect();
        write!(self.out, "kernel @{}({})", f.name, params.join(", ")).unwrap();
        if let Some(t) = f.ret {
            write!(self.out, " -> {t}").unwrap();
        }
        self.out.push_str(" {\n");
        self.block(&f.body, 1);
        self.out.push_str("}\n");
    }

    fn block(&mut self, insts: &[Inst], depth: usize) {
        for inst in insts {
            match inst {
                Inst::Op { result, op } => {
                    let text = self.op(op, result.map(|r| self.f.ty(r).to_string()));
                    self.indent(depth);
                    if let Some(r) = result {
                        let n = self.define(*r);
                        write!(self.out, "{n} = ").unwrap();
                    }
                    self.out.push_str(&text);
                    self.out.push('\n');
                }
                Inst::Loop(l) => self.loop_(l, depth),
            }
        }
    }

    fn loop_(&mut self, l: &Loop, depth: usize) {
        let bound = |p: &Self, b: Bound| match b {
            Bound::Const(c) => c.to_string(),
            Bound::Value(v) => p.use_(v),
        };
        let start = bound(self, l.start);
        let end = bound(self, l.end);
        let inits: Vec<String> = l.inits.iter().map(|&v| self.use_(v)).collect();
        self.indent(depth);
        let results: Vec<String> = l.results.iter().map(|&r| self.define(r)).collect();
        if !results.is_empty() {
            write!(self.out, "{} = ", results.join(", ")).unwrap();
        }
        let kw = if l.tail { "loop.tail" } else { "loop" };
        let iv = self.define(l.iv);
        write!(self.out, "{kw} {iv} = {start} to {end} step {}", l.step).unwrap();
        if !l.args.is_empty() {
            let args: Vec<String> = l
                .args
                .iter()
                .zip(&inits)
                .map(|(&a, init)| format!("{} = {init}", self.define(a)))
                .collect();
            write!(self.out, " iter({})", args.join(", ")).unwrap();
        }
        self.out.push_str(" {\n");
        self.block(&l.body, depth + 1);
        if !l.yields.is_empty() {
            self.indent(depth + 1);
            let ys: Vec<String> = l.yields.iter().map(|&v| self.use_(v)).collect();
            writeln!(self.out, "yield {}", ys.join(", ")).unwrap();
        }
        self.indent(depth);
        self.out.push_str("}\n");
    }

    fn addr(&self, a: &Address) -> String {
        let ptr = match a.elem.name() {
            None => self.use_(a.ptr),
            Some(e) => format!("{}:{e}", self.use_(a.ptr)),
        };
        match (a.index, a.offset) {
            (None, off) => format!("{ptr}[{off}]"),
            (Some(i), 0) => format!("{ptr}[{}]", self.use_(i)),
            (Some(i), off) if off > 0 => format!("{ptr}[{} + {off}]", self.use_(i)),
            (Some(i), off) => format!("{ptr}[{} - {}]", self.use_(i), -off),
        }
    }

    /// An op's text; ops whose result type is not implied by their operands
    /// (constants, loads, splats) carry it as a suffix: `load.f32x4`.
    fn op(&self, op: &Op, ty: Option<String>) -> String {
        let u = |v: &Value| self.use_(*v);
        let ty = ty.unwrap_or_else(|| "?".to_string());
        match op {
            Op::FConst(c) => format!("fconst.{ty} {c:?}"),
            Op::Load(a) => format!("load.{ty} {}", self.addr(a)),
            Op::LoadMasked { addr, lanes } => {
                format!("load_masked.{ty} {}, lanes {lanes}", self.addr(addr))
            }
            Op::Splat(v) => format!("splat.{ty} {}", u(v)),
            // i64 is the default and prints bare (as before integer kernels).
            Op::IConst(c) if ty == "i64" => format!("iconst {c}"),
            Op::IConst(c) => format!("iconst.{ty} {c}"),
            Op::Store { addr, value } => format!("store {}, {}", self.addr(addr), u(value)),
            Op::Binary(b, x, y) => format!("{} {}, {}", b.name(), u(x), u(y)),
            Op::Fma(a, b, c) => format!("fma {}, {}, {}", u(a), u(b), u(c)),
            Op::ReduceAdd(v) => format!("reduce_add {}", u(v)),
            Op::Popcnt(v) => format!("popcnt {}", u(v)),
            Op::IToF(v) => format!("itof {}", u(v)),
            Op::RowAddr {
                base,
                index,
                stride,
                elem,
            } => format!(
                "row_addr{} {}, {}, {}",
                elem.name().map_or(String::new(), |e| format!(".{e}")),
                u(base),
                u(index),
                u(stride)
            ),
            Op::PrefetchRow { ptr, bytes } => format!("prefetch_row {}, {bytes}", u(ptr)),
            Op::CosineDistance {
                dot,
                norm_a,
                norm_b,
            } => format!("cosine_distance {}, {}, {}", u(dot), u(norm_a), u(norm_b)),
            Op::Return(None) => "ret".to_string(),
            Op::Return(Some(v)) => format!("ret {}", u(v)),
        }
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }
}
