//! Prints one table of every performance figure against its target, from what `make bench` left
//! behind: criterion's estimates (`target/criterion`), the figures of the cold-start and
//! large-fetch benches (`target/bench`), the release bootstraps (their zipped size) and
//! `cargo bloat`'s list, if `make bench` saved one. A figure that is missing says so.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use integration_tests::bench::{figures_dir, machine, read_figures};
use integration_tests::root;
use serde_json::Value;

const FUNCTIONS: [&str; 4] = ["webhook-receiver", "contract-fetcher", "event-publisher", "sweeper"];

struct Row {
    what: String,
    figure: String,
    target: &'static str,
    /// Some(true) met, Some(false) missed, None no target.
    met: Option<bool>,
}

fn row(what: impl Into<String>, figure: Option<f64>, unit: &str, target: &'static str, limit: Option<f64>) -> Row {
    let (figure, met) = match figure.filter(|f| f.is_finite()) {
        Some(f) if unit.is_empty() => (format!("{f:.0}"), limit.map(|limit| f <= limit)),
        Some(f) => (format!("{} {unit}", round(f)), limit.map(|limit| f <= limit)),
        None => ("not measured".to_owned(), limit.map(|_| false)),
    };
    Row { what: what.into(), figure, target, met }
}

fn round(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

/// criterion's median estimates by "group/function", in microseconds.
fn criterion_medians(dir: &Path) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "new") {
                let read = |name: &str| -> Option<Value> {
                    serde_json::from_slice(&std::fs::read(path.join(name)).ok()?).ok()
                };
                if let (Some(benchmark), Some(estimates)) = (read("benchmark.json"), read("estimates.json")) {
                    let title = benchmark["title"].as_str().unwrap_or_default().to_owned();
                    if let Some(ns) = estimates["median"]["point_estimate"].as_f64() {
                        found.push((title, ns / 1000.0));
                    }
                }
            } else {
                found.extend(criterion_medians(&path));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The bootstrap's size on disk and deflated (the method and default level of a Lambda zip).
fn sizes(path: &Path) -> Option<(f64, f64)> {
    let bytes = std::fs::read(path).ok()?;
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&bytes).ok()?;
    let zipped = encoder.finish().ok()?.len();
    let mb = |n: usize| n as f64 / 1_000_000.0;
    Some((mb(bytes.len()), mb(zipped)))
}

