//! The text form: printing and parsing round-trip for every kernel the
//! front end and the passes produce; malformed text gives a `ParseError`
//! on the right line; malformed IR gives a `VerifyError`.

use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};
use hektor_passes::ir::{Address, BinOp, Bound, Function, Inst, Loop, Op, Type};
use hektor_passes::pass::{pipeline_for, TargetCaps};
use hektor_passes::{build, parse, print, verify, ParseError};

/// `print(parse(print(f))) == print(f)`, and the reparsed kernel verifies.
fn assert_round_trips(f: &Function, context: &str) {
    let text = print::print(f);
    let g = parse::parse(&text).unwrap_or_else(|e| panic!("{context}: {e}\n{text}"));
    assert_eq!(print::print(&g), text, "{context}: text changed");
    verify::verify(&g).unwrap_or_else(|e| panic!("{context}: reparsed IR: {e}\n{text}"));
}

fn specs(dims: &[usize]) -> Vec<KernelSpec> {
    let mut out = vec![];
    for dtype in [ElementType::F32, ElementType::I8, ElementType::U8] {
        for metric in Metric::ALL {
            for shape in Shape::ALL {
                for &dim in dims {
                    out.push(KernelSpec::new(metric, dtype, dim, shape).unwrap());
                }
            }
        }
    }
    // Bit vectors: `dim` counts bits, so these are 1..=12 words.
    for shape in Shape::ALL {
        for &dim in dims {
            let spec = KernelSpec::new(Metric::Hamming, ElementType::Bit, dim * 23, shape);
            out.push(spec.unwrap());
        }
    }
    out
}

#[test]
fn front_end_kernels_round_trip() {
    for spec in specs(&[1, 3, 10, 768]) {
        let f = build::kernel_ir(&spec);
        verify::verify(&f).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_round_trips(&f, &spec.to_string());
    }
}

#[test]
fn every_intermediate_kernel_round_trips() {
    let schedules = [
        "",
        "width=4,acc=2,unroll=1,tail=masked",
        "width=8,unroll=full,acc=1,prefetch=0,tail=padded",
        "width=1,unroll=3,acc=3,prefetch=2,tail=scalar",
        "width=16,unroll=2,acc=8,prefetch=8,tail=masked",
        "width=2,unroll=8,acc=5,prefetch=1,tail=scalar",
        "width=4,prefetch=3,pflines=1",
        "width=4,prefetch=3,pflines=0",
    ];
    let mut checked = 0;
    for spec in specs(&[1, 7, 10, 13, 33]) {
        for schedule in schedules {
            let schedule: Schedule = schedule.parse().unwrap();
            let pm = pipeline_for(&spec, &schedule, TargetCaps { fma: true });
            let mut f = build::kernel_ir(&spec);
            pm.run(&mut f, |pass, f| {
                verify::verify(f).unwrap();
                assert_round_trips(f, &format!("{spec} {schedule}, after {pass}"));
                checked += 1;
            })
            .unwrap_or_else(|e| panic!("{spec} {schedule}: {e}"));
        }
    }
    assert!(checked > 1000, "only {checked} kernels checked");
}

#[test]
fn hand_written_text_reads_back_as_written() {
    // Exactly the printer's form: every construct at least once.
    let text = "\
kernel @everything(%a: ptr, %b: ptr, %ids: ptr, %stride: i64, %count: i64, %out: ptr) -> f32 {
  %zero = fconst.f32 0.0
  %vzero = fconst.f32x8 -0.0
  %one = iconst 1
  %last = isub %count, %one
  %v, %s = loop %i = 0 to 16 step 8 iter(%acc = %vzero, %acc2 = %zero) {
    %x = load.f32x8 %a[%i]
    %y = load.f32x8 %b[%i + 3]
    %z = load.f32 %b[%i - 2]
    %p = fma %x, %y, %acc
    %q = fadd %acc2, %z
    yield %p, %q
  }
  %h = reduce_add %v
  %m = load_masked.f32x8 %a[16], lanes 5
  %w = splat.f32x8 %h
  %mw = fmul %m, %w
  %r = reduce_add %mw
  %rs = fsub %r, %s
  loop %j = 0 to %count step 1 {
    %k = imin %j, %last
    %id = load.u32 %ids[%k]
    %row = row_addr %a, %id, %stride
    prefetch_row %row, 64
    %first = load.f32 %row[0]
    %d = cosine_distance %first, %rs, %h
    store %out[%j], %d
  }
  %t = loop.tail %i2 = 3 to %count step 1 iter(%acc3 = %rs) {
    %e = load.f32 %a[-1]
    %n2 = iadd %i2, %one
    %f = fadd %acc3, %e
    yield %f
  }
  ret %t
}
";
    let f = parse::parse(text).unwrap();
    verify::verify(&f).unwrap();
    assert_eq!(print::print(&f), text);
}

