//! For any kernel and any valid schedule, the pipeline `pipeline_for`
//! builds runs, and what it produces is valid, reads back from its text,
//! and is fully lowered: no `loop.tail` left and no `%n` parameter. And it
//! computes what the naive kernel computes: a small interpreter runs both
//! on small-integer data (every sum exact in f32, whatever the order),
//! reading no element outside the buffers the kernel ABI describes.

use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape, TailStrategy};
use hektor_passes::ir::{walk, Address, BinOp, Bound, Function, Inst, Op, Type, Value};
use hektor_passes::pass::{pipeline_for, TargetCaps};
use hektor_passes::{build, parse, print, verify};
use proptest::prelude::*;
use std::collections::HashMap;

fn spec_and_schedule() -> impl Strategy<Value = (KernelSpec, Schedule, bool)> {
    (
        prop::sample::select(Metric::ALL.to_vec()),
        prop::sample::select(Shape::ALL.to_vec()),
        1usize..=300,
        prop::sample::select(vec![1u32, 2, 4, 8, 16]),
        // 0 stands for `full`.
        0u32..=8,
        1u32..=8,
        0u32..=8,
        prop::sample::select(vec![
            TailStrategy::Scalar,
            TailStrategy::Masked,
            TailStrategy::Padded,
        ]),
        any::<bool>(),
    )
        .prop_map(
            |(metric, shape, dim, width, unroll, acc, prefetch, tail, fma)| {
                let spec = KernelSpec::new(metric, ElementType::F32, dim, shape).unwrap();
                let unroll = match unroll {
                    // Full unrolling is for short vectors only.
                    0 if dim <= 64 => "full".to_string(),
                    0 => "1".to_string(),
                    u => u.to_string(),
                };
                let tail = match tail {
                    TailStrategy::Masked if width == 1 => TailStrategy::Scalar,
                    t => t,
                };
                let schedule: Schedule = format!(
                    "width={width},unroll={unroll},acc={acc},prefetch={prefetch},tail={}",
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
        let vector = format!(".f32x{}", schedule.width);
        // (A dimension below the width with a scalar tail is all scalar.)
        let vectorized = schedule.width > 1
            && (spec.dim >= schedule.width as usize || schedule.tail != TailStrategy::Scalar);
        prop_assert_eq!(vectorized, text.contains(&vector), "{} {}", spec, schedule);
        let masked = count_ops(&f, |op| matches!(op, Op::LoadMasked { .. }));
        if schedule.tail != TailStrategy::Masked || spec.dim % schedule.width as usize == 0 {
            prop_assert_eq!(masked, 0, "{} {}", spec, schedule);
        }
        let prefetches = count_ops(&f, |op| matches!(op, Op::PrefetchRow { .. }));
        let want = usize::from(spec.shape.has_rows() && schedule.prefetch > 0);
        prop_assert_eq!(prefetches, want, "{} {}", spec, schedule);
        prop_assert_eq!(
            count_ops(&f, |op| matches!(op, Op::Fma(..))) > 0,
            fma,
            "{} {}", spec, schedule
        );
    }
}

// A reference interpreter of the kernel IR.

#[derive(Debug, Clone, PartialEq)]
enum V {
    F(Vec<f32>),
    I(i64),
    /// Buffer number and element offset.
    P(usize, i64),
}

struct Machine {
    /// Buffers as raw 32-bit elements (f32 bits, or u32 row ids).
    mem: Vec<Vec<u32>>,
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
    fn int(&self, v: Value) -> i64 {
        match self.get(v) {
            V::I(i) => *i,
            other => panic!("{other:?} is not an integer"),
        }
    }
    fn bound(&self, b: Bound) -> i64 {
        match b {
            Bound::Const(c) => c,
            Bound::Value(v) => self.int(v),
        }
    }
    /// The buffer and first element an address names.
    fn element(&self, a: &Address) -> (usize, i64) {
        let V::P(buf, off) = *self.get(a.ptr) else {
            panic!("not a pointer")
        };
        (buf, off + a.index.map_or(0, |i| self.int(i)) + a.offset)
    }
}

impl Machine {
    fn read(&self, buf: usize, at: i64) -> u32 {
        let b = &self.mem[buf];
        assert!(
            at >= 0 && (at as usize) < b.len(),
            "read of element {at} of buffer {buf} (length {})",
            b.len()
        );
        b[at as usize]
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
                        Op::IConst(c) => Some(V::I(*c)),
                        Op::Load(a) => {
                            let (buf, at) = fr.element(a);
                            Some(if ty == Some(Type::U32) {
                                V::I(self.read(buf, at) as i64)
                            } else {
                                V::F(
                                    (0..lanes as i64)
                                        .map(|k| f32::from_bits(self.read(buf, at + k)))
                                        .collect(),
                                )
                            })
                        }
                        Op::LoadMasked { addr, lanes: n } => {
                            let (buf, at) = fr.element(addr);
                            Some(V::F(
                                (0..lanes as i64)
                                    .map(|k| {
                                        if k < *n as i64 {
                                            f32::from_bits(self.read(buf, at + k))
                                        } else {
                                            0.0
                                        }
                                    })
                                    .collect(),
                            ))
                        }
                        Op::Store { addr, value } => {
                            let (buf, at) = fr.element(addr);
                            self.read(buf, at);
                            self.mem[buf][at as usize] = fr.f32s(*value)[0].to_bits();
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
                            let (x, y) = (fr.int(*x), fr.int(*y));
                            Some(V::I(match b {
                                BinOp::IAdd => x + y,
                                BinOp::ISub => x - y,
                                _ => x.min(y),
                            }))
                        }
                        Op::Fma(a, b, c) => Some(V::F(
                            (0..lanes)
                                .map(|k| fr.f32s(*a)[k].mul_add(fr.f32s(*b)[k], fr.f32s(*c)[k]))
                                .collect(),
                        )),
                        Op::Splat(x) => Some(V::F(vec![fr.f32s(*x)[0]; lanes])),
                        Op::ReduceAdd(x) => Some(V::F(vec![fr.f32s(*x).iter().sum()])),
                        Op::RowAddr {
                            base,
                            index,
                            stride,
                            ..
                        } => {
                            let V::P(buf, off) = *fr.get(*base) else {
                                panic!("not a pointer")
                            };
                            Some(V::P(buf, off + fr.int(*index) * fr.int(*stride)))
                        }
                        Op::PrefetchRow { ptr, .. } => {
                            let V::P(buf, off) = *fr.get(*ptr) else {
                                panic!("not a pointer")
                            };
                            // Prefetching is harmless anywhere, but the
                            // clamp means it only ever names a real row.
                            self.read(buf, off);
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
                        fr.vals.insert(l.iv, V::I(iv));
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

/// Runs `f` (naive or optimized) on data made from `seed`. Buffers are
/// exactly as long as the ABI says: `dim` elements (rows padded to a
/// multiple of the width only under `tail=padded`), `count` ids and results.
fn execute(f: &Function, spec: &KernelSpec, schedule: &Schedule, seed: u64) -> Outcome {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let dim = spec.dim;
    let len = schedule.padded_len(dim);
    // Small integers: every sum of products is exact in f32.
    let vector = |next: &mut dyn FnMut() -> u64| -> Vec<u32> {
        (0..len)
            .map(|k| {
                let x = if k < dim {
                    (next() % 17) as f32 - 8.0
                } else {
                    0.0
                };
                x.to_bits()
            })
            .collect()
    };
    let rows = 1 + (next() % 5) as usize;
    let count = (next() % 7) as usize;
    let mut mem = vec![];
    let mut env: HashMap<&str, V> = HashMap::new();
    let mut buffer = |name: &'static str, data: Vec<u32>, env: &mut HashMap<&str, V>| {
        mem.push(data);
        env.insert(name, V::P(mem.len() - 1, 0));
    };
    if spec.shape.has_rows() {
        buffer("q", vector(&mut next), &mut env);
        let base = (0..rows).flat_map(|_| vector(&mut next)).collect();
        buffer("base", base, &mut env);
        let ids = (0..count).map(|_| (next() % rows as u64) as u32).collect();
        buffer("ids", ids, &mut env);
        let n = if spec.shape == Shape::Gather {
            count
        } else {
            rows
        };
        buffer("out", vec![f32::NAN.to_bits(); n], &mut env);
        env.insert("stride", V::I(len as i64));
        env.insert("count", V::I(n as i64));
    } else {
        buffer("a", vector(&mut next), &mut env);
        buffer("b", vector(&mut next), &mut env);
    }
    env.insert(build::DIM_PARAM, V::I(dim as i64));
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
        m.mem[b].iter().map(|&x| f32::from_bits(x)).collect()
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
