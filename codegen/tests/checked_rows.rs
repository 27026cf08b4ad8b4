//! Rows checked once (`Kernel::check_row`) and then used in many
//! distances (`Kernel::pair_checked`): the check refuses exactly what the
//! per-call checks of `Kernel::pair` refuse, checked rows give the same
//! distances, and a row checked for one layout is refused by a kernel of
//! another, but accepted by every kernel of the same layout (another metric,
//! another tier).

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::{compile, Backend, CallError, CompileOptions, Kernel};
use hektor_kernels::quant::{self, META_BYTES};
use hektor_kernels::{reference, Element, KernelSpec, Schedule};
use std::mem::discriminant;

fn kernel_on(backend: &dyn Backend, spec: &str, schedule: &str) -> Kernel {
    let spec: KernelSpec = spec.parse().unwrap();
    let schedule = Schedule::default_for(&spec)
        .with_overrides(schedule)
        .unwrap();
    compile(&spec, &schedule, backend, CompileOptions::default())
        .unwrap_or_else(|e| panic!("{spec} ({schedule}): {e}"))
        .kernel
}

fn kernel(spec: &str, schedule: &str) -> Kernel {
    kernel_on(&CraneliftBackend::host().unwrap(), spec, schedule)
}

/// `check_row` accepts `good` and every row `pair` accepts beside it, and
/// refuses each of `bad` with the error `pair` gives for it.
fn refuses_what_pair_refuses<T: Element>(k: &Kernel, good: &[T], bad: &[Vec<T>]) {
    k.check_row(good).expect("a valid row");
    for row in bad {
        let per_call = k.pair(good, row).expect_err("pair must refuse it");
        let Err(once) = k.check_row(row) else {
            panic!(
                "{}: check_row accepted a row pair refuses ({per_call})",
                k.spec()
            );
        };
        assert_eq!(
            discriminant(&per_call),
            discriminant(&once),
            "{}: pair says `{per_call}`, check_row `{once}`",
            k.spec()
        );
    }
}

/// Every pair of `rows` through the checked call gives `pair`'s distance.
fn same_distances<T: Element>(k: &Kernel, rows: &[Vec<T>]) {
    let checked: Vec<_> = rows.iter().map(|r| k.check_row(r).unwrap()).collect();
    for (a, ca) in rows.iter().zip(&checked) {
        for (b, cb) in rows.iter().zip(&checked) {
            let want = k.pair(a, b).unwrap();
            let got = k.pair_checked(*ca, *cb).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{}", k.spec());
        }
    }
}

fn f32_rows(n: usize, len: usize, dim: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|r| {
            let mut v: Vec<f32> = (0..dim).map(|i| ((i * 7 + r * 13) as f32).sin()).collect();
            v.resize(len, 0.0);
            v
        })
        .collect()
}

#[test]
fn f32_rows_checked_once_give_the_same_distances() {
    let k = kernel("l2.f32.d10.pair", "tail=padded,width=4");
    assert_eq!(k.row_len(), 12);
    let rows = f32_rows(3, 12, 10);
    same_distances(&k, &rows);
    let mut dirty = rows[0].clone();
    dirty[11] = 1.0;
    refuses_what_pair_refuses(&k, &rows[0], &[dirty, vec![0.0; 10], vec![0.0; 13]]);

    // cosine_norms: the stored inverse norm is checked once too.
    let k = kernel("cosine_norms.f32.d7.pair", "");
    let mut rows = f32_rows(3, 8, 7);
    for r in &mut rows {
        r[7] = reference::inverse_norm(&r[..7]);
    }
    same_distances(&k, &rows);
    let with_norm = |inv: f32| {
        let mut r = rows[0].clone();
        r[7] = inv;
        r
    };
    refuses_what_pair_refuses(
        &k,
        &rows[0],
        &[
            with_norm(f32::NAN),
            with_norm(-1.0),
            with_norm(f32::INFINITY),
        ],
    );
}

