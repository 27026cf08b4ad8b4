//! For any kernel and any valid schedule, the pipeline `pipeline_for`
//! builds runs, and what it produces is valid, reads back from its text,
//! and is fully lowered: no `loop.tail` left and no `%n` parameter. And it
//! computes what the naive kernel computes: a small interpreter runs both
//! on small-integer data (every sum exact in f32, whatever the order; the
//! integer kernels' sums are exact anyway), reading no byte outside the
//! buffers the kernel ABI describes.

use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape, TailStrategy};
use hektor_passes::ir::{walk, Address, BinOp, Bound, Function, Inst, MemElem, Op, Type, Value};
use hektor_passes::pass::{pipeline_for, TargetCaps};
use hektor_passes::{build, parse, print, verify};
use proptest::prelude::*;
use std::collections::HashMap;

/// A metric and element type: f32 with every user metric, the quantized
/// types with l2/ip/cosine, and bit vectors with hamming.
fn metric_and_dtype() -> impl Strategy<Value = (Metric, ElementType)> {
    prop_oneof![
        prop::sample::select(Metric::ALL.to_vec()).prop_map(|m| (m, ElementType::F32)),
        prop::sample::select(Metric::ALL.to_vec()).prop_map(|m| (m, ElementType::I8)),
        prop::sample::select(Metric::ALL.to_vec()).prop_map(|m| (m, ElementType::U8)),
        Just((Metric::Hamming, ElementType::Bit)),
    ]
}

fn spec_and_schedule() -> impl Strategy<Value = (KernelSpec, Schedule, bool)> {
    (
        metric_and_dtype(),
        prop::sample::select(Shape::ALL.to_vec()),
        1usize..=300,
        // 32 and 64 lanes are for quantized codes only (others take 16).
        prop::sample::select(vec![1u32, 2, 4, 8, 16, 32, 64]),
        // 0 stands for `full`.
        0u32..=8,
        1u32..=8,
        0u32..=8,
        prop::sample::select(vec![
            TailStrategy::Scalar,
            TailStrategy::Masked,
            TailStrategy::Padded,
        ]),
        (any::<bool>(), 1u32..=5),
    )
        .prop_map(
            |((metric, dtype), shape, dim, width, unroll, acc, prefetch, tail, (fma, rows))| {
                // Bit kernels loop over words: 300 words at most.
                let dim = if dtype == ElementType::Bit {
                    dim * 64 - dim % 64
                } else {
                    dim
                };
                let spec = KernelSpec::new(metric, dtype, dim, shape).unwrap();
                let width = if dtype.is_quantized() {
                    width
                } else {
                    width.min(16)
                };
                let unroll = match unroll {
                    // Full unrolling is for short vectors only.
                    0 if spec.elements() <= 64 => "full".to_string(),
                    0 => "1".to_string(),
                    u => u.to_string(),
                };
                let tail = match tail {
                    TailStrategy::Masked if width == 1 => TailStrategy::Scalar,
                    t => t,
                };
                // Tiles of rows for the row shapes.
                let rows = if shape.has_rows() { rows } else { 1 };
                let schedule: Schedule = format!(
                    "width={width},unroll={unroll},acc={acc},prefetch={prefetch},tail={},rows={rows}",
                    tail.name()
                )
                .parse()
                .unwrap();
                (spec, schedule, fma)
            },
        )
}

fn has_tail_loop(f: &Function) -> bool {
    let mut found = false;
    walk(&f.body, &mut |i| {
        found |= matches!(i, Inst::Loop(l) if l.tail)
    });
    found
}