#[test]
fn comments_blank_lines_and_numbers_are_not_kept() {
    let text = "
; a comment before the kernel
kernel @k(%a: ptr) -> f32 {   ; trailing comment

  %7 = fconst.f32 2      ; an integer literal is a float too
  %x = load.f32 %a[0]
  %3 = fmul %x, %7
  ret %3
}
; and after it
";
    let f = parse::parse(text).unwrap();
    verify::verify(&f).unwrap();
    // Numbered values are renumbered in order of definition.
    assert_eq!(
        print::print(&f),
        "kernel @k(%a: ptr) -> f32 {\n  %0 = fconst.f32 2.0\n  %x = load.f32 %a[0]\n  %1 = fmul %x, %0\n  ret %1\n}\n"
    );
}

#[test]
fn special_float_constants_round_trip() {
    for c in [
        0.0f32,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1e-7,
        -3.25e12,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        f32::from_bits(1), // the smallest subnormal
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ] {
        let mut f = Function::new("c");
        f.ret = Some(Type::F32);
        let v = f.new_value(Type::F32, Some("c"));
        f.body = vec![
            Inst::Op {
                result: Some(v),
                op: Op::FConst(c),
            },
            Inst::Op {
                result: None,
                op: Op::Return(Some(v)),
            },
        ];
        let text = print::print(&f);
        let g = parse::parse(&text).unwrap_or_else(|e| panic!("{c:?}: {e}\n{text}"));
        let Inst::Op {
            op: Op::FConst(back),
            ..
        } = g.body[0]
        else {
            panic!("{c:?}: not an fconst")
        };
        assert_eq!(back.to_bits(), c.to_bits(), "{c:?} read back as {back:?}");
        assert_eq!(print::print(&g), text);
    }
}

#[test]
fn integer_extremes_round_trip() {
    let text = "kernel @k(%a: ptr) -> f32 {\n  %big = iconst 9223372036854775807\n  %small = iconst -9223372036854775808\n  %x = load.f32 %a[%big - 9223372036854775807]\n  ret %x\n}\n";
    let f = parse::parse(text).unwrap();
    verify::verify(&f).unwrap();
    assert_eq!(print::print(&f), text);
}

#[test]
fn duplicate_and_unreadable_names_are_numbered() {
    // Passes copy names (`fresh_like`): the printer keeps the first and
    // numbers the rest. Names the parser would not read back as the same
    // name (empty, all digits, other characters) are numbered too.
    let mut f = Function::new("names");
    let a = f.new_value(Type::Ptr, Some("a"));
    f.params = vec![a];
    f.ret = Some(Type::F32);
    let names = [Some("1"), Some("x"), Some("x"), None, Some("a-b"), Some("")];
    let mut prev = None;
    for (k, name) in names.into_iter().enumerate() {
        let v = f.new_value(Type::F32, name);
        let op = match prev {
            None => Op::Load(Address {
                ptr: a,
                index: None,
                offset: k as i64,
                elem: Default::default(),
            }),
            Some(p) => Op::Binary(BinOp::FAdd, p, p),
        };
        f.body.push(Inst::Op {
            result: Some(v),
            op,
        });
        prev = Some(v);
    }
    f.body.push(Inst::Op {
        result: None,
        op: Op::Return(prev),
    });
    verify::verify(&f).unwrap();
    let text = print::print(&f);
    assert_eq!(
        text,
        "kernel @names(%a: ptr) -> f32 {
  %0 = load.f32 %a[0]
  %x = fadd %0, %0
  %1 = fadd %x, %x
  %2 = fadd %1, %1
  %3 = fadd %2, %2
  %4 = fadd %3, %3
  ret %4
}
"
    );
    assert_round_trips(&f, "names");
}

