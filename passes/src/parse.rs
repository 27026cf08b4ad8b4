//! Reads the text form that [`crate::print`] writes. Lines starting with `;`
//! are comments. Names made only of digits are treated as unnamed values.

use crate::ir::{Address, BinOp, Bound, Function, Inst, Loop, MemElem, Op, Type, Value};
use crate::ParseError;
use std::collections::HashMap;

/// Parses one kernel.
pub fn parse(text: &str) -> Result<Function, ParseError> {
    let lines = lex(text)?;
    let mut p = Parser {
        lines,
        pos: 0,
        f: Function::new(""),
        scope: HashMap::new(),
    };
    p.function()?;
    if p.pos < p.lines.len() {
        return Err(p.err_at(p.pos, "text after the end of the kernel"));
    }
    Ok(p.f)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Val(String),
    Global(String),
    Word(String),
    Int(i64),
    Float(f32),
    Punct(char),
    Arrow,
}

struct Line {
    number: usize,
    toks: Vec<Tok>,
}

fn lex(text: &str) -> Result<Vec<Line>, ParseError> {
    let mut lines = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |m: String| ParseError {
            line: i + 1,
            message: m,
        };
        let chars: Vec<char> = line.chars().collect();
        let mut toks = vec![];
        let mut k = 0;
        let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        while k < chars.len() {
            let c = chars[k];
            if c.is_whitespace() {
                k += 1;
            } else if c == '%' || c == '@' {
                let start = k + 1;
                k = start;
                while k < chars.len() && (chars[k].is_ascii_alphanumeric() || chars[k] == '_') {
                    k += 1;
                }
                if k == start {
                    return Err(err(format!("empty name after `{c}`")));
                }
                let name: String = chars[start..k].iter().collect();
                toks.push(if c == '%' {
                    Tok::Val(name)
                } else {
                    Tok::Global(name)
                });
            } else if c == '-' && chars.get(k + 1) == Some(&'>') {
                toks.push(Tok::Arrow);
                k += 2;
            } else if c.is_ascii_digit()
                || (c == '-' && chars.get(k + 1).is_some_and(|d| d.is_ascii_digit()))
            {
                let start = k;
                k += 1;
                while k < chars.len()
                    && (chars[k].is_ascii_alphanumeric()
                        || chars[k] == '.'
                        || ((chars[k] == '-' || chars[k] == '+')
                            && matches!(chars[k - 1], 'e' | 'E')))
                {
                    k += 1;
                }
                let s: String = chars[start..k].iter().collect();
                if let Ok(v) = s.parse::<i64>() {
                    toks.push(Tok::Int(v));
                } else if let Ok(v) = s.parse::<f32>() {
                    toks.push(Tok::Float(v));
                } else {
                    return Err(err(format!("bad number `{s}`")));
                }
            } else if word_char(c) {
                let start = k;
                while k < chars.len() && word_char(chars[k]) {
                    k += 1;
                }
                toks.push(Tok::Word(chars[start..k].iter().collect()));
            } else if "(){}[],:=+-".contains(c) {
                toks.push(Tok::Punct(c));
                k += 1;
            } else {
                return Err(err(format!("unexpected character `{c}`")));
            }
        }
        lines.push(Line {
            number: i + 1,
            toks,
        });
    }
    Ok(lines)
}

struct Parser {
    lines: Vec<Line>,
    pos: usize,
    f: Function,
    scope: HashMap<String, Value>,
}

/// A cursor over one line's tokens.
struct Cur<'a> {
    toks: &'a [Tok],
    k: usize,
    line: usize,
}

impl Cur<'_> {
    fn err(&self, m: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: m.into(),
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.k)
    }
    fn next(&mut self) -> Result<Tok, ParseError> {
        let t = self
            .toks
            .get(self.k)
            .cloned()
            .ok_or_else(|| self.err("unexpected end of line"))?;
        self.k += 1;
        Ok(t)
    }
    fn punct(&mut self, c: char) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Punct(p) if p == c => Ok(()),
            t => Err(self.err(format!("expected `{c}`, found {t:?}"))),
        }
    }
    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.k += 1;
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Word(w) => Ok(w),
            t => Err(self.err(format!("expected a word, found {t:?}"))),
        }
    }
    fn keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        match self.next()? {
            Tok::Word(w) if w == kw => Ok(()),
            t => Err(self.err(format!("expected `{kw}`, found {t:?}"))),
        }
    }
    fn val_name(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Val(v) => Ok(v),
            t => Err(self.err(format!("expected a %value, found {t:?}"))),
        }
    }
    fn int(&mut self) -> Result<i64, ParseError> {
        match self.next()? {
            Tok::Int(i) => Ok(i),
            t => Err(self.err(format!("expected an integer, found {t:?}"))),
        }
    }
    fn done(&self) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(self.err(format!("unexpected {t:?} at end of line"))),
        }
    }
}