fn count_ops(f: &Function, pred: impl Fn(&Op) -> bool) -> usize {
    let mut n = 0;
    walk(&f.body, &mut |i| {
        if let Inst::Op { op, .. } = i {
            n += pred(op) as usize;
        }
    });
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pipelines_lower_every_kernel((spec, schedule, fma) in spec_and_schedule()) {
        let mut f = build::kernel_ir(&spec);
        let pm = pipeline_for(&spec, &schedule, TargetCaps { fma });
        let run = pm.run(&mut f, |_, _| {});
        prop_assert!(run.is_ok(), "{} {}: {}", spec, schedule, run.unwrap_err());
        prop_assert!(verify::verify(&f).is_ok(), "{} {}: {:?}", spec, schedule, verify::verify(&f));

        let text = print::print(&f);
        let g = parse::parse(&text);
        prop_assert!(g.is_ok(), "{} {}: {:?}\n{}", spec, schedule, g.as_ref().err(), text);
        prop_assert_eq!(print::print(&g.unwrap()), text.clone());

        prop_assert!(!has_tail_loop(&f), "{} {}: a loop.tail is left\n{}", spec, schedule, text);
        prop_assert!(f.param(build::DIM_PARAM).is_none(), "{} {}: %n is left", spec, schedule);
        prop_assert!(!text.contains("loop.tail") && !text.contains("%n:"));

        // What the schedule asked for shows in the output.
        let lane = match spec.dtype {
            ElementType::I8 | ElementType::U8 => "i32",
            ElementType::Bit => "i64",
            _ => "f32",
        };
        let vector = format!(".{lane}x{}", schedule.width);
        // (A dimension below the width with a scalar tail is all scalar.)
        let vectorized = schedule.width > 1
            && (spec.elements() >= schedule.width as usize
                || schedule.tail != TailStrategy::Scalar);
        prop_assert_eq!(vectorized, text.contains(&vector), "{} {}", spec, schedule);
        let masked = count_ops(&f, |op| matches!(op, Op::LoadMasked { .. }));
        if schedule.tail != TailStrategy::Masked
            || spec.elements() % schedule.width as usize == 0
        {
            prop_assert_eq!(masked, 0, "{} {}", spec, schedule);
        }
        let prefetches = count_ops(&f, |op| matches!(op, Op::PrefetchRow { .. }));
        // One a row of the loop over rows; a tile of rows has a loop of
        // `rows` rows and the remainder loop of one.
        let rows = schedule.tile_rows as usize;
        let per_loop = if rows > 1 { rows + 1 } else { 1 };
        let want = if spec.shape.has_rows() && schedule.prefetch > 0 { per_loop } else { 0 };
        prop_assert_eq!(prefetches, want, "{} {}", spec, schedule);
        // Every float kernel has a product to fuse; integer kernels have
        // only the quantized epilogue's (and hamming none).
        if spec.dtype == ElementType::F32 {
            prop_assert_eq!(
                count_ops(&f, |op| matches!(op, Op::Fma(..))) > 0,
                fma,
                "{} {}", spec, schedule
            );
        } else if !spec.dtype.is_quantized() || !fma {
            prop_assert_eq!(count_ops(&f, |op| matches!(op, Op::Fma(..))), 0);
        }
    }
}

// A reference interpreter of the kernel IR.

#[derive(Debug, Clone, PartialEq)]
enum V {
    F(Vec<f32>),
    /// Integers of any width, one per lane (scalars have one lane).
    N(Vec<i64>),
    /// Buffer number and byte offset.
    P(usize, i64),
}

struct Machine {
    /// Buffers as bytes.
    mem: Vec<Vec<u8>>,
    prefetched: Vec<(usize, i64)>,
}

struct Frame<'a> {
    f: &'a Function,
    vals: HashMap<Value, V>,
}

impl Frame<'_> {
    fn get(&self, v: Value) -> &V {
        &self.vals[&v]
    }
    fn f32s(&self, v: Value) -> &[f32] {
        match self.get(v) {
            V::F(x) => x,
            other => panic!("{other:?} is not a float"),
        }
    }
    fn ints(&self, v: Value) -> &[i64] {
        match self.get(v) {
            V::N(x) => x,
            other => panic!("{other:?} is not an integer"),
        }
    }
    fn int(&self, v: Value) -> i64 {
        self.ints(v)[0]
    }
    fn bound(&self, b: Bound) -> i64 {
        match b {
            Bound::Const(c) => c,
            Bound::Value(v) => self.int(v),
        }
    }
    /// The buffer and first byte an address names.
    fn element(&self, a: &Address) -> (usize, i64) {
        let V::P(buf, off) = *self.get(a.ptr) else {
            panic!("not a pointer")
        };
        let index = a.index.map_or(0, |i| self.int(i)) + a.offset;
        (buf, off + index * a.elem.bytes())
    }
}

/// Wraps `x` to the width of `ty`'s lanes.
fn wrap(ty: Type, x: i64) -> i64 {
    if ty.scalar() == Type::I32 {
        x as i32 as i64
    } else {
        x
    }
}