#[test]
fn printing_broken_ir_does_not_panic() {
    let mut f = Function::new("broken");
    f.ret = Some(Type::F32);
    let ghost = f.new_value(Type::F32, Some("ghost"));
    f.body = vec![Inst::Op {
        result: None,
        op: Op::Return(Some(ghost)),
    }];
    assert!(print::print(&f).contains("ret %<undefined v0>"));
    assert!(verify::verify(&f).is_err());
}

// Parse errors: each names the right line and does not panic.

fn parse_err(text: &str) -> ParseError {
    match parse::parse(text) {
        Ok(f) => panic!("parsed:\n{}", print::print(&f)),
        Err(e) => e,
    }
}

/// A kernel whose line 4 is `bad` (line 1 is the header).
fn with_line_4(bad: &str) -> String {
    format!(
        "kernel @k(%a: ptr, %n: i64) -> f32 {{\n  %zero = fconst.f32 0.0\n  %x = load.f32 %a[0]\n  {bad}\n  ret %x\n}}\n"
    )
}

#[track_caller]
fn assert_parse_error(text: &str, line: usize, message: &str) {
    let e = parse_err(text);
    assert_eq!(e.line, line, "wrong line for `{e}` in\n{text}");
    assert!(
        e.message.contains(message),
        "`{}` does not contain `{message}`",
        e.message
    );
    assert_eq!(e.to_string(), format!("line {line}: {}", e.message));
}

#[test]
fn unknown_instruction() {
    assert_parse_error(
        &with_line_4("%y = frobnicate %x, %x"),
        4,
        "unknown instruction `frobnicate`",
    );
    assert_parse_error(&with_line_4("fdiv %x, %x"), 4, "unknown instruction `fdiv`");
}

#[test]
fn use_before_definition() {
    assert_parse_error(
        &with_line_4("%y = fadd %x, %later"),
        4,
        "%later is used before it is defined",
    );
    // A loop's own result is not visible in its init.
    assert_parse_error(
        "kernel @k(%a: ptr) -> f32 {\n  %zero = fconst.f32 0.0\n  %s = loop %i = 0 to 4 step 1 iter(%acc = %s) {\n    yield %acc\n  }\n  ret %s\n}\n",
        3,
        "%s is used before it is defined",
    );
    // Nor in an address, or as a loop bound.
    assert_parse_error(&with_line_4("%y = load.f32 %a[%i]"), 4, "%i is used");
    assert_parse_error(
        &with_line_4("loop %i = 0 to %m step 1 {"),
        4,
        "%m is used before it is defined",
    );
}

#[test]
fn value_defined_twice() {
    assert_parse_error(
        &with_line_4("%x = fadd %zero, %zero"),
        4,
        "%x is defined twice",
    );
    assert_parse_error(
        "kernel @k(%a: ptr, %a: ptr) {\n  ret\n}\n",
        1,
        "%a is defined twice",
    );
    // Names are unique in the whole kernel, not per loop body.
    assert_parse_error(
        "kernel @k(%a: ptr) {\n  loop %i = 0 to 4 step 1 {\n    %x = load.f32 %a[%i]\n  }\n  loop %i2 = 0 to 4 step 1 {\n    %x = load.f32 %a[%i2]\n  }\n  ret\n}\n",
        6,
        "%x is defined twice",
    );
}