#[test]
fn quantized_and_bit_rows_checked_once_give_the_same_distances() {
    let k = kernel("cosine.i8.d37.pair", "");
    let rows: Vec<Vec<i8>> = f32_rows(3, 37, 37)
        .iter()
        .map(|x| quant::quantize::<i8>(x, k.row_len()).unwrap())
        .collect();
    same_distances(&k, &rows);
    let meta = k.row_len() - META_BYTES;
    let mut nan_scale = rows[0].clone();
    for (i, b) in f32::NAN.to_le_bytes().into_iter().enumerate() {
        nan_scale[meta + 4 + i] = b as i8;
    }
    let mut padding = rows[0].clone();
    padding[40] = 1;
    refuses_what_pair_refuses(&k, &rows[0], &[nan_scale, padding, rows[0][1..].to_vec()]);

    let h = kernel("hamming.bit.d70.pair", "");
    let rows = vec![vec![u64::MAX, (1 << 6) - 1], vec![0, 0], vec![0x5555, 3]];
    same_distances(&h, &rows);
    refuses_what_pair_refuses(&h, &rows[0], &[vec![0, 1 << 6], vec![0]]);
}

#[test]
fn rows_checked_for_another_layout_are_refused() {
    let l2 = kernel("l2.f32.d10.pair", "");
    let ip = kernel("ip.f32.d10.pair", "");
    let padded = kernel("l2.f32.d10.pair", "tail=padded,width=4");
    let rows = f32_rows(2, 10, 10);
    let (a, b) = (
        l2.check_row(&rows[0]).unwrap(),
        l2.check_row(&rows[1]).unwrap(),
    );
    // Same layout, another metric: the checks are the same, so the rows stand.
    assert_eq!(l2.row_layout(), ip.row_layout());
    assert_eq!(ip.pair_checked(a, b), ip.pair(&rows[0], &rows[1]));
    // Padded rows are longer: a row checked without padding is refused.
    assert_ne!(l2.row_layout(), padded.row_layout());
    let err = padded.pair_checked(a, b).unwrap_err();
    assert!(
        matches!(err, CallError::OtherLayout { what: "a", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("12 elements"), "{err}");
    let long = f32_rows(1, 12, 10);
    let p = padded.check_row(&long[0]).unwrap();
    let err = padded.pair_checked(p, b).unwrap_err();
    assert!(
        matches!(err, CallError::OtherLayout { what: "b", .. }),
        "{err}"
    );
    // Another dimension, another element type.
    let d11 = kernel("l2.f32.d11.pair", "");
    assert!(matches!(
        d11.pair_checked(a, b),
        Err(CallError::OtherLayout { .. })
    ));
    // A kernel of another shape is refused by shape first.
    let gather = kernel("l2.f32.d10.gather", "");
    assert_eq!(gather.row_layout(), l2.row_layout());
    assert!(matches!(
        gather.pair_checked(a, b),
        Err(CallError::WrongShape { .. })
    ));
    assert!(matches!(
        l2.check_row(&[0i8; 10]),
        Err(CallError::WrongElementType { .. })
    ));
}

/// Rows checked for the Cranelift kernel stay valid for the LLVM kernel of
/// the same spec and unpadded schedule: across a tier swap, an index's
/// checked rows need no second check.
#[cfg(feature = "llvm")]
#[test]
fn checked_rows_survive_a_tier_swap() {
    let Ok(llvm) = hektor_codegen::llvm::LlvmBackend::host() else {
        eprintln!("SKIPPED: LLVM cannot target this host");
        return;
    };
    for (spec, rows) in [
        ("ip.f32.d96.pair", f32_rows(2, 96, 96)),
        ("l2.f32.d33.pair", f32_rows(2, 33, 33)),
    ] {
        let cl = kernel(spec, "");
        let lv = kernel_on(&llvm, spec, "");
        assert_eq!(cl.row_layout(), lv.row_layout(), "{spec}");
        let (a, b) = (
            cl.check_row(&rows[0]).unwrap(),
            cl.check_row(&rows[1]).unwrap(),
        );
        let got = lv.pair_checked(a, b).unwrap();
        let want = lv.pair(&rows[0], &rows[1]).unwrap();
        assert_eq!(got.to_bits(), want.to_bits(), "{spec}");
    }
}
