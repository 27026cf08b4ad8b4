//! Turning criterion records into the markdown and JSON bench summaries.

use crate::cpu::CpuInfo;
use crate::criterion::{natural_cmp_opt, Record, Throughput};
use crate::roofline::{self, KernelCycles, Roofline};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Hektor's own implementations (its code generators), in column order;
/// the other columns of a pivot are their baselines.
/// `llvm_checked` is the LLVM kernel through the safe call on rows checked
/// once (`Kernel::pair_checked`), `pair` groups only.
const HEKTOR: &[&str] = &["cranelift", "llvm", "llvm_checked", "llvm_tuned"];
/// Baselines that get an `<implementation>/<baseline>` ratio column for every
/// Hektor implementation present beside them (`read_floor`: the streaming
/// read of the `streaming` bench, the memory-bandwidth floor).
const RATIO_BASELINES: &[&str] = &["simsimd", "avx2", "read_floor"];
/// The per-shape speed-up line: `SPEEDUP.0` ns over `SPEEDUP.1` ns.
const SPEEDUP: (&str, &str) = ("simsimd", "llvm");

pub struct Summary {
    pub cpu: CpuInfo,
    pub command: String,
    pub records: Vec<Record>,
    /// The clock and vector width of this run, for the `pair` kernels'
    /// GFLOP/s and fraction of the load bound.
    pub roofline: Option<Roofline>,
    /// `llvm_kernel`'s measured cycles per call, by group id
    /// (`roofline::KernelCycles::of_run`).
    pub kernel_cycles: BTreeMap<String, KernelCycles>,
}

/// The summary's pivots, with the measured kernel cycles attached to the
/// rows of their groups.
fn summary_pivots(summary: &Summary) -> Vec<Pivot> {
    let mut pivots = pivots(&summary.records);
    for pivot in &mut pivots {
        for row in &mut pivot.rows {
            let group = format!("{}/{}/d{}", pivot.shape, row.metric, row.dim);
            row.cycles = summary.kernel_cycles.get(&group).copied();
        }
    }
    pivots
}

/// The implementations whose pair kernels get GFLOP/s and roofline
/// columns, in order of preference: the LLVM kernel as an index calls it
/// (`pair_unchecked`), else through the safe call.
const ROOFLINE_OF: [&str; 2] = ["llvm_kernel", "llvm"];

/// GFLOP/s and fraction of the load bound of the first of `ROOFLINE_OF`
/// that `row` (of a `pair` pivot) has.
/// Where the bench measured the kernel's cycles per call itself (each
/// sample timed beside a clock measurement, `roofline::KernelCycles`), the
/// fraction is the bound's cycles over those; else the median ns at the
/// run's clock.
fn roofline_cells(roofline: &Roofline, row: &PivotRow) -> Option<(f64, f64)> {
    let cell = ROOFLINE_OF
        .iter()
        .find_map(|name| row.cells.get(*name).filter(|c| c.per_distance))?;
    let flops = roofline::flops(&row.metric, row.dim)?;
    let fraction = match &row.cycles {
        Some(c) => roofline.bound_cycles(row.dim) / c.cycles,
        None => roofline.fraction(row.dim, cell.ns),
    };
    Some((flops / cell.ns, fraction))
}

/// Splits a `<shape>/<metric>/d<dim>` group id; the shape may itself contain `/`.
pub fn parse_group_id(group_id: &str) -> Option<(&str, &str, u64)> {
    let mut parts = group_id.rsplitn(3, '/');
    let dim = parts.next()?.strip_prefix('d')?.parse().ok()?;
    let metric = parts.next()?;
    let shape = parts.next()?;
    (!shape.is_empty() && !metric.is_empty()).then_some((shape, metric, dim))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub ns: f64,
    /// False when no Elements throughput was recorded, so `ns` is per iteration.
    pub per_distance: bool,
}

#[derive(Debug, PartialEq)]
pub struct PivotRow {
    pub metric: String,
    pub dim: u64,
    pub value: Option<String>,
    pub cells: BTreeMap<String, Cell>,
    /// `llvm_kernel`'s cycles per call as the bench measured them, for
    /// `pair` rows (`roofline::KernelCycles`).
    pub cycles: Option<KernelCycles>,
}

impl PivotRow {
    /// `implementation`'s time over `baseline`'s (below 1: `implementation`
    /// is faster). Only comparable cells yield a ratio: per-distance against
    /// per-iteration is meaningless.
    pub fn ratio(&self, implementation: &str, baseline: &str) -> Option<f64> {
        let subject = self.cells.get(implementation)?;
        let base = self.cells.get(baseline)?;
        (subject.per_distance == base.per_distance && base.ns > 0.0).then(|| subject.ns / base.ns)
    }
}

/// A ratio column: `implementation` (one of Hektor's) over `baseline`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub implementation: String,
    pub baseline: String,
}

