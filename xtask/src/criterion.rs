//! Reading criterion 0.5's on-disk results:
//! `<criterion dir>/<group>/<function>/<value>/new/{benchmark,estimates}.json`.

use serde_json::Value;
use std::cmp::Ordering;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Throughput {
    Elements(u64),
    Bytes(u64),
    BytesDecimal(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub group_id: String,
    pub function_id: Option<String>,
    pub value_str: Option<String>,
    pub throughput: Option<Throughput>,
    /// Median time of one iteration, in nanoseconds.
    pub median_ns: f64,
}

impl Record {
    pub fn elements(&self) -> Option<u64> {
        match self.throughput {
            Some(Throughput::Elements(n)) if n > 0 => Some(n),
            _ => None,
        }
    }

    pub fn ns_per_element(&self) -> Option<f64> {
        self.elements().map(|n| self.median_ns / n as f64)
    }
}

pub fn parse_record(benchmark_json: &str, estimates_json: &str) -> Result<Record, String> {
    let bench: Value =
        serde_json::from_str(benchmark_json).map_err(|e| format!("benchmark.json: {e}"))?;
    let estimates: Value =
        serde_json::from_str(estimates_json).map_err(|e| format!("estimates.json: {e}"))?;
    let group_id = bench["group_id"]
        .as_str()
        .ok_or("benchmark.json: no \"group_id\" string")?
        .to_string();
    let median_ns = estimates["median"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json: no \"median\".\"point_estimate\" number")?;
    Ok(Record {
        group_id,
        function_id: bench["function_id"].as_str().map(String::from),
        value_str: bench["value_str"].as_str().map(String::from),
        throughput: parse_throughput(&bench["throughput"])?,
        median_ns,
    })
}

/// Serde's externally tagged enum encoding, e.g. `{"Elements": 1024}`.
fn parse_throughput(value: &Value) -> Result<Option<Throughput>, String> {
    let invalid = || format!("benchmark.json: unrecognised \"throughput\": {value}");
    let Some(map) = value.as_object() else {
        return if value.is_null() {
            Ok(None)
        } else {
            Err(invalid())
        };
    };
    let mut entries = map.iter();
    let (Some((kind, amount)), None) = (entries.next(), entries.next()) else {
        return Err(invalid());
    };
    let amount = amount.as_u64().ok_or_else(invalid)?;
    match kind.as_str() {
        "Elements" => Ok(Some(Throughput::Elements(amount))),
        "Bytes" => Ok(Some(Throughput::Bytes(amount))),
        "BytesDecimal" => Ok(Some(Throughput::BytesDecimal(amount))),
        _ => Err(invalid()),
    }
}

/// Loads every benchmark under `dir`. With `since`, results whose estimates are
/// older are skipped: criterion never deletes results, so without this a
/// filtered run would be mixed with stale numbers from earlier runs.
pub fn load(dir: &Path, since: Option<SystemTime>) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    if dir.is_dir() {
        visit(dir, since, &mut records)?;
    }
    records.sort_by(|a, b| {
        a.group_id
            .cmp(&b.group_id)
            .then_with(|| a.function_id.cmp(&b.function_id))
            .then_with(|| natural_cmp_opt(a.value_str.as_deref(), b.value_str.as_deref()))
    });
    Ok(records)
}

fn visit(dir: &Path, since: Option<SystemTime>, out: &mut Vec<Record>) -> Result<(), String> {
    let io_err = |path: &Path, e: std::io::Error| format!("reading {}: {e}", path.display());
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        if !entry.file_type().map_err(|e| io_err(&path, e))?.is_dir() {
            continue;
        }
        let benchmark = path.join("benchmark.json");
        let estimates = path.join("estimates.json");
        // A group or function may itself be named "new", so only a "new" dir
        // holding both files is a result; anything else is descended into.
        if entry.file_name() == "new" && benchmark.is_file() && estimates.is_file() {
            if let Some(since) = since {
                let modified = fs::metadata(&estimates)
                    .and_then(|m| m.modified())
                    .map_err(|e| io_err(&estimates, e))?;
                if modified < since {
                    continue;
                }
            }
            let read = |p: &Path| fs::read_to_string(p).map_err(|e| io_err(p, e));
            let record = parse_record(&read(&benchmark)?, &read(&estimates)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(record);
        } else {
            visit(&path, since, out)?;
        }
    }
    Ok(())
}

/// Orders numeric strings by value ("96" before "768") and before all other
/// strings, which keeps the order total when the two kinds are mixed.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

