//! The tuning file is advice: used when it fits this host, reported and
//! ignored when it is corrupt, foreign or stale.

use hektor_codegen::cranelift::CraneliftBackend;
use hektor_kernels::{ElementType, KernelSpec, Metric, Schedule, Shape};
use hektor_runtime::timing::Residency;
use hektor_runtime::tuning::{self, candidates, entry_for, store, tune};
use hektor_runtime::{default_schedule, ScheduleBook, ScheduleSource};
use std::path::PathBuf;
use std::time::Duration;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hektor-tuning-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("tuning.json")
}

fn spec() -> KernelSpec {
    KernelSpec::new(Metric::Ip, ElementType::F32, 100, Shape::Pair).unwrap()
}

#[test]
fn a_tuning_run_stores_a_winner_the_runtime_then_uses() {
    let backend = CraneliftBackend::host().unwrap();
    let path = temp("roundtrip");
    assert!(
        ScheduleBook::load(&path).is_empty(),
        "no file yet is not an error"
    );
    let trials = tune(
        &spec(),
        &backend,
        Residency::Cache,
        Duration::from_millis(1),
        |_, _| {},
    )
    .unwrap();
    // Every candidate, plus the runtime's default schedule when it is not
    // one of them.
    let all = candidates(&spec(), &backend);
    let default = default_schedule(&spec(), &backend);
    let extra = usize::from(!all.contains(&default));
    assert_eq!(trials.len(), all.len() + extra);
    assert!(trials.iter().any(|t| t.schedule == default));
    // The finalists lead, fastest first by their head-to-head median, the
    // default among them: FINALISTS of them, or one more when the default
    // was not among the first pass's fastest. Then the rest, fastest first.
    let n = tuning::FINALISTS;
    assert!(all.len() > n + 1, "enough candidates for a head to head");
    let default_rank = trials.iter().position(|t| t.schedule == default).unwrap();
    assert!(
        default_rank <= n,
        "the default is a finalist (rank {default_rank})"
    );
    let sorted = |ts: &[tuning::Trial]| {
        ts.windows(2)
            .all(|w| w[0].timing.ns_per_distance <= w[1].timing.ns_per_distance)
    };
    assert!(sorted(&trials[..n]));
    assert!(sorted(&trials[n + 1..]));
    store(
        &path,
        entry_for(&spec(), backend_kind(), Residency::Cache, &trials[0]),
    )
    .unwrap();
    // Storing again replaces the entry for the same key.
    store(
        &path,
        entry_for(&spec(), backend_kind(), Residency::Cache, &trials[1]),
    )
    .unwrap();
    let book = ScheduleBook::load(&path);
    assert!(book.warnings.is_empty(), "{:?}", book.warnings);
    assert_eq!(book.len(), 1);
    let (schedule, source) = book.schedule_for(&spec(), &backend);
    assert_eq!(
        (schedule, source),
        (trials[1].schedule, ScheduleSource::Tuned)
    );
    let other = KernelSpec::new(Metric::L2, ElementType::F32, 100, Shape::Pair).unwrap();
    assert_eq!(
        book.schedule_for(&other, &backend),
        (default_schedule(&other, &backend), ScheduleSource::Default)
    );
}

fn backend_kind() -> hektor_codegen::BackendKind {
    hektor_codegen::BackendKind::Cranelift
}

#[test]
fn corrupt_files_are_reported_and_ignored() {
    let backend = CraneliftBackend::host().unwrap();
    for (name, text, why) in [
        ("garbage", "{ this is not json", "corrupt"),
        ("truncated", "{\"version\": 1, \"entries\": [", "corrupt"),
        (
            "version",
            "{\"version\": 99, \"entries\": []}",
            "format version 99",
        ),
    ] {
        let path = temp(name);
        std::fs::write(&path, text).unwrap();
        let book = ScheduleBook::load(&path);
        assert!(book.is_empty());
        assert!(
            book.warnings.iter().any(|w| w.contains(why)),
            "{name}: {:?}",
            book.warnings
        );
        assert_eq!(
            book.schedule_for(&spec(), &backend).1,
            ScheduleSource::Default
        );
    }
}

#[test]
fn entries_for_other_cpus_or_with_bad_schedules_are_not_trusted() {
    let backend = CraneliftBackend::host().unwrap();
    let path = temp("foreign");
    let here = entry_for(
        &spec(),
        backend_kind(),
        Residency::Cache,
        &tuning::Trial {
            schedule: "width=4,acc=2".parse::<Schedule>().unwrap(),
            timing: hektor_runtime::timing::Timing {
                ns_per_distance: 1.0,
                working_set_bytes: 0,
            },
            compile: Duration::ZERO,
        },
    );
    let foreign = tuning::TuningEntry {
        cpu: "Some Other CPU".into(),
        ..here.clone()
    };
    let broken = tuning::TuningEntry {
        schedule: "width=3".into(),
        spec: "l2.f32.d100.pair".into(),
        ..here.clone()
    };
    // A width this backend cannot lower is skipped at lookup time.
    let too_wide = tuning::TuningEntry {
        schedule: "width=16".into(),
        spec: "cosine.f32.d100.pair".into(),
        ..here.clone()
    };
    let file = serde_json::json!({ "version": tuning::FORMAT_VERSION, "entries": [foreign, broken, too_wide] });
    std::fs::write(&path, file.to_string()).unwrap();
    let book = ScheduleBook::load(&path);
    assert!(
        book.warnings.iter().any(|w| w.contains("width=3")),
        "{:?}",
        book.warnings
    );
    assert_eq!(
        book.len(),
        1,
        "only the well-formed entry for this CPU is kept"
    );
    assert_eq!(
        book.schedule_for(&spec(), &backend).1,
        ScheduleSource::Default,
        "foreign entry ignored"
    );
    let cos = KernelSpec::new(Metric::Cosine, ElementType::F32, 100, Shape::Pair).unwrap();
    assert_eq!(
        book.schedule_for(&cos, &backend).1,
        ScheduleSource::Default,
        "unlowerable width ignored"
    );
}

#[test]
fn tuned_schedules_that_do_not_fit_their_spec_are_not_served() {
    // `rows=4` parses and the backend can lower it, but a pair kernel has
    // no rows to tile: the lookup must fall back to the default rather
    // than hand the registry a schedule that fails to compile.
    let backend = CraneliftBackend::host().unwrap();
    let path = temp("misfit");
    let misfit = entry_for(
        &spec(),
        backend_kind(),
        Residency::Cache,
        &tuning::Trial {
            schedule: "width=4,acc=2,rows=4".parse::<Schedule>().unwrap(),
            timing: hektor_runtime::timing::Timing {
                ns_per_distance: 1.0,
                working_set_bytes: 0,
            },
            compile: Duration::ZERO,
        },
    );
    let file = serde_json::json!({ "version": tuning::FORMAT_VERSION, "entries": [misfit] });
    std::fs::write(&path, file.to_string()).unwrap();
    let book = ScheduleBook::load(&path);
    assert_eq!(
        book.schedule_for(&spec(), &backend),
        (default_schedule(&spec(), &backend), ScheduleSource::Default)
    );
}
