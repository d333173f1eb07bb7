//! Small helpers the benchmarks share: where they leave their figures for `bench-report`
//! (`target/bench/<name>.json`), medians, peak memory and the machine they ran on.

use std::path::PathBuf;

use serde_json::Value;

/// `target/bench` (or under `CARGO_TARGET_DIR`).
pub fn figures_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"))
        .join("bench")
}

/// Saves one benchmark's figures, for `bench-report` to print.
pub fn write_figures(name: &str, figures: &Value) {
    let dir = figures_dir();
    let path = dir.join(format!("{name}.json"));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(figures).unwrap_or_default()))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// One benchmark's saved figures, if it ran.
pub fn read_figures(name: &str) -> Option<Value> {
    let text = std::fs::read(figures_dir().join(format!("{name}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The median of `values` (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Peak resident memory (VmHWM) of a process, or of this one, in MiB.
pub fn peak_rss_mib(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(|| "/proc/self/status".to_owned(), |pid| format!("/proc/{pid}/status"));
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

/// The CPU, its cores, the memory and the kernel, in one line.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, {memory_gib:.0} GiB, Linux {}", kernel.trim())
}