pub fn natural_cmp_opt(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => natural_cmp(a, b),
        _ => a.cmp(&b),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::time::{Duration, UNIX_EPOCH};

    /// A fresh directory under the system temp dir, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let n = COUNTER.fetch_add(1, AtomicOrdering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("xtask-{tag}-{}-{nanos}-{n}", std::process::id()));
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes one benchmark the way criterion 0.5 lays it out on disk.
    pub fn write_bench(
        root: &Path,
        group: &str,
        function: Option<&str>,
        value: Option<&str>,
        elements: Option<u64>,
        median_ns: f64,
    ) {
        let sanitize = |s: &str| s.replace(['/', '\\', '?', '"', '*', ':', '<', '>', '|'], "_");
        let mut dir = root.join(sanitize(group));
        for part in [function, value].into_iter().flatten() {
            dir = dir.join(sanitize(part));
        }
        let full_id = [Some(group), function, value]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
        let benchmark = serde_json::json!({
            "group_id": group,
            "function_id": function,
            "value_str": value,
            "throughput": elements.map(|n| serde_json::json!({ "Elements": n })),
            "full_id": full_id,
            "directory_name": dir.strip_prefix(root).unwrap().to_string_lossy(),
            "title": full_id,
        });
        let estimate = |point: f64| {
            serde_json::json!({
                "confidence_interval": {
                    "confidence_level": 0.95,
                    "lower_bound": point * 0.99,
                    "upper_bound": point * 1.01,
                },
                "point_estimate": point,
                "standard_error": point * 0.005,
            })
        };
        let estimates = serde_json::json!({
            "mean": estimate(median_ns * 1.02),
            "median": estimate(median_ns),
            "median_abs_dev": estimate(median_ns * 0.01),
            "slope": estimate(median_ns * 1.01),
            "std_dev": estimate(median_ns * 0.02),
        });
        for sub in ["new", "base"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
            fs::write(dir.join(sub).join("benchmark.json"), benchmark.to_string()).unwrap();
            fs::write(dir.join(sub).join("estimates.json"), estimates.to_string()).unwrap();
        }
        // Criterion also writes HTML reports, which must be ignored.
        fs::create_dir_all(dir.join("report")).unwrap();
        fs::write(dir.join("report").join("index.html"), "<html></html>").unwrap();
    }

    #[test]
    fn loads_criterion_layout() {
        let tmp = TempDir::new("load");
        let root = &tmp.0;
        write_bench(root, "pair/l2/d768", Some("cranelift"), None, Some(1), 41.5);
        write_bench(root, "pair/l2/d768", Some("simsimd"), None, Some(1), 50.0);
        write_bench(
            root,
            "batch",
            Some("scan"),
            Some("1024"),
            Some(1024),
            2048.0,
        );
        write_bench(root, "batch", Some("scan"), Some("128"), None, 300.0);
        write_bench(root, "lone", None, None, None, 7.0);
        fs::create_dir_all(root.join("report")).unwrap();

        let records = load(root, None).unwrap();
        let ids: Vec<(&str, Option<&str>, Option<&str>)> = records
            .iter()
            .map(|r| {
                (
                    r.group_id.as_str(),
                    r.function_id.as_deref(),
                    r.value_str.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("batch", Some("scan"), Some("128")),
                ("batch", Some("scan"), Some("1024")),
                ("lone", None, None),
                ("pair/l2/d768", Some("cranelift"), None),
                ("pair/l2/d768", Some("simsimd"), None),
            ]
        );
        assert_eq!(records[1].median_ns, 2048.0);
        assert_eq!(records[1].throughput, Some(Throughput::Elements(1024)));
        assert_eq!(records[1].ns_per_element(), Some(2.0));
        assert_eq!(records[0].ns_per_element(), None);
    }

    #[test]
    fn since_filters_stale_results() {
        let tmp = TempDir::new("since");
        write_bench(&tmp.0, "g", Some("f"), None, None, 1.0);
        assert_eq!(load(&tmp.0, Some(UNIX_EPOCH)).unwrap().len(), 1);
        let future = SystemTime::now() + Duration::from_secs(3600);
        assert!(load(&tmp.0, Some(future)).unwrap().is_empty());
    }

    #[test]
    fn missing_dir_is_empty() {
        let tmp = TempDir::new("missing");
        assert!(load(&tmp.0.join("nope"), None).unwrap().is_empty());
    }

    #[test]
    fn throughput_kinds() {
        let est = r#"{"median": {"point_estimate": 10.0}}"#;
        let with = |t: &str| {
            parse_record(
                &format!(
                    r#"{{"group_id": "g", "function_id": null, "value_str": null, "throughput": {t}}}"#
                ),
                est,
            )
        };
        assert_eq!(with("null").unwrap().throughput, None);
        assert_eq!(
            with(r#"{"Bytes": 4}"#).unwrap().throughput,
            Some(Throughput::Bytes(4))
        );
        assert_eq!(
            with(r#"{"BytesDecimal": 4}"#).unwrap().throughput,
            Some(Throughput::BytesDecimal(4))
        );
        assert!(with(r#"{"Bytes": 4}"#).unwrap().ns_per_element().is_none());
        assert!(with(r#"{"Widgets": 4}"#).is_err());
        assert!(with(r#""Elements""#).is_err());
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse_record("{}", r#"{"median": {"point_estimate": 1.0}}"#).is_err());
        assert!(parse_record(r#"{"group_id": "g"}"#, "{}").is_err());
        assert!(parse_record("not json", "{}").is_err());
    }

    #[test]
    fn natural_order() {
        let mut values = vec!["768", "abc", "96", "1536", "10.5"];
        values.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(values, ["10.5", "96", "768", "1536", "abc"]);
    }
}
