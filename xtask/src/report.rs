//! Turning criterion records into the markdown and JSON bench summaries.

use crate::cpu::CpuInfo;
use crate::criterion::{natural_cmp_opt, Record, Throughput};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The implementation under test; the other columns of a pivot are its baselines.
const PRIMARY: &str = "cranelift";
/// Baselines that get a `cranelift/<baseline>` ratio column when both are present.
const RATIO_BASELINES: &[&str] = &["simsimd", "avx2"];

pub struct Summary {
    pub cpu: CpuInfo,
    pub command: String,
    pub records: Vec<Record>,
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
}

impl PivotRow {
    /// Only comparable cells yield a ratio: per-distance against per-iteration is meaningless.
    pub fn ratio(&self, baseline: &str) -> Option<f64> {
        let primary = self.cells.get(PRIMARY)?;
        let base = self.cells.get(baseline)?;
        (primary.per_distance == base.per_distance && base.ns > 0.0).then(|| primary.ns / base.ns)
    }
}

#[derive(Debug, PartialEq)]
pub struct Pivot {
    pub shape: String,
    pub columns: Vec<String>,
    pub ratio_baselines: Vec<String>,
    pub rows: Vec<PivotRow>,
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
            .entry((metric.to_string(), dim, record.value_str.clone()))
            .or_default()
            .insert(implementation.clone(), cell);
    }

    shapes
        .into_iter()
        .map(|(shape, rows)| {
            let implementations: BTreeSet<&String> = rows.values().flat_map(|c| c.keys()).collect();
            let mut columns: Vec<String> = implementations.into_iter().cloned().collect();
            // Stable sort keeps the rest alphabetical while the subject leads.
            columns.sort_by_key(|c| c != PRIMARY);
            let has = |name: &str| columns.iter().any(|c| c == name);
            let ratio_baselines = if has(PRIMARY) {
                RATIO_BASELINES
                    .iter()
                    .filter(|b| has(b))
                    .map(|b| b.to_string())
                    .collect()
            } else {
                Vec::new()
            };
            let mut rows: Vec<PivotRow> = rows
                .into_iter()
                .map(|((metric, dim, value), cells)| PivotRow {
                    metric,
                    dim,
                    value,
                    cells,
                })
                .collect();
            rows.sort_by(|a, b| {
                a.metric
                    .cmp(&b.metric)
                    .then(a.dim.cmp(&b.dim))
                    .then_with(|| natural_cmp_opt(a.value.as_deref(), b.value.as_deref()))
            });
            Pivot {
                shape: shape.to_string(),
                columns,
                ratio_baselines,
                rows,
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

fn ratio_header(baseline: &str) -> String {
    format!("{PRIMARY}/{baseline}")
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

    let pivots = pivots(&summary.records);
    if !pivots.is_empty() {
        out.push_str("\n## Implementations by shape\n\n");
        out.push_str(
            "Cells are median ns per distance (one Elements throughput unit); \
             ratios below 1 mean cranelift is faster.\n",
        );
    }
    for pivot in &pivots {
        render_pivot(&mut out, pivot);
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

fn render_pivot(out: &mut String, pivot: &Pivot) {
    let _ = writeln!(out, "\n### {}\n", escape(&pivot.shape));
    let with_value = pivot.rows.iter().any(|r| r.value.is_some());
    let mut headers = vec!["metric".to_string(), "dim".to_string()];
    if with_value {
        headers.push("value".to_string());
    }
    headers.extend(pivot.columns.iter().map(|c| escape(c)));
    headers.extend(
        pivot
            .ratio_baselines
            .iter()
            .map(|b| escape(&ratio_header(b))),
    );
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
        for baseline in &pivot.ratio_baselines {
            cells.push(
                row.ratio(baseline)
                    .map_or("—".to_string(), |r| format!("{r:.2}")),
            );
        }
        out.push_str(&table_row(&cells));
    }
    if any_per_iteration {
        out.push_str("\n\\* ns per iteration: no Elements throughput was recorded.\n");
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
    let pivots: Vec<Value> = pivots(&summary.records)
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
                        .ratio_baselines
                        .iter()
                        .filter_map(|b| Some((ratio_header(b), json!(row.ratio(b)?))))
                        .collect();
                    json!({
                        "metric": row.metric,
                        "dim": row.dim,
                        "value_str": row.value,
                        "cells": cells,
                        "ratios": ratios,
                    })
                })
                .collect();
            json!({
                "shape": p.shape,
                "columns": p.columns,
                "ratio_columns": p.ratio_baselines.iter().map(|b| ratio_header(b)).collect::<Vec<_>>(),
                "rows": rows,
            })
        })
        .collect();
    json!({
        "cpu": { "model": summary.cpu.model, "flags": flags },
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
        assert!(batch.ratio_baselines.is_empty());
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
        assert_eq!(pair.ratio_baselines, ["simsimd", "avx2"]);
        let keys: Vec<(&str, u64)> = pair
            .rows
            .iter()
            .map(|r| (r.metric.as_str(), r.dim))
            .collect();
        assert_eq!(keys, [("ip", 768), ("l2", 96), ("l2", 768)]);
        let l2_768 = &pair.rows[2];
        assert_eq!(l2_768.ratio("simsimd"), Some(0.8));
        assert_eq!(l2_768.ratio("avx2"), Some(0.5));
        assert_eq!(pair.rows[0].ratio("simsimd"), None);
    }

    #[test]
    fn no_ratio_without_primary() {
        let records = vec![
            record("pair/l2/d8", "avx2", Some(1), 2.0),
            record("pair/l2/d8", "simsimd", Some(1), 3.0),
        ];
        assert!(pivots(&records)[0].ratio_baselines.is_empty());
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