#[test]
fn missing_closing_brace() {
    // The loop's `}` is missing: the kernel's is taken for it, and the text
    // ends on line 7 with the kernel still open.
    assert_parse_error(
        "kernel @k(%a: ptr) -> f32 {\n  %zero = fconst.f32 0.0\n  %s = loop %i = 0 to 4 step 1 iter(%acc = %zero) {\n    %x = load.f32 %a[%i]\n    %next = fadd %acc, %x\n    yield %next\n}\n",
        7,
        "missing `}`",
    );
    assert_parse_error("kernel @k(%a: ptr) {\n  ret\n", 2, "missing `}`");
    assert_parse_error("kernel @k() {\n", 1, "missing `}`");
    // And one too many.
    assert_parse_error(
        "kernel @k() {\n  ret\n}\n}\n",
        4,
        "text after the end of the kernel",
    );
}

#[test]
fn wrong_type_suffix() {
    assert_parse_error(&with_line_4("%y = load.f33 %a[1]"), 4, "unknown type `f33`");
    assert_parse_error(
        &with_line_4("%y = splat.f32x3 %x"),
        4,
        "unknown type `f32x3`",
    );
    assert_parse_error(&with_line_4("%y = fconst.f32x1 1.0"), 4, "unknown type");
    assert_parse_error(&with_line_4("%y = load %a[1]"), 4, "needs a type suffix");
    assert_parse_error(
        "kernel @k(%a: pointer) {\n  ret\n}\n",
        1,
        "unknown type `pointer`",
    );
    assert_parse_error("kernel @k() -> f64 {\n  ret\n}\n", 1, "unknown type `f64`");
}

#[test]
fn bad_number() {
    assert_parse_error(&with_line_4("%i = iconst 12abc"), 4, "bad number `12abc`");
    assert_parse_error(
        &with_line_4("%y = fconst.f32 1.2.3"),
        4,
        "bad number `1.2.3`",
    );
    assert_parse_error(
        &with_line_4("%y = load.f32 %a[0x10]"),
        4,
        "bad number `0x10`",
    );
    // Well-formed numbers where they do not belong.
    assert_parse_error(&with_line_4("%i = iconst 1.5"), 4, "expected an integer");
    assert_parse_error(
        &with_line_4("%y = load_masked.f32x4 %a[0], lanes -1"),
        4,
        "lanes out of range",
    );
    assert_parse_error(
        &with_line_4("loop %i = 0 to 4 step 0 {"),
        4,
        "loop step must be positive",
    );
}

#[test]
fn other_malformed_lines() {
    assert_parse_error(&with_line_4("%y = fadd %x"), 4, "unexpected end of line");
    assert_parse_error(&with_line_4("%y = fadd %x, %x, %x"), 4, "at end of line");
    assert_parse_error(
        &with_line_4("fconst.f32 1.0"),
        4,
        "produces a value: name it",
    );
    assert_parse_error(&with_line_4("%y = store %a[0], %x"), 4, "does not produce");
    assert_parse_error(
        &with_line_4("%y = load.f32 %a[0] # hi"),
        4,
        "unexpected character `#`",
    );
    assert_parse_error(&with_line_4("yield %x"), 5, "`yield` must be the last line");
    assert_parse_error(
        "kernel @k(%a: ptr) -> f32 {\n  %zero = fconst.f32 0.0\n  %s, %t = loop %i = 0 to 4 step 1 iter(%acc = %zero) {\n    yield %acc\n  }\n  ret %s\n}\n",
        3,
        "1 iter argument(s) but 2 result(s)",
    );
    assert_parse_error("fn @k() {\n}\n", 1, "expected `kernel`");
    assert!(parse_err("; nothing but a comment\n")
        .message
        .contains("missing `}`"));
}

// Verifier errors: text that parses but is not valid IR.

#[track_caller]
fn assert_invalid(text: &str, message: &str) {
    let f = parse::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let e = verify::verify(&f).expect_err("verified");
    assert!(
        e.to_string().contains(message),
        "`{e}` does not contain `{message}`"
    );
}