impl Machine {
    fn read(&self, buf: usize, at: i64, n: i64) -> u64 {
        let b = &self.mem[buf];
        assert!(
            at >= 0 && (at + n) as usize <= b.len(),
            "read of bytes {at}..{} of buffer {buf} (length {})",
            at + n,
            b.len()
        );
        let mut word = [0u8; 8];
        word[..n as usize].copy_from_slice(&b[at as usize..(at + n) as usize]);
        u64::from_le_bytes(word)
    }

    /// Lane `k` of a load of `elem`s at byte `at`, as the value it widens to.
    fn lane(&self, elem: MemElem, ty: Type, buf: usize, at: i64, k: i64) -> V {
        let n = elem.bytes();
        let bits = self.read(buf, at + k * n, n);
        match (elem, ty.scalar()) {
            (MemElem::Native | MemElem::Meta, Type::F32) => V::F(vec![f32::from_bits(bits as u32)]),
            (MemElem::F16, _) => V::F(vec![hektor_kernels::f16::from_bits(bits as u16).to_f32()]),
            (MemElem::I8, _) => V::N(vec![bits as u8 as i8 as i64]),
            (MemElem::U8 | MemElem::U64, _) | (MemElem::Native, Type::U32) => {
                V::N(vec![bits as i64])
            }
            (e, t) => panic!("no load of {e:?} as {t}"),
        }
    }

    /// A load of `lanes` lanes of which the first `valid` are read.
    fn load(&self, a: &Address, fr: &Frame, ty: Type, valid: u32) -> V {
        let (buf, at) = fr.element(a);
        let mut fs = vec![];
        let mut ns = vec![];
        for k in 0..ty.lanes() as i64 {
            match (k < valid as i64, ty.is_float()) {
                (true, _) => match self.lane(a.elem, ty, buf, at, k) {
                    V::F(x) => fs.extend(x),
                    V::N(x) => ns.extend(x),
                    V::P(..) => unreachable!(),
                },
                (false, true) => fs.push(0.0),
                (false, false) => ns.push(0),
            }
        }
        if ty.is_float() {
            V::F(fs)
        } else {
            V::N(ns)
        }
    }