fn parse_type(s: &str) -> Option<Type> {
    match s {
        "f32" => Some(Type::F32),
        "i32" => Some(Type::I32),
        "i64" => Some(Type::I64),
        "u32" => Some(Type::U32),
        "ptr" => Some(Type::Ptr),
        _ => {
            let (scalar, n) = s.split_once('x')?;
            let n: u32 = n.parse().ok()?;
            if n < 2 || !n.is_power_of_two() {
                return None;
            }
            parse_type(scalar)?.with_lanes(n)
        }
    }
}

fn parse_mem_elem(s: &str) -> Option<MemElem> {
    MemElem::ALL.into_iter().find(|e| e.name() == Some(s))
}

impl Parser {
    fn err_at(&self, pos: usize, m: &str) -> ParseError {
        ParseError {
            line: self.lines.get(pos).map_or(0, |l| l.number),
            message: m.to_string(),
        }
    }

    fn cursor(&self) -> Result<Cur<'_>, ParseError> {
        let line = self.lines.get(self.pos).ok_or_else(|| {
            self.err_at(
                self.pos.saturating_sub(1),
                "unexpected end of text: missing `}`",
            )
        })?;
        Ok(Cur {
            toks: &line.toks,
            k: 0,
            line: line.number,
        })
    }

    fn define(&mut self, name: &str, ty: Type, line: usize) -> Result<Value, ParseError> {
        if self.scope.contains_key(name) {
            return Err(ParseError {
                line,
                message: format!("%{name} is defined twice"),
            });
        }
        let stored = (!name.chars().all(|c| c.is_ascii_digit())).then_some(name);
        let v = self.f.new_value(ty, stored);
        self.scope.insert(name.to_string(), v);
        Ok(v)
    }

    fn lookup(&self, c: &Cur, name: &str) -> Result<Value, ParseError> {
        self.scope
            .get(name)
            .copied()
            .ok_or_else(|| c.err(format!("%{name} is used before it is defined")))
    }

    fn function(&mut self) -> Result<(), ParseError> {
        let mut c = self.cursor()?;
        let line = c.line;
        c.keyword("kernel")?;
        let name = match c.next()? {
            Tok::Global(g) => g,
            t => return Err(c.err(format!("expected @name, found {t:?}"))),
        };
        c.punct('(')?;
        let mut params = vec![];
        if !c.eat_punct(')') {
            loop {
                let p = c.val_name()?;
                c.punct(':')?;
                let tw = c.word()?;
                let ty = parse_type(&tw).ok_or_else(|| c.err(format!("unknown type `{tw}`")))?;
                params.push((p, ty));
                if c.eat_punct(')') {
                    break;
                }
                c.punct(',')?;
            }
        }
        let ret = if c.peek() == Some(&Tok::Arrow) {
            c.next()?;
            let tw = c.word()?;
            Some(parse_type(&tw).ok_or_else(|| c.err(format!("unknown type `{tw}`")))?)
        } else {
            None
        };
        c.punct('{')?;
        c.done()?;
        self.f.name = name;
        self.f.ret = ret;
        for (p, ty) in params {
            let v = self.define(&p, ty, line)?;
            self.f.params.push(v);
        }
        self.pos += 1;
        let (body, yields) = self.block()?;
        if !yields.is_empty() {
            return Err(self.err_at(self.pos - 1, "`yield` outside a loop"));
        }
        self.f.body = body;
        Ok(())
    }

    /// Parses lines up to and including the closing `}`.
    fn block(&mut self) -> Result<(Vec<Inst>, Vec<Value>), ParseError> {
        let mut insts = vec![];
        let mut yields = vec![];
        loop {
            let c = self.cursor()?;
            if c.toks == [Tok::Punct('}')] {
                self.pos += 1;
                return Ok((insts, yields));
            }
            if !yields.is_empty() {
                return Err(c.err("`yield` must be the last line of a loop body"));
            }
            if c.toks.first() == Some(&Tok::Word("yield".into())) {
                let mut c = c;
                c.next()?;
                loop {
                    let n = c.val_name()?;
                    yields.push(self.lookup(&c, &n)?);
                    if !c.eat_punct(',') {
                        break;
                    }
                }
                c.done()?;
                self.pos += 1;
                continue;
            }
            insts.push(self.inst()?);
        }
    }

    fn inst(&mut self) -> Result<Inst, ParseError> {
        let mut c = self.cursor()?;
        // Results before `=`.
        let mut results = vec![];
        let has_results = c
            .toks
            .iter()
            .position(|t| *t == Tok::Punct('='))
            .is_some_and(|eq| {
                c.toks[..eq]
                    .iter()
                    .all(|t| matches!(t, Tok::Val(_) | Tok::Punct(',')))
            })
            && matches!(c.peek(), Some(Tok::Val(_)));
        if has_results {
            loop {
                results.push(c.val_name()?);
                if !c.eat_punct(',') {
                    break;
                }
            }
            c.punct('=')?;
        }
        let opname = c.word()?;
        let line = c.line;
        if opname == "loop" || opname == "loop.tail" {
            let k = c.k;
            self.pos += 1;
            return self.loop_(line, opname == "loop.tail", results, k);
        }
        let (base, suffix) = match opname.split_once('.') {
            Some((b, s)) => (b.to_string(), Some(s.to_string())),
            None => (opname.clone(), None),
        };
        let ty_suffix = |c: &Cur| -> Result<Type, ParseError> {
            let s = suffix
                .as_deref()
                .ok_or_else(|| c.err(format!("`{base}` needs a type suffix, e.g. `{base}.f32`")))?;
            parse_type(s).ok_or_else(|| c.err(format!("unknown type `{s}`")))
        };
        let operand = |p: &Self, c: &mut Cur| -> Result<Value, ParseError> {
            let n = c.val_name()?;
            p.lookup(c, &n)
        };
        let list = |p: &Self, c: &mut Cur, n: usize| -> Result<Vec<Value>, ParseError> {
            let mut out = vec![];
            for i in 0..n {
                if i > 0 {
                    c.punct(',')?;
                }
                out.push(operand(p, c)?);
            }
            Ok(out)
        };
        let (op, ty): (Op, Option<Type>) = match base.as_str() {
            "fconst" => {
                let ty = ty_suffix(&c)?;
                let v = match c.next()? {
                    Tok::Float(f) => f,
                    Tok::Int(i) => i as f32,
                    Tok::Word(w) if w == "inf" => f32::INFINITY,
                    Tok::Punct('-') if c.peek() == Some(&Tok::Word("inf".into())) => {
                        c.next()?;
                        f32::NEG_INFINITY
                    }
                    Tok::Word(w) if w == "NaN" => f32::NAN,
                    t => return Err(c.err(format!("expected a number, found {t:?}"))),
                };
                (Op::FConst(v), Some(ty))
            }
            "iconst" => {
                let ty = if suffix.is_some() {
                    ty_suffix(&c)?
                } else {
                    Type::I64
                };
                (Op::IConst(c.int()?), Some(ty))
            }
            "load" => {
                let ty = ty_suffix(&c)?;
                (Op::Load(self.address(&mut c)?), Some(ty))
            }
            "load_masked" => {
                let ty = ty_suffix(&c)?;
                let addr = self.address(&mut c)?;
                c.punct(',')?;
                c.keyword("lanes")?;
                let lanes = c.int()?;
                let lanes = u32::try_from(lanes).map_err(|_| c.err("lanes out of range"))?;
                (Op::LoadMasked { addr, lanes }, Some(ty))
            }
            "store" => {
                let addr = self.address(&mut c)?;
                c.punct(',')?;
                (
                    Op::Store {
                        addr,
                        value: operand(self, &mut c)?,
                    },
                    None,
                )
            }
            "splat" => {
                let ty = ty_suffix(&c)?;
                (Op::Splat(operand(self, &mut c)?), Some(ty))
            }
            "fma" => {
                let v = list(self, &mut c, 3)?;
                (Op::Fma(v[0], v[1], v[2]), Some(self.f.ty(v[2])))
            }
            "reduce_add" => {
                let v = operand(self, &mut c)?;
                (Op::ReduceAdd(v), Some(self.f.ty(v).scalar()))
            }
            "popcnt" => {
                let v = operand(self, &mut c)?;
                (Op::Popcnt(v), Some(self.f.ty(v)))
            }
            "itof" => (Op::IToF(operand(self, &mut c)?), Some(Type::F32)),
            "row_addr" => {
                let v = list(self, &mut c, 3)?;
                (
                    Op::RowAddr {
                        base: v[0],
                        index: v[1],
                        stride: v[2],
                        elem: match suffix.as_deref() {
                            None => MemElem::Native,
                            Some(s) => parse_mem_elem(s)
                                .ok_or_else(|| c.err(format!("unknown row element `{s}`")))?,
                        },
                    },
                    Some(Type::Ptr),
                )
            }
            "prefetch_row" => {
                let ptr = operand(self, &mut c)?;
                c.punct(',')?;
                let bytes =
                    u32::try_from(c.int()?).map_err(|_| c.err("byte count out of range"))?;
                (Op::PrefetchRow { ptr, bytes }, None)
            }
            "cosine_distance" => {
                let v = list(self, &mut c, 3)?;
                (
                    Op::CosineDistance {
                        dot: v[0],
                        norm_a: v[1],
                        norm_b: v[2],
                    },
                    Some(Type::F32),
                )
            }
            "ret" => {
                let v = if c.peek().is_some() {
                    Some(operand(self, &mut c)?)
                } else {
                    None
                };
                (Op::Return(v), None)
            }
            other => {
                let bin = BinOp::ALL
                    .into_iter()
                    .find(|b| b.name() == other)
                    .ok_or_else(|| c.err(format!("unknown instruction `{other}`")))?;
                let v = list(self, &mut c, 2)?;
                (Op::Binary(bin, v[0], v[1]), Some(self.f.ty(v[0])))
            }
        };
        c.done()?;
        let result = match (results.as_slice(), ty) {
            ([], None) => None,
            ([r], Some(ty)) => Some(self.define(r, ty, line)?),
            ([], Some(_)) => return Err(c.err(format!("`{base}` produces a value: name it"))),
            _ => {
                return Err(c.err(format!(
                    "`{base}` does not produce {} value(s)",
                    results.len()
                )))
            }
        };
        self.pos += 1;
        Ok(Inst::Op { result, op })
    }

    fn address(&self, c: &mut Cur) -> Result<Address, ParseError> {
        let ptr_name = c.val_name()?;
        let ptr = self.lookup(c, &ptr_name)?;
        let elem = if c.eat_punct(':') {
            let w = c.word()?;
            parse_mem_elem(&w).ok_or_else(|| {
                c.err(format!(
                    "unknown memory element `{w}` (expected f16, i8, u8, u64 or meta)"
                ))
            })?
        } else {
            MemElem::Native
        };
        c.punct('[')?;
        let addr = match c.next()? {
            Tok::Int(off) => Address {
                ptr,
                index: None,
                offset: off,
                elem,
            },
            Tok::Val(i) => {
                let index = Some(self.lookup(c, &i)?);
                let offset = if c.eat_punct('+') {
                    c.int()?
                } else if c.eat_punct('-') {
                    -c.int()?
                } else {
                    0
                };
                Address {
                    ptr,
                    index,
                    offset,
                    elem,
                }
            }
            t => return Err(c.err(format!("expected an index, found {t:?}"))),
        };
        c.punct(']')?;
        Ok(addr)
    }

    fn bound(&self, c: &mut Cur) -> Result<Bound, ParseError> {
        match c.next()? {
            Tok::Int(i) => Ok(Bound::Const(i)),
            Tok::Val(v) => Ok(Bound::Value(self.lookup(c, &v)?)),
            t => Err(c.err(format!("expected a loop bound, found {t:?}"))),
        }
    }

    fn loop_(
        &mut self,
        line: usize,
        tail: bool,
        result_names: Vec<String>,
        k: usize,
    ) -> Result<Inst, ParseError> {
        let toks = self.lines[self.pos - 1].toks.clone();
        let mut c = Cur {
            toks: &toks,
            k,
            line,
        };
        let iv_name = c.val_name()?;
        c.punct('=')?;
        let start = self.bound(&mut c)?;
        c.keyword("to")?;
        let end = self.bound(&mut c)?;
        c.keyword("step")?;
        let step = c.int()?;
        if step <= 0 {
            return Err(c.err("loop step must be positive"));
        }
        let mut arg_names = vec![];
        let mut inits = vec![];
        if c.peek() == Some(&Tok::Word("iter".into())) {
            c.next()?;
            c.punct('(')?;
            loop {
                arg_names.push(c.val_name()?);
                c.punct('=')?;
                let n = c.val_name()?;
                inits.push(self.lookup(&c, &n)?);
                if c.eat_punct(')') {
                    break;
                }
                c.punct(',')?;
            }
        }
        c.punct('{')?;
        c.done()?;
        if arg_names.len() != result_names.len() {
            return Err(c.err(format!(
                "loop has {} iter argument(s) but {} result(s)",
                arg_names.len(),
                result_names.len()
            )));
        }
        let iv = self.define(&iv_name, Type::I64, line)?;
        let mut args = vec![];
        for (name, &init) in arg_names.iter().zip(&inits) {
            let ty = self.f.ty(init);
            args.push(self.define(name, ty, line)?);
        }
        let (body, yields) = self.block()?;
        let mut results = vec![];
        for (name, &init) in result_names.iter().zip(&inits) {
            let ty = self.f.ty(init);
            results.push(self.define(name, ty, line)?);
        }
        Ok(Inst::Loop(Loop {
            iv,
            start,
            end,
            step,
            tail,
            args,
            inits,
            results,
            body,
            yields,
        }))
    }
}