/// The AWS calls and write units per webhook and per stored document (the calls bench), against
/// their targets; the writes one part per call beside them, for comparison.
fn calls_rows(rows: &mut Vec<Row>) {
    let calls = read_figures("calls");
    let events = calls.as_ref().and_then(|c| c["events"].as_object().cloned()).unwrap_or_default();
    for (event, figures) in &events {
        let (target, limit) = match figures["target"].as_u64() {
            Some(6) => ("<= 6", Some(6.0)),
            Some(5) => ("<= 5", Some(5.0)),
            _ => ("", None),
        };
        let now = &figures["transaction"];
        let before = &figures["part_by_part"];
        rows.push(row(format!("webhook-receiver: AWS calls, {event}"), now["calls"].as_f64(), "", target, limit));
        rows.push(row("the same, one call per part (before)", before["calls"].as_f64(), "", "", None));
        let units = format!("webhook-receiver: DynamoDB write units, {event} (before: {})", before["write_units"]);
        rows.push(row(units, now["write_units"].as_f64(), "", "", None));
    }
    let fetcher = calls.as_ref().map(|c| c["fetcher"].clone()).unwrap_or_default();
    rows.push(row(
        "contract-fetcher: AWS calls per stored document",
        fetcher["calls_per_document"].as_f64(),
        "",
        "<= 3",
        Some(3.0),
    ));
    rows.push(row(
        "contract-fetcher: DynamoDB write units per stored document",
        fetcher["write_units"].as_f64(),
        "",
        "",
        None,
    ));
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn main() {
    let mut rows = Vec::new();
    let cold = read_figures("cold_start");
    let figure = |function: &str, name: &str| cold.as_ref().and_then(|c| c[function][name].as_f64());
    for function in FUNCTIONS {
        rows.push(row(
            format!("{function}: init to first next-invocation request"),
            figure(function, "init_ms"),
            "ms",
            "<= 10 ms",
            Some(10.0),
        ));
        let early = figure(function, "connections_before_first_poll");
        rows.push(row(format!("{function}: connections to AWS before that"), early, "", "0", Some(0.0)));
        rows.push(row(
            format!("{function}: first invocation"),
            figure(function, "first_invocation_ms"),
            "ms",
            "",
            None,
        ));
        rows.push(row(format!("{function}: warm invocation"), figure(function, "warm_invocation_ms"), "ms", "", None));
    }
    rows.push(row(
        "webhook-receiver: peak resident memory, warm",
        figure("webhook-receiver", "peak_rss_mib"),
        "MiB",
        "<= 40 MB",
        Some(40.0 * 1_000_000.0 / 1_048_576.0),
    ));
    rows.push(row(
        "contract-fetcher: peak resident memory, warm",
        figure("contract-fetcher", "peak_rss_mib"),
        "MiB",
        "",
        None,
    ));
    let large = read_figures("fetch_large");
    let large_figure = |name: &str| large.as_ref().and_then(|l| l[name].as_f64());
    rows.push(row(
        "contract-fetcher: peak resident memory, 256 MiB document",
        large_figure("peak_rss_mib"),
        "MiB",
        "<= 64 MiB",
        Some(64.0),
    ));
    rows.push(row("contract-fetcher: 256 MiB document, throughput", large_figure("mib_per_second"), "MiB/s", "", None));

    let sweep = read_figures("sweep");
    let sweep_figure = |name: &str| sweep.as_ref().and_then(|s| s[name].as_f64());
    let pending = sweep_figure("pending");
    rows.push(row(
        format!(
            "sweeper: items read per sweep ({} items in the table, {} pending)",
            sweep_figure("table_items").unwrap_or_default(),
            pending.unwrap_or_default()
        ),
        sweep_figure("items_read"),
        "items",
        "= pending",
        pending,
    ));
    rows.push(row("sweeper: one sweep of them, on moto", sweep_figure("sweep_ms"), "ms", "", None));
    for (name, micros) in criterion_medians(&target_dir().join("criterion")) {
        let (target, limit) = match name.as_str() {
            "parse+plan/contract-signed (seed 002)" => ("<= 100 us", Some(100.0)),
            n if n.ends_with(", ports doing nothing") => ("", None),
            n if n.starts_with("receiver handler/") => ("<= 400 us", Some(400.0)),
            n if n.starts_with("publisher: per stream record") => ("", None),
            _ => ("", None),
        };
        rows.push(row(name, Some(micros), "us", target, limit));
    }
    calls_rows(&mut rows);

    for function in FUNCTIONS {
        let path = target_dir().join("release").join(function);
        let (size, zipped) = sizes(&path).unzip();
        rows.push(row(format!("{function}: bootstrap, stripped"), size, "MB", "", None));
        rows.push(row(format!("{function}: bootstrap, zipped"), zipped, "MB", "<= 6 MB", Some(6.0)));
    }
    // What a deployment uploads: `sam build` (scripts/sam-build.sh), compared with the above.
    for (function, logical_id) in
        FUNCTIONS.iter().zip(["WebhookReceiver", "ContractFetcher", "EventPublisher", "Sweeper"])
    {
        let measured = sizes(&target_dir().join("release").join(function));
        let deployed = sizes(&root().join(".aws-sam/build").join(logical_id).join("bootstrap"));
        let (size, zipped) = deployed.unzip();
        rows.push(row(format!("{function}: bootstrap as `sam build` makes it"), size, "MB", "", None));
        rows.push(row(format!("{function}: the same, zipped"), zipped, "MB", "<= 6 MB", Some(6.0)));
        let difference = measured.zip(deployed).map(|((m, _), (d, _))| (d - m).abs() / m * 100.0);
        rows.push(row(
            format!("{function}: `sam build` vs the measured bootstrap"),
            difference,
            "%",
            "<= 2 %",
            Some(2.0),
        ));
    }

    println!("Machine: {}", machine());
    println!();
    println!("| figure | value | target | |");
    println!("| --- | --- | --- | --- |");
    for Row { what, figure, target, met } in &rows {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        println!("| {what} | {figure} | {target} | {mark} |");
    }
    for function in FUNCTIONS {
        if let Ok(bloat) = std::fs::read_to_string(figures_dir().join(format!("bloat-{function}.txt"))) {
            println!();
            println!("Heaviest crates in {function} (`cargo bloat --crates`, unstripped build):");
            println!("```");
            print!("{bloat}");
            println!("```");
        }
    }
}