    /// Runs `insts`; returns the value of a `ret`, if one ran.
    fn block(&mut self, fr: &mut Frame, insts: &[Inst]) -> Option<Option<V>> {
        for inst in insts {
            match inst {
                Inst::Op { result, op } => {
                    let ty = result.map(|r| fr.f.ty(r));
                    let lanes = ty.map_or(1, Type::lanes) as usize;
                    let v = match op {
                        Op::FConst(c) => Some(V::F(vec![*c; lanes])),
                        Op::IConst(c) => Some(V::N(vec![*c; lanes])),
                        Op::Load(a) => {
                            let t = ty.unwrap();
                            Some(self.load(a, fr, t, t.lanes()))
                        }
                        Op::LoadMasked { addr, lanes: n } => {
                            Some(self.load(addr, fr, ty.unwrap(), *n))
                        }
                        Op::Store { addr, value } => {
                            let (buf, at) = fr.element(addr);
                            self.read(buf, at, 4);
                            let bytes = fr.f32s(*value)[0].to_le_bytes();
                            self.mem[buf][at as usize..at as usize + 4].copy_from_slice(&bytes);
                            None
                        }
                        Op::Binary(b, x, y) if b.is_float() => {
                            let (x, y) = (fr.f32s(*x), fr.f32s(*y));
                            Some(V::F(
                                x.iter()
                                    .zip(y)
                                    .map(|(a, c)| match b {
                                        BinOp::FAdd => a + c,
                                        BinOp::FSub => a - c,
                                        _ => a * c,
                                    })
                                    .collect(),
                            ))
                        }
                        Op::Binary(b, x, y) => {
                            let t = ty.unwrap();
                            let (x, y) = (fr.ints(*x), fr.ints(*y));
                            Some(V::N(
                                x.iter()
                                    .zip(y)
                                    .map(|(&a, &c)| {
                                        wrap(
                                            t,
                                            match b {
                                                BinOp::IAdd => a.wrapping_add(c),
                                                BinOp::ISub => a.wrapping_sub(c),
                                                BinOp::IMul => a.wrapping_mul(c),
                                                BinOp::Xor => a ^ c,
                                                _ => a.min(c),
                                            },
                                        )
                                    })
                                    .collect(),
                            ))
                        }
                        Op::Fma(a, b, c) => Some(V::F(
                            (0..lanes)
                                .map(|k| fr.f32s(*a)[k].mul_add(fr.f32s(*b)[k], fr.f32s(*c)[k]))
                                .collect(),
                        )),
                        Op::Splat(x) => Some(V::F(vec![fr.f32s(*x)[0]; lanes])),
                        Op::ReduceAdd(x) => Some(match fr.get(*x) {
                            V::F(v) => V::F(vec![v.iter().sum()]),
                            V::N(v) => V::N(vec![v
                                .iter()
                                .fold(0i64, |s, &e| wrap(ty.unwrap(), s.wrapping_add(e)))]),
                            V::P(..) => panic!("reduce_add of a pointer"),
                        }),
                        Op::Popcnt(x) => Some(V::N(
                            fr.ints(*x)
                                .iter()
                                .map(|&w| (w as u64).count_ones() as i64)
                                .collect(),
                        )),
                        Op::IToF(x) => Some(V::F(vec![fr.int(*x) as f32])),
                        Op::RowAddr {
                            base,
                            index,
                            stride,
                            elem,
                        } => {
                            let V::P(buf, off) = *fr.get(*base) else {
                                panic!("not a pointer")
                            };
                            Some(V::P(
                                buf,
                                off + fr.int(*index) * fr.int(*stride) * elem.bytes(),
                            ))
                        }
                        Op::PrefetchRow { ptr, .. } => {
                            let V::P(buf, off) = *fr.get(*ptr) else {
                                panic!("not a pointer")
                            };
                            // Prefetching is harmless anywhere, but the
                            // clamp means it only ever names a real row.
                            self.read(buf, off, 1);
                            self.prefetched.push((buf, off));
                            None
                        }
                        Op::CosineDistance {
                            dot,
                            norm_a,
                            norm_b,
                        } => {
                            let (d, na, nb) = (
                                fr.f32s(*dot)[0] as f64,
                                fr.f32s(*norm_a)[0],
                                fr.f32s(*norm_b)[0],
                            );
                            let v = if na < f32::MIN_POSITIVE || nb < f32::MIN_POSITIVE {
                                1.0
                            } else {
                                1.0 - d / ((na as f64).sqrt() * (nb as f64).sqrt())
                            };
                            Some(V::F(vec![v as f32]))
                        }
                        Op::Return(v) => return Some(v.map(|v| fr.get(v).clone())),
                    };
                    if let (Some(r), Some(v)) = (result, v) {
                        fr.vals.insert(*r, v);
                    }
                }
                Inst::Loop(l) => {
                    let (start, end) = (fr.bound(l.start), fr.bound(l.end));
                    let mut carried: Vec<V> = l.inits.iter().map(|&v| fr.get(v).clone()).collect();
                    let mut iv = start;
                    while iv < end {
                        fr.vals.insert(l.iv, V::N(vec![iv]));
                        for (&a, v) in l.args.iter().zip(carried) {
                            fr.vals.insert(a, v);
                        }
                        if let Some(r) = self.block(fr, &l.body) {
                            return Some(r);
                        }
                        carried = l.yields.iter().map(|&v| fr.get(v).clone()).collect();
                        iv += l.step;
                    }
                    for (&r, v) in l.results.iter().zip(carried) {
                        fr.vals.insert(r, v);
                    }
                }
            }
        }
        None
    }
}

/// What a kernel computed: its return value and its `out` buffer.
#[derive(Debug, PartialEq)]
struct Outcome {
    ret: Option<V>,
    out: Vec<f32>,
}

