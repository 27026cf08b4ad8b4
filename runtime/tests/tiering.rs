//! Queries keep running, without error, while the LLVM tier swaps in.
#![cfg(feature = "llvm")]

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_codegen::llvm::LlvmBackend;
use hektor_codegen::BackendKind;
use hektor_kernels::bound::tolerance;
use hektor_kernels::reference;
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};
use hektor_runtime::{default_schedule, ScheduleBook, TierEvent, TieredRegistry};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn queries_run_through_the_swap_without_error_or_stall() {
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let registry = Arc::new(TieredRegistry::new(
        Box::new(CraneliftBackend::host().unwrap()),
        Some(Box::new(LlvmBackend::host().unwrap())),
        ScheduleBook::defaults(),
        Some(Arc::new(move |e: &TierEvent| {
            sink.lock().unwrap().push(format!("{e:?}"))
        })),
    ));
    let dim = 768;
    let spec = KernelSpec::new(Metric::Cosine, ElementType::F32, dim, Shape::Pair).unwrap();
    let a: Vec<f32> = (0..dim)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let b: Vec<f32> = (0..dim)
        .map(|i| ((i * 104729) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let want = reference::pair(spec.metric, &a, &b);

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let query = {
        let (registry, stop, calls) = (registry.clone(), stop.clone(), calls.clone());
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            let slot = registry.get(&spec).expect("baseline compiles");
            let mut seen = vec![];
            let mut worst_gap = Duration::ZERO;
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let kernel = slot.kernel();
                let d = kernel.pair(&a, &b).expect("valid call");
                // Each tier is held to the bound its own schedule implies.
                let depth = kernel.schedule().accumulation_depth(dim);
                let tol = tolerance(spec.metric, dim, depth, &want);
                assert!(
                    (d as f64 - want.distance).abs() <= tol,
                    "{} gave {d}",
                    kernel.backend()
                );
                if seen.last() != Some(&kernel.backend()) {
                    seen.push(kernel.backend());
                }
                calls.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                worst_gap = worst_gap.max(now - last);
                last = now;
            }
            (seen, worst_gap)
        })
    };
    // Let the baseline serve a while, then wait for the swap.
    while calls.load(Ordering::Relaxed) < 1000 {
        std::thread::yield_now();
    }
    assert!(
        registry.wait_for_tier_up(Duration::from_secs(60)),
        "LLVM tier never finished"
    );
    let calls_at_swap = calls.load(Ordering::Relaxed);
    while calls.load(Ordering::Relaxed) < calls_at_swap + 1000 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let (seen, worst_gap) = query.join().expect("no query failed");

    assert_eq!(
        seen,
        [BackendKind::Cranelift, BackendKind::Llvm],
        "served tiers in order"
    );
    let slot = registry.get(&spec).unwrap();
    assert!(slot.is_optimized());
    assert_eq!(slot.backend(), BackendKind::Llvm);
    let events = registry.events();
    assert!(
        matches!(
            events[0],
            TierEvent::Serving {
                backend: BackendKind::Cranelift,
                ..
            }
        ),
        "{events:?}"
    );
    assert!(
        matches!(
            events[1],
            TierEvent::Swapped {
                from: BackendKind::Cranelift,
                to: BackendKind::Llvm,
                ..
            }
        ),
        "{events:?}"
    );
    assert_eq!(
        log.lock().unwrap().len(),
        2,
        "the listener heard both events"
    );
    // Reported, not asserted: timing belongs to benchmarks.
    eprintln!("longest gap between two queries across the swap: {worst_gap:?}");
}

#[test]
fn a_failing_optimizing_tier_leaves_the_baseline_serving() {
    // An optimizing tier for a CPU the host is not: its code cannot run,
    // so compile() refuses it, and the Cranelift kernel must keep serving.
    let other = if LlvmBackend::host().unwrap().target().cpu == "haswell" {
        "znver4"
    } else {
        "haswell"
    };
    let registry = TieredRegistry::new(
        Box::new(CraneliftBackend::host().unwrap()),
        Some(Box::new(LlvmBackend::for_cpu(other).unwrap())),
        ScheduleBook::defaults(),
        None,
    );
    let spec = KernelSpec::new(Metric::L2, ElementType::F32, 64, Shape::Scan).unwrap();
    let slot = registry.get(&spec).unwrap();
    assert!(registry.wait_for_tier_up(Duration::from_secs(60)));
    assert!(!slot.is_optimized());
    assert_eq!(slot.backend(), BackendKind::Cranelift);
    assert!(registry
        .events()
        .iter()
        .any(|e| matches!(e, TierEvent::Failed { .. })));
    let cranelift_schedule: Schedule = default_schedule(&spec, &CraneliftBackend::host().unwrap());
    assert_eq!(*slot.kernel().schedule(), cranelift_schedule);
}

/// The path the search engine takes for a quantized index: rows from
/// `quant::quantize`, a gather kernel from the tiered registry, served by
/// Cranelift (scalar) and then by LLVM (vectors), with the same answers.
#[test]
fn quantized_gather_serves_on_both_tiers() {
    use hektor_kernels::quant;
    let registry = TieredRegistry::new(
        Box::new(CraneliftBackend::host().unwrap()),
        Some(Box::new(LlvmBackend::host().unwrap())),
        ScheduleBook::defaults(),
        None,
    );
    let dim = 300;
    let spec = KernelSpec::new(Metric::L2, ElementType::I8, dim, Shape::Gather).unwrap();
    let slot = registry.get(&spec).unwrap();
    let row_len = slot.kernel().row_len();
    let vector = |seed: usize| -> Vec<f32> {
        (0..dim)
            .map(|i| (((i + 1) * (seed + 7) * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    };
    let base: Vec<i8> = (0..10)
        .flat_map(|r| quant::quantize::<i8>(&vector(r), row_len).unwrap())
        .collect();
    let query = quant::quantize::<i8>(&vector(99), row_len).unwrap();
    let ids = [9u32, 0, 4, 4];
    let run = || {
        let mut out = [f32::NAN; 4];
        slot.kernel()
            .gather(&query, &base, row_len, &ids, &mut out)
            .unwrap();
        out
    };
    let first = run();
    for (k, &id) in ids.iter().enumerate() {
        let row = &base[id as usize * row_len..(id as usize + 1) * row_len];
        let want = reference::quantized_pair(Metric::L2, dim, &query, row);
        let tol = hektor_kernels::bound::quantized_tolerance(Metric::L2, &want);
        assert!((first[k] as f64 - want.distance).abs() <= tol);
    }
    assert!(registry.wait_for_tier_up(Duration::from_secs(60)));
    assert_eq!(slot.kernel().backend(), BackendKind::Llvm);
    let second = run();
    for k in 0..4 {
        let row = &base[ids[k] as usize * row_len..(ids[k] as usize + 1) * row_len];
        let want = reference::quantized_pair(Metric::L2, dim, &query, row);
        let tol = hektor_kernels::bound::quantized_tolerance(Metric::L2, &want);
        assert!((second[k] as f64 - want.distance).abs() <= tol);
    }
}