impl Ratio {
    pub fn header(&self) -> String {
        format!("{}/{}", self.implementation, self.baseline)
    }

    pub fn of(&self, row: &PivotRow) -> Option<f64> {
        row.ratio(&self.implementation, &self.baseline)
    }
}

/// The range over a pivot's rows of one implementation's time over
/// another's, e.g. simsimd's over llvm's: above 1, the second is faster.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedUp {
    /// The slower-is-numerator implementation (`simsimd`).
    pub over: String,
    /// The implementation whose speed-up it is (`llvm`).
    pub of: String,
    pub min: f64,
    /// The (metric, dim) of the minimum.
    pub min_at: (String, u64),
    pub max: f64,
    pub max_at: (String, u64),
    /// Rows with both implementations (and comparable cells).
    pub rows: usize,
}

impl SpeedUp {
    /// `None` when no row has both implementations.
    pub fn compute(rows: &[PivotRow], over: &str, of: &str) -> Option<SpeedUp> {
        let mut points = rows
            .iter()
            .filter_map(|r| Some((r.ratio(over, of)?, (r.metric.clone(), r.dim))));
        let (first, at) = points.next()?;
        let mut s = SpeedUp {
            over: over.to_string(),
            of: of.to_string(),
            min: first,
            min_at: at.clone(),
            max: first,
            max_at: at,
            rows: 1,
        };
        for (x, at) in points {
            s.rows += 1;
            if x < s.min {
                s.min = x;
                s.min_at = at.clone();
            }
            if x > s.max {
                s.max = x;
                s.max_at = at;
            }
        }
        Some(s)
    }

    /// `simsimd/llvm`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.over, self.of)
    }

    /// One line: `simsimd/llvm speed-up: min 0.91× (l2 d96), max 1.80× (cosine d1536) over 18 (metric, dim)`.
    pub fn line(&self) -> String {
        format!(
            "{} speed-up: min {:.2}× ({} d{}), max {:.2}× ({} d{}) over {} (metric, dim); \
             above 1 means {} is faster",
            self.name(),
            self.min,
            self.min_at.0,
            self.min_at.1,
            self.max,
            self.max_at.0,
            self.max_at.1,
            self.rows,
            self.of
        )
    }
}

#[derive(Debug, PartialEq)]
pub struct Pivot {
    pub shape: String,
    pub columns: Vec<String>,
    pub ratios: Vec<Ratio>,
    pub rows: Vec<PivotRow>,
    /// simsimd's time over llvm's, when both are present.
    pub speedup: Option<SpeedUp>,
}

/// One pivot per shape; groups not following `<shape>/<metric>/d<dim>` and
/// benchmarks without a function id (no implementation name) are left out.
pub fn pivots(records: &[Record]) -> Vec<Pivot> {
    type RowKey = (String, u64, Option<String>);
    let mut shapes: BTreeMap<&str, BTreeMap<RowKey, BTreeMap<String, Cell>>> = BTreeMap::new();
    for record in records {
        let (Some((shape, metric, dim)), Some(implementation)) =
            (parse_group_id(&record.group_id), &record.function_id)
        else {
            continue;
        };
        let key = (metric.to_string(), dim, record.value_str.clone());
        let cell = match record.ns_per_element() {
            Some(ns) => Cell {
                ns,
                per_distance: true,
            },
            None => Cell {
                ns: record.median_ns,
                per_distance: false,
            },
        };
        shapes
            .entry(shape)
            .or_default()
            .entry(key)
            .or_default()
            .insert(implementation.clone(), cell);
    }

    shapes
        .into_iter()
        .map(|(shape, rows)| {
            let implementations: BTreeSet<&String> = rows.values().flat_map(|c| c.keys()).collect();
            let mut columns: Vec<String> = implementations.into_iter().cloned().collect();
            // Stable sort keeps the rest alphabetical while Hektor's
            // implementations lead, in `HEKTOR` order.
            columns.sort_by_key(|c| HEKTOR.iter().position(|h| h == c).unwrap_or(HEKTOR.len()));
            let has = |name: &str| columns.iter().any(|c| c == name);
            let ratios = HEKTOR
                .iter()
                .filter(|h| has(h))
                .flat_map(|h| {
                    RATIO_BASELINES
                        .iter()
                        .filter(|b| has(b))
                        .map(move |b| Ratio {
                            implementation: h.to_string(),
                            baseline: b.to_string(),
                        })
                })
                .collect();
            let mut rows: Vec<PivotRow> = rows
                .into_iter()
                .map(|((metric, dim, value), cells)| PivotRow {
                    metric,
                    dim,
                    value,
                    cells,
                    cycles: None,
                })
                .collect();
            rows.sort_by(|a, b| {
                a.metric
                    .cmp(&b.metric)
                    .then(a.dim.cmp(&b.dim))
                    .then_with(|| natural_cmp_opt(a.value.as_deref(), b.value.as_deref()))
            });
            let speedup = SpeedUp::compute(&rows, SPEEDUP.0, SPEEDUP.1);
            Pivot {
                shape: shape.to_string(),
                columns,
                ratios,
                rows,
                speedup,
            }
        })
        .collect()
}