/// One stored vector (query or row) as bytes, `row_len` elements long:
/// small integers as f32, small codes with integer metadata, or random bit
/// words; zero wherever the layout says so.
fn vector(spec: &KernelSpec, schedule: &Schedule, next: &mut dyn FnMut() -> u64) -> Vec<u8> {
    let dim = spec.dim;
    let row_len = spec.row_len(schedule);
    match spec.dtype {
        ElementType::I8 | ElementType::U8 => {
            let mut row = vec![0u8; row_len];
            let mut sum = 0i64;
            for byte in row.iter_mut().take(dim) {
                let c = if spec.dtype == ElementType::I8 {
                    (next() % 17) as i64 - 8
                } else {
                    (next() % 17) as i64
                };
                sum += c;
                *byte = c as u8;
            }
            // Integer offset, scale and norm: the epilogue is exact too.
            let meta = [
                (next() % 5) as f32 - 2.0,
                (1 + next() % 2) as f32,
                sum as f32,
                (next() % 1000) as f32,
            ];
            let at = spec.meta_offset();
            for (k, m) in meta.iter().enumerate() {
                row[at + 4 * k..at + 4 * k + 4].copy_from_slice(&m.to_le_bytes());
            }
            row
        }
        ElementType::Bit => {
            let words = spec.elements();
            (0..row_len)
                .flat_map(|k| {
                    let mut w = if k < words { next() } else { 0 };
                    if k + 1 == words && !dim.is_multiple_of(64) {
                        w &= (1u64 << (dim % 64)) - 1;
                    }
                    w.to_le_bytes()
                })
                .collect()
        }
        _ => (0..row_len)
            .flat_map(|k| {
                let x = if k < dim {
                    (next() % 17) as f32 - 8.0
                } else {
                    0.0
                };
                x.to_le_bytes()
            })
            .collect(),
    }
}

/// Runs `f` (naive or optimized) on data made from `seed`. Buffers are
/// exactly as long as the ABI says: `row_len` elements per vector (rows
/// padded to a multiple of the width only under `tail=padded`), `count`
/// ids and results.
fn execute(f: &Function, spec: &KernelSpec, schedule: &Schedule, seed: u64) -> Outcome {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let len = spec.row_len(schedule);
    let rows = 1 + (next() % 5) as usize;
    let count = (next() % 7) as usize;
    let mut mem = vec![];
    let mut env: HashMap<&str, V> = HashMap::new();
    let mut buffer = |name: &'static str, data: Vec<u8>, env: &mut HashMap<&str, V>| {
        mem.push(data);
        env.insert(name, V::P(mem.len() - 1, 0));
    };
    if spec.shape.has_rows() {
        buffer("q", vector(spec, schedule, &mut next), &mut env);
        let base = (0..rows)
            .flat_map(|_| vector(spec, schedule, &mut next))
            .collect();
        buffer("base", base, &mut env);
        let ids = (0..count)
            .flat_map(|_| ((next() % rows as u64) as u32).to_le_bytes())
            .collect();
        buffer("ids", ids, &mut env);
        let n = if spec.shape == Shape::Gather {
            count
        } else {
            rows
        };
        let out = (0..n).flat_map(|_| f32::NAN.to_le_bytes()).collect();
        buffer("out", out, &mut env);
        env.insert("stride", V::N(vec![len as i64]));
        env.insert("count", V::N(vec![n as i64]));
    } else {
        buffer("a", vector(spec, schedule, &mut next), &mut env);
        buffer("b", vector(spec, schedule, &mut next), &mut env);
    }
    env.insert(build::DIM_PARAM, V::N(vec![spec.elements() as i64]));
    let out_buf = match env.get("out") {
        Some(V::P(b, _)) => Some(*b),
        _ => None,
    };
    let mut fr = Frame {
        f,
        vals: HashMap::new(),
    };
    for &p in &f.params {
        let name = f.name_of(p).expect("parameters are named");
        fr.vals.insert(p, env[name].clone());
    }
    let mut m = Machine {
        mem,
        prefetched: vec![],
    };
    let ret = m.block(&mut fr, &f.body).expect("the kernel returns");
    let out = out_buf.map_or(vec![], |b| {
        m.mem[b]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    });
    Outcome { ret, out }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pipelines_keep_the_result(
        (spec, schedule, fma) in spec_and_schedule(),
        seed in any::<u64>(),
    ) {
        let naive = build::kernel_ir(&spec);
        let mut f = naive.clone();
        pipeline_for(&spec, &schedule, TargetCaps { fma }).run(&mut f, |_, _| {}).unwrap();
        let want = execute(&naive, &spec, &schedule, seed);
        let got = execute(&f, &spec, &schedule, seed);
        prop_assert_eq!(got, want, "{} {}\n{}", spec, schedule, print::print(&f));
    }
}