#[test]
fn type_mismatch() {
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %x = load.f32 %a[0]\n  %v = load.f32x4 %a[0]\n  %s = fadd %x, %v\n  ret %s\n}\n",
        "fadd mixes f32 and f32x4",
    );
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %x = load.f32 %a[0]\n  %v = load.f32x4 %a[0]\n  %s = fma %x, %x, %v\n  ret %x\n}\n",
        "%x has type f32, expected f32x4",
    );
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %one = iconst 1\n  %x = load.f32 %a[0]\n  %s = fadd %one, %one\n  ret %x\n}\n",
        "fadd cannot operate on i64",
    );
    assert_invalid(
        "kernel @k(%a: ptr, %out: ptr) {\n  %v = load.f32x4 %a[0]\n  store %out[0], %v\n  ret\n}\n",
        "%v has type f32x4, expected f32",
    );
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %v = load_masked.f32x4 %a[0], lanes 4\n  %s = reduce_add %v\n  ret %s\n}\n",
        "load_masked of 4 lanes must produce a wider vector",
    );
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %v = load.f32x4 %a[0]\n  ret %v\n}\n",
        "%v has type f32x4, expected f32",
    );
    // A loop whose yield does not match its iter argument.
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %zero = fconst.f32 0.0\n  %s = loop %i = 0 to 4 step 1 iter(%acc = %zero) {\n    %v = load.f32x4 %a[%i]\n    yield %v\n  }\n  ret %s\n}\n",
        "%v has type f32x4, expected f32",
    );
}

#[test]
fn use_out_of_scope() {
    // %x is defined in the loop body and read after the loop.
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %zero = fconst.f32 0.0\n  %s = loop %i = 0 to 4 step 1 iter(%acc = %zero) {\n    %x = load.f32 %a[%i]\n    %next = fadd %acc, %x\n    yield %next\n  }\n  %t = fadd %s, %x\n  ret %t\n}\n",
        "%x is used where it is not defined",
    );
    // So is the induction variable.
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  loop %i = 0 to 4 step 1 {\n  }\n  %x = load.f32 %a[%i]\n  ret %x\n}\n",
        "%i is used where it is not defined",
    );
}

#[test]
fn missing_ret() {
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %x = load.f32 %a[0]\n}\n",
        "the kernel never returns",
    );
    assert_invalid("kernel @k() {\n}\n", "the kernel never returns");
    // `ret` must end its block and match the return type.
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  %x = load.f32 %a[0]\n  ret %x\n  %y = load.f32 %a[1]\n}\n",
        "`ret` must be the last instruction",
    );
    assert_invalid(
        "kernel @k(%a: ptr) -> f32 {\n  ret\n}\n",
        "`ret` does not match the kernel's return type",
    );
}

#[test]
fn verifier_checks_loops_built_by_hand() {
    // What the parser cannot express: a loop whose yields are missing.
    let mut f = Function::new("k");
    f.ret = Some(Type::F32);
    let zero = f.new_value(Type::F32, None);
    let iv = f.new_value(Type::I64, None);
    let acc = f.new_value(Type::F32, None);
    let result = f.new_value(Type::F32, None);
    f.body = vec![
        Inst::Op {
            result: Some(zero),
            op: Op::FConst(0.0),
        },
        Inst::Loop(Loop {
            iv,
            start: Bound::Const(0),
            end: Bound::Const(4),
            step: 1,
            tail: false,
            args: vec![acc],
            inits: vec![zero],
            results: vec![result],
            body: vec![],
            yields: vec![],
        }),
        Inst::Op {
            result: None,
            op: Op::Return(Some(result)),
        },
    ];
    let e = verify::verify(&f).unwrap_err();
    assert!(
        e.to_string()
            .contains("1 args, 1 inits, 0 yields, 1 results"),
        "{e}"
    );
    // A value defined twice (the same Value in two places).
    let Inst::Loop(l) = &mut f.body[1] else {
        unreachable!()
    };
    l.yields = vec![acc];
    l.results = vec![zero];
    f.body[2] = Inst::Op {
        result: None,
        op: Op::Return(Some(zero)),
    };
    let e = verify::verify(&f).unwrap_err();
    assert!(e.to_string().contains("is defined twice"), "{e}");
}