/// Dimensions sort by value ("d96" before "d768"); ids not following the
/// pattern come after those that do, by name.
fn group_cmp(a: &str, b: &str) -> Ordering {
    match (parse_group_id(a), parse_group_id(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Enough significant digits to compare kernels, without criterion's false precision.
pub fn format_ns(ns: f64) -> String {
    let decimals = match ns.abs() {
        x if x >= 1000.0 => 0,
        x if x >= 100.0 => 1,
        x if x >= 10.0 => 2,
        _ => 3,
    };
    format!("{ns:.decimals$}")
}

fn format_throughput(t: Option<Throughput>) -> String {
    match t {
        Some(Throughput::Elements(n)) => format!("{n} elem"),
        Some(Throughput::Bytes(n)) | Some(Throughput::BytesDecimal(n)) => format!("{n} B"),
        None => "—".to_string(),
    }
}

fn escape(cell: &str) -> String {
    cell.replace('|', r"\|")
}

fn table_row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn table_header(out: &mut String, headers: &[String], numeric_from: usize) {
    out.push_str(&table_row(headers));
    let rules: Vec<String> = (0..headers.len())
        .map(|i| if i >= numeric_from { "---:" } else { "---" }.to_string())
        .collect();
    out.push_str(&table_row(&rules));
}

pub fn render_markdown(summary: &Summary) -> String {
    let mut out = String::from("# Hektor kernel benchmarks\n\n");
    let flags = summary.cpu.relevant_flags();
    let list = |on: bool| {
        flags
            .iter()
            .filter(|&&(_, present)| present == on)
            .map(|(flag, _)| format!("`{flag}`"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(out, "- CPU: {}", summary.cpu.model_or_unknown());
    let _ = writeln!(out, "- CPU flags present: {}", or_none(list(true)));
    let _ = writeln!(out, "- CPU flags absent: {}", or_none(list(false)));
    let _ = writeln!(out, "- Command: `{}`", summary.command);

    let pivots = summary_pivots(summary);
    if !pivots.is_empty() {
        out.push_str("\n## Implementations by shape\n\n");
        let _ = writeln!(
            out,
            "Cells are median ns per distance (one Elements throughput unit). \
             Hektor's implementations ({}) come first; a ratio column \
             `<implementation>/<peer>` is Hektor's time over the peer's, so a ratio \
             below 1 means Hektor is faster.",
            HEKTOR.join(", ")
        );
    }
    if let Some(r) = &summary.roofline {
        let _ = writeln!(
            out,
            "\nFor `pair`, the `kernel` columns are of `llvm_kernel` (the LLVM kernel as an \
             index calls it), else of `llvm` (through the safe call). `kernel GFLOP/s` counts \
             2 flops a component for ip and cosine_norms, 3 for l2, 6 for cosine; \
             `kernel % of load bound` is the fewest cycles a pair can take over the cycles it \
             took: both vectors must be \
             loaded, at most two {}-float vectors a cycle, so dim / {} cycles. `kernel cycles` \
             is the median over criterion's samples of `llvm_kernel`'s time per call times the \
             clock measured (a chain of dependent adds) right after that sample, and `clock GHz` \
             the median of those clocks: this VM's clock drifts by up to 20% within a run. \
             Without them the bound is taken at the {:.2} GHz measured at the start of the run.",
            r.lanes, r.lanes, r.ghz
        );
    }
    for pivot in &pivots {
        let roofline = summary.roofline.as_ref().filter(|_| pivot.shape == "pair");
        render_pivot(&mut out, pivot, roofline);
    }

    out.push_str("\n## All benchmarks\n");
    let mut groups: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for record in &summary.records {
        groups.entry(&record.group_id).or_default().push(record);
    }
    let mut groups: Vec<(&str, Vec<&Record>)> = groups.into_iter().collect();
    groups.sort_by(|(a, _), (b, _)| group_cmp(a, b));
    if groups.is_empty() {
        out.push_str("\nNo benchmark results found.\n");
    }
    for (group, records) in groups {
        let _ = writeln!(out, "\n### {}\n", escape(group));
        let headers = [
            "function",
            "value",
            "median ns/iter",
            "throughput",
            "ns/element",
        ];
        table_header(&mut out, &headers.map(String::from), 2);
        for r in records {
            out.push_str(&table_row(&[
                escape(r.function_id.as_deref().unwrap_or("—")),
                escape(r.value_str.as_deref().unwrap_or("—")),
                format_ns(r.median_ns),
                format_throughput(r.throughput),
                r.ns_per_element().map_or("—".to_string(), format_ns),
            ]));
        }
    }
    out
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "none".to_string()
    } else {
        s
    }
}

fn render_pivot(out: &mut String, pivot: &Pivot, roofline: Option<&Roofline>) {
    let roofline = roofline.filter(|_| {
        pivot
            .columns
            .iter()
            .any(|c| ROOFLINE_OF.contains(&c.as_str()))
    });
    let _ = writeln!(out, "\n### {}\n", escape(&pivot.shape));
    let with_value = pivot.rows.iter().any(|r| r.value.is_some());
    let mut headers = vec!["metric".to_string(), "dim".to_string()];
    if with_value {
        headers.push("value".to_string());
    }
    headers.extend(pivot.columns.iter().map(|c| escape(c)));
    headers.extend(pivot.ratios.iter().map(|r| escape(&r.header())));
    if roofline.is_some() {
        headers.push("clock GHz".to_string());
        headers.push("kernel cycles".to_string());
        headers.push("kernel GFLOP/s".to_string());
        headers.push("kernel % of load bound".to_string());
    }
    // Everything right of the metric is a number or a numeric parameter.
    table_header(out, &headers, 1);

    let mut any_per_iteration = false;
    for row in &pivot.rows {
        let mut cells = vec![escape(&row.metric), row.dim.to_string()];
        if with_value {
            cells.push(escape(row.value.as_deref().unwrap_or("—")));
        }
        for column in &pivot.columns {
            cells.push(match row.cells.get(column) {
                Some(cell) if cell.per_distance => format_ns(cell.ns),
                Some(cell) => {
                    any_per_iteration = true;
                    format!("{}\\*", format_ns(cell.ns))
                }
                None => "—".to_string(),
            });
        }
        for ratio in &pivot.ratios {
            cells.push(ratio.of(row).map_or("—".to_string(), |r| format!("{r:.2}")));
        }
        if let Some(r) = roofline {
            match &row.cycles {
                Some(c) => {
                    cells.push(format!("{:.2}", c.ghz));
                    cells.push(format!("{:.1}", c.cycles));
                }
                None => cells.extend([format!("{:.2}", r.ghz), "—".to_string()]),
            }
            match roofline_cells(r, row) {
                Some((gflops, fraction)) => {
                    cells.push(format!("{gflops:.1}"));
                    cells.push(format!("{:.0}%", fraction * 100.0));
                }
                None => cells.extend(["—".to_string(), "—".to_string()]),
            }
        }
        out.push_str(&table_row(&cells));
    }
    if any_per_iteration {
        out.push_str("\n\\* ns per iteration: no Elements throughput was recorded.\n");
    }
    if let Some(speedup) = &pivot.speedup {
        let _ = writeln!(out, "\n{}.", escape(&speedup.line()));
    }
}

fn throughput_json(t: Option<Throughput>) -> Value {
    match t {
        None => Value::Null,
        Some(Throughput::Elements(n)) => json!({ "Elements": n }),
        Some(Throughput::Bytes(n)) => json!({ "Bytes": n }),
        Some(Throughput::BytesDecimal(n)) => json!({ "BytesDecimal": n }),
    }
}

pub fn render_json(summary: &Summary) -> Value {
    let flags: Map<String, Value> = summary
        .cpu
        .relevant_flags()
        .into_iter()
        .map(|(flag, on)| (flag.to_string(), Value::Bool(on)))
        .collect();
    let benchmarks: Vec<Value> = summary
        .records
        .iter()
        .map(|r| {
            json!({
                "group_id": r.group_id,
                "function_id": r.function_id,
                "value_str": r.value_str,
                "throughput": throughput_json(r.throughput),
                "median_ns": r.median_ns,
                "ns_per_element": r.ns_per_element(),
            })
        })
        .collect();
    let pivots: Vec<Value> = summary_pivots(summary)
        .iter()
        .map(|p| {
            let rows: Vec<Value> = p
                .rows
                .iter()
                .map(|row| {
                    let cells: Map<String, Value> = row
                        .cells
                        .iter()
                        .map(|(name, c)| {
                            let cell = json!({ "ns": c.ns, "per_distance": c.per_distance });
                            (name.clone(), cell)
                        })
                        .collect();
                    let ratios: Map<String, Value> = p
                        .ratios
                        .iter()
                        .filter_map(|r| Some((r.header(), json!(r.of(row)?))))
                        .collect();
                    let roofline = summary
                        .roofline
                        .as_ref()
                        .filter(|_| p.shape == "pair")
                        .and_then(|r| roofline_cells(r, row));
                    json!({
                        "metric": row.metric,
                        "dim": row.dim,
                        "value_str": row.value,
                        "cells": cells,
                        "ratios": ratios,
                        "clock_ghz": row.cycles.as_ref().map(|c| c.ghz),
                        "kernel_cycles": row.cycles.as_ref().map(|c| c.cycles),
                        "gflops": roofline.map(|(g, _)| g),
                        "fraction_of_load_bound": roofline.map(|(_, f)| f),
                    })
                })
                .collect();
            json!({
                "shape": p.shape,
                "columns": p.columns,
                "ratio_columns": p.ratios.iter().map(Ratio::header).collect::<Vec<_>>(),
                "rows": rows,
                "speedup": p.speedup.as_ref().map(|s| json!({
                    "name": s.name(),
                    "min": s.min,
                    "min_at": { "metric": s.min_at.0, "dim": s.min_at.1 },
                    "max": s.max,
                    "max_at": { "metric": s.max_at.0, "dim": s.max_at.1 },
                    "rows": s.rows,
                })),
            })
        })
        .collect();
    json!({
        "cpu": { "model": summary.cpu.model, "flags": flags },
        "roofline": summary.roofline.as_ref().map(|r| json!({ "clock_ghz": r.ghz, "f32_lanes": r.lanes })),
        "command": summary.command,
        "benchmarks": benchmarks,
        "pivots": pivots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criterion::tests::{write_bench, TempDir};
    use crate::criterion::{load, Throughput};

    fn record(group: &str, function: &str, elements: Option<u64>, median_ns: f64) -> Record {
        Record {
            group_id: group.to_string(),
            function_id: Some(function.to_string()),
            value_str: None,
            throughput: elements.map(Throughput::Elements),
            median_ns,
        }
    }

    fn summary(records: Vec<Record>) -> Summary {
        Summary {
            cpu: crate::cpu::parse("model name : Test CPU\nflags : avx2 fma\n"),
            command: "cargo bench -p hektor-benches --bench kernels".to_string(),
            records,
            roofline: None,
            kernel_cycles: BTreeMap::new(),
        }
    }

    #[test]
    fn group_ids() {
        assert_eq!(parse_group_id("pair/l2/d768"), Some(("pair", "l2", 768)));
        assert_eq!(
            parse_group_id("batch/1k/cosine/d96"),
            Some(("batch/1k", "cosine", 96))
        );
        assert_eq!(parse_group_id("l2/d768"), None);
        assert_eq!(parse_group_id("pair/l2/768"), None);
        assert_eq!(parse_group_id("pair/l2/dx"), None);
        assert_eq!(parse_group_id("/l2/d8"), None);
    }

    #[test]
    fn pivot_columns_rows_and_ratios() {
        let records = vec![
            record("pair/l2/d768", "simsimd", Some(1), 50.0),
            record("pair/l2/d768", "cranelift", Some(1), 40.0),
            record("pair/l2/d768", "avx2", Some(1), 80.0),
            record("pair/l2/d96", "cranelift", Some(1), 8.0),
            record("pair/ip/d768", "scalar", Some(1), 400.0),
            record("batch/l2/d768", "cranelift", Some(1000), 30_000.0),
            record("batch/l2/d768", "scalar", None, 90_000.0),
            record("misc", "cranelift", None, 1.0),
        ];
        let pivots = pivots(&records);
        assert_eq!(pivots.len(), 2);

        let batch = &pivots[0];
        assert_eq!(batch.shape, "batch");
        assert_eq!(batch.columns, ["cranelift", "scalar"]);
        assert!(batch.ratios.is_empty());
        assert_eq!(batch.speedup, None);
        assert_eq!(
            batch.rows[0].cells["cranelift"],
            Cell {
                ns: 30.0,
                per_distance: true
            }
        );
        assert!(!batch.rows[0].cells["scalar"].per_distance);

        let pair = &pivots[1];
        assert_eq!(pair.columns, ["cranelift", "avx2", "scalar", "simsimd"]);
        let headers: Vec<String> = pair.ratios.iter().map(Ratio::header).collect();
        assert_eq!(headers, ["cranelift/simsimd", "cranelift/avx2"]);
        assert_eq!(pair.speedup, None);
        let keys: Vec<(&str, u64)> = pair
            .rows
            .iter()
            .map(|r| (r.metric.as_str(), r.dim))
            .collect();
        assert_eq!(keys, [("ip", 768), ("l2", 96), ("l2", 768)]);
        let l2_768 = &pair.rows[2];
        assert_eq!(l2_768.ratio("cranelift", "simsimd"), Some(0.8));
        assert_eq!(l2_768.ratio("cranelift", "avx2"), Some(0.5));
        assert_eq!(pair.ratios[0].of(l2_768), Some(0.8));
        assert_eq!(pair.rows[0].ratio("cranelift", "simsimd"), None);
    }

    #[test]
    fn hektor_implementations_lead_and_each_gets_ratios() {
        let records = vec![
            record("pair/l2/d768", "simsimd", Some(1), 50.0),
            record("pair/l2/d768", "llvm", Some(1), 25.0),
            record("pair/l2/d768", "avx2", Some(1), 40.0),
            record("pair/l2/d768", "cranelift", Some(1), 60.0),
            record("pair/l2/d768", "scalar", Some(1), 400.0),
            record("pair/l2/d96", "simsimd", Some(1), 9.0),
            record("pair/l2/d96", "llvm", Some(1), 10.0),
            record("pair/cosine/d1536", "simsimd", Some(1), 120.0),
            record("pair/cosine/d1536", "llvm", Some(1), 40.0),
            // No llvm here: left out of the speed-up.
            record("pair/ip/d128", "simsimd", Some(1), 10.0),
            record("pair/ip/d128", "cranelift", Some(1), 12.0),
            // Not comparable (per iteration against per distance): left out.
            record("pair/ip/d768", "simsimd", None, 1.0),
            record("pair/ip/d768", "llvm", Some(1), 30.0),
        ];
        let pivots = pivots(&records);
        assert_eq!(pivots.len(), 1);
        let pair = &pivots[0];
        assert_eq!(
            pair.columns,
            ["cranelift", "llvm", "avx2", "scalar", "simsimd"]
        );
        let headers: Vec<String> = pair.ratios.iter().map(Ratio::header).collect();
        assert_eq!(
            headers,
            [
                "cranelift/simsimd",
                "cranelift/avx2",
                "llvm/simsimd",
                "llvm/avx2"
            ]
        );
        let l2_768 = pair
            .rows
            .iter()
            .find(|r| r.metric == "l2" && r.dim == 768)
            .unwrap();
        let values: Vec<Option<f64>> = pair.ratios.iter().map(|r| r.of(l2_768)).collect();
        assert_eq!(values, [Some(1.2), Some(1.5), Some(0.5), Some(0.625)]);

        let s = pair
            .speedup
            .as_ref()
            .expect("simsimd and llvm are both present");
        assert_eq!(s.name(), "simsimd/llvm");
        assert_eq!(s.rows, 3);
        assert_eq!((s.min, s.min_at.clone()), (0.9, ("l2".to_string(), 96)));
        assert_eq!(
            (s.max, s.max_at.clone()),
            (3.0, ("cosine".to_string(), 1536))
        );
        assert_eq!(
            s.line(),
            "simsimd/llvm speed-up: min 0.90× (l2 d96), max 3.00× (cosine d1536) \
             over 3 (metric, dim); above 1 means llvm is faster"
        );
    }

    #[test]
    fn only_llvm_still_gets_ratios() {
        let records = vec![
            record("scan/ip/d8", "llvm", Some(4), 8.0),
            record("scan/ip/d8", "avx2", Some(4), 16.0),
        ];
        let pivot = &pivots(&records)[0];
        assert_eq!(pivot.columns, ["llvm", "avx2"]);
        let headers: Vec<String> = pivot.ratios.iter().map(Ratio::header).collect();
        assert_eq!(headers, ["llvm/avx2"]);
        assert_eq!(pivot.ratios[0].of(&pivot.rows[0]), Some(0.5));
        assert_eq!(pivot.speedup, None);
    }

    #[test]
    fn no_ratio_without_hektor() {
        let records = vec![
            record("pair/l2/d8", "avx2", Some(1), 2.0),
            record("pair/l2/d8", "simsimd", Some(1), 3.0),
        ];
        let pivot = &pivots(&records)[0];
        assert!(pivot.ratios.is_empty());
        assert_eq!(pivot.speedup, None);
    }

    #[test]
    fn markdown_from_fake_criterion_dir() {
        let tmp = TempDir::new("report");
        let root = &tmp.0;
        write_bench(root, "pair/l2/d768", Some("cranelift"), None, Some(1), 40.0);
        write_bench(root, "pair/l2/d768", Some("simsimd"), None, Some(1), 50.0);
        write_bench(root, "pair/l2/d768", Some("scalar"), None, None, 500.0);
        write_bench(
            root,
            "scan",
            Some("cranelift"),
            Some("4096"),
            Some(4096),
            8192.0,
        );
        let md = render_markdown(&summary(load(root, None).unwrap()));

        assert!(md.contains("- CPU: Test CPU\n"), "{md}");
        assert!(md.contains("- CPU flags present: `avx2` `fma`\n"), "{md}");
        assert!(md.contains("`avx512f`"), "{md}");
        assert!(md.contains("- Command: `cargo bench -p hektor-benches --bench kernels`"));
        assert!(
            md.contains(
                "| metric | dim | cranelift | scalar | simsimd | cranelift/simsimd |\n\
                 | --- | ---: | ---: | ---: | ---: | ---: |\n\
                 | l2 | 768 | 40.00 | 500.0\\* | 50.00 | 0.80 |\n"
            ),
            "{md}"
        );
        assert!(md.contains("no Elements throughput"), "{md}");
        assert!(md.contains("below 1 means Hektor is faster"), "{md}");
        assert!(!md.contains("speed-up"), "no llvm, no speed-up line: {md}");
        assert!(
            md.contains(
                "### scan\n\n| function | value | median ns/iter | throughput | ns/element |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| cranelift | 4096 | 8192 | 4096 elem | 2.000 |"),
            "{md}"
        );
    }

    #[test]
    fn markdown_with_llvm() {
        let records = vec![
            record("gather/l2/d768", "cranelift", Some(64), 6400.0),
            record("gather/l2/d768", "llvm", Some(64), 2560.0),
            record("gather/l2/d768", "simsimd", Some(64), 3200.0),
            record("gather/l2/d768", "avx2", Some(64), 3840.0),
        ];
        let md = render_markdown(&summary(records));
        assert!(
            md.contains(
                "| metric | dim | cranelift | llvm | avx2 | simsimd | cranelift/simsimd | \
                 cranelift/avx2 | llvm/simsimd | llvm/avx2 |\n\
                 | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n\
                 | l2 | 768 | 100.0 | 40.00 | 60.00 | 50.00 | 2.00 | 1.67 | 0.80 | 0.67 |\n"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "\nsimsimd/llvm speed-up: min 1.25× (l2 d768), max 1.25× (l2 d768) \
                 over 1 (metric, dim); above 1 means llvm is faster.\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn pair_pivots_get_gflops_and_the_load_bound() {
        let records = vec![
            record("pair/ip/d768", "llvm", Some(1), 24.0),
            record("pair/ip/d768", "simsimd", Some(1), 36.0),
            record("pair/l2/d768", "llvm", Some(1), 30.0),
            record("pair/l2/d768", "llvm_kernel", Some(1), 20.0),
            record("gather/ip/d768", "llvm", Some(64), 64.0 * 24.0),
        ];
        let mut s = summary(records);
        s.roofline = Some(Roofline {
            ghz: 4.0,
            lanes: 16,
        });
        let md = render_markdown(&s);
        // 1536 flops in 24 ns = 64 GFLOP/s; the bound is 768/16 = 48
        // cycles = 12 ns, half of 24.
        assert!(
            md.contains("| ip | 768 | 24.00 | — | 36.00 | 0.67 | 4.00 | — | 64.0 | 50% |"),
            "{md}"
        );
        // With llvm_kernel present, the columns are its: 2304 flops in 20 ns,
        // 12/20 of the bound.
        assert!(
            md.contains("| l2 | 768 | 30.00 | 20.00 | — | — | 4.00 | — | 115.2 | 60% |"),
            "{md}"
        );
        assert!(
            md.contains("at the 4.00 GHz measured at the start of the run"),
            "{md}"
        );
        // Only pair pivots get the columns.
        assert_eq!(md.matches("% of load bound |").count(), 1, "{md}");
        let json = render_json(&s);
        let pair = &json["pivots"][1];
        assert_eq!(pair["shape"], "pair");
        assert_eq!(pair["rows"][0]["fraction_of_load_bound"], 0.5);
        assert_eq!(pair["rows"][1]["fraction_of_load_bound"], 0.6);
    }

    #[test]
    fn measured_kernel_cycles_replace_the_runs_clock() {
        let records = vec![
            record("pair/ip/d768", "llvm_kernel", Some(1), 20.0),
            record("pair/l2/d768", "llvm_kernel", Some(1), 20.0),
        ];
        let mut s = summary(records);
        s.roofline = Some(Roofline {
            ghz: 3.0,
            lanes: 16,
        });
        s.kernel_cycles.insert(
            "pair/ip/d768".to_string(),
            KernelCycles {
                cycles: 60.0,
                ghz: 4.0,
            },
        );
        let md = render_markdown(&s);
        // The bound is 48 cycles: 48/60 of the measured cycles; without
        // them, 16 ns at the run's 3 GHz over 20 ns.
        assert!(
            md.contains("| ip | 768 | 20.00 | 4.00 | 60.0 | 76.8 | 80% |"),
            "{md}"
        );
        assert!(
            md.contains("| l2 | 768 | 20.00 | 3.00 | — | 115.2 | 80% |"),
            "{md}"
        );
        let json = render_json(&s);
        assert_eq!(json["pivots"][0]["rows"][0]["kernel_cycles"], 60.0);
        assert_eq!(json["pivots"][0]["rows"][0]["clock_ghz"], 4.0);
        assert_eq!(json["pivots"][0]["rows"][1]["kernel_cycles"], Value::Null);
    }

    #[test]
    fn streaming_groups_get_read_floor_ratios() {
        let records = vec![
            record("stream-scan/l2/d768", "llvm", Some(1024), 1100.0 * 1024.0),
            record(
                "stream-scan/l2/d768",
                "cranelift",
                Some(1024),
                1200.0 * 1024.0,
            ),
            record(
                "stream-scan/l2/d768",
                "simsimd",
                Some(1024),
                1300.0 * 1024.0,
            ),
            record(
                "stream-scan/l2/d768",
                "read_floor",
                Some(1024),
                1000.0 * 1024.0,
            ),
            record("stream-gather/ip/d128", "llvm", Some(64), 64.0 * 90.0),
            record(
                "stream-gather/ip/d128",
                "read_floor",
                Some(64),
                64.0 * 100.0,
            ),
        ];
        let pivots = pivots(&records);
        let shapes: Vec<&str> = pivots.iter().map(|p| p.shape.as_str()).collect();
        assert_eq!(shapes, ["stream-gather", "stream-scan"]);
        let scan = &pivots[1];
        assert_eq!(scan.columns, ["cranelift", "llvm", "read_floor", "simsimd"]);
        let headers: Vec<String> = scan.ratios.iter().map(Ratio::header).collect();
        assert_eq!(
            headers,
            [
                "cranelift/simsimd",
                "cranelift/read_floor",
                "llvm/simsimd",
                "llvm/read_floor"
            ]
        );
        assert_eq!(scan.rows[0].ratio("llvm", "read_floor"), Some(1.1));
        assert_eq!(scan.rows[0].ratio("cranelift", "read_floor"), Some(1.2));
        let gather = &pivots[0];
        let headers: Vec<String> = gather.ratios.iter().map(Ratio::header).collect();
        assert_eq!(headers, ["llvm/read_floor"]);
        assert_eq!(gather.rows[0].ratio("llvm", "read_floor"), Some(0.9));
        let md = render_markdown(&summary(records));
        assert!(md.contains("\n### stream-scan\n"), "{md}");
        assert!(
            md.contains("| l2 | 768 | 1200 | 1100 | 1000 | 1300 | 0.92 | 1.20 | 0.85 | 1.10 |\n"),
            "{md}"
        );
    }

    #[test]
    fn json_summary() {
        let records = vec![
            record("pair/l2/d768", "cranelift", Some(1), 40.0),
            record("pair/l2/d768", "avx2", Some(1), 80.0),
        ];
        let v = render_json(&summary(records));
        assert_eq!(v["cpu"]["model"], "Test CPU");
        assert_eq!(v["cpu"]["flags"]["avx2"], true);
        assert_eq!(v["cpu"]["flags"]["avx512f"], false);
        assert_eq!(v["benchmarks"][1]["median_ns"], 80.0);
        assert_eq!(v["benchmarks"][0]["throughput"]["Elements"], 1);
        let pivot = &v["pivots"][0];
        assert_eq!(pivot["shape"], "pair");
        assert_eq!(pivot["columns"], json!(["cranelift", "avx2"]));
        assert_eq!(pivot["ratio_columns"], json!(["cranelift/avx2"]));
        assert_eq!(pivot["rows"][0]["cells"]["cranelift"]["ns"], 40.0);
        assert_eq!(pivot["rows"][0]["ratios"]["cranelift/avx2"], 0.5);
        assert_eq!(pivot["speedup"], Value::Null);
    }

    #[test]
    fn json_summary_with_llvm() {
        let records = vec![
            record("pair/l2/d768", "cranelift", Some(1), 40.0),
            record("pair/l2/d768", "llvm", Some(1), 20.0),
            record("pair/l2/d768", "simsimd", Some(1), 30.0),
        ];
        let v = render_json(&summary(records));
        let pivot = &v["pivots"][0];
        assert_eq!(pivot["columns"], json!(["cranelift", "llvm", "simsimd"]));
        assert_eq!(
            pivot["ratio_columns"],
            json!(["cranelift/simsimd", "llvm/simsimd"])
        );
        assert_eq!(pivot["rows"][0]["ratios"]["llvm/simsimd"], 20.0 / 30.0);
        assert_eq!(pivot["speedup"]["name"], "simsimd/llvm");
        assert_eq!(pivot["speedup"]["min"], 1.5);
        assert_eq!(
            pivot["speedup"]["max_at"],
            json!({"metric": "l2", "dim": 768})
        );
        assert_eq!(pivot["speedup"]["rows"], 1);
    }

    #[test]
    fn groups_sort_by_dimension_value() {
        let mut ids = vec!["zzz", "pair/l2/d768", "batch/l2/d96", "pair/l2/d96", "aaa"];
        ids.sort_by(|a, b| group_cmp(a, b));
        assert_eq!(
            ids,
            ["batch/l2/d96", "pair/l2/d96", "pair/l2/d768", "aaa", "zzz"]
        );
    }

    #[test]
    fn number_formatting() {
        assert_eq!(format_ns(1234.56), "1235");
        assert_eq!(format_ns(123.456), "123.5");
        assert_eq!(format_ns(12.3456), "12.35");
        assert_eq!(format_ns(1.23456), "1.235");
    }
}
