//! A reader of CloudWatch Embedded Metric Format lines that checks them against the format's
//! rules, as CloudWatch Logs would before extracting metrics: a root object; `_aws` with an
//! integer `Timestamp` (milliseconds) and at least one `CloudWatchMetrics` directive; each
//! directive with a `Namespace`, `Dimensions` (arrays of at most 30 names, each a string member
//! of the root) and `Metrics` (each `Name` a numeric member of the root, `Unit` a CloudWatch unit).

use std::collections::BTreeMap;

use serde_json::Value;

const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One EMF line, read and checked.
#[derive(Debug)]
pub struct EmfLine {
    pub namespace: String,
    pub timestamp_ms: i64,
    pub dimension_sets: Vec<Vec<String>>,
    /// Each metric's value.
    pub metrics: BTreeMap<String, f64>,
    pub root: serde_json::Map<String, Value>,
}

impl EmfLine {
    /// A dimension's value, or a property's text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.root.get(name)?.as_str()
    }

    pub fn metric(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or_else(|| panic!("no metric {name} in {:?}", self.root))
    }
}

/// Reads one line; the error names the rule it breaks.
pub fn parse(line: &str) -> Result<EmfLine, String> {
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = root.as_object().ok_or("not a JSON object")?.clone();
    let aws = root.get("_aws").and_then(Value::as_object).ok_or("no _aws object")?;
    let timestamp_ms = aws.get("Timestamp").and_then(Value::as_i64).ok_or("_aws.Timestamp is not an integer")?;
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no _aws.CloudWatchMetrics array")?;
    let [directive] = directives.as_slice() else { return Err("expected one metric directive".into()) };
    let namespace = directive["Namespace"].as_str().filter(|n| !n.is_empty()).ok_or("no Namespace")?.to_owned();
    let mut dimension_sets = Vec::new();
    for set in directive["Dimensions"].as_array().ok_or("Dimensions is not an array")? {
        let names: Vec<String> = set
            .as_array()
            .ok_or("a dimension set is not an array")?
            .iter()
            .map(|name| name.as_str().map(str::to_owned).ok_or("a dimension name is not a string"))
            .collect::<Result<_, _>>()?;
        if names.len() > 30 {
            return Err("more than 30 dimensions in a set".into());
        }
        for name in &names {
            if !root.get(name).is_some_and(Value::is_string) {
                return Err(format!("dimension {name} is not a string member of the root"));
            }
        }
        dimension_sets.push(names);
    }
    let mut metrics = BTreeMap::new();
    for metric in directive["Metrics"].as_array().ok_or("Metrics is not an array")? {
        let name = metric["Name"].as_str().ok_or("a metric without Name")?;
        if let Some(unit) = metric.get("Unit") {
            let unit = unit.as_str().ok_or("Unit is not a string")?;
            if !UNITS.contains(&unit) {
                return Err(format!("{unit} is not a CloudWatch unit"));
            }
        }
        let value = root.get(name).and_then(Value::as_f64).ok_or(format!("metric {name} has no numeric value"))?;
        metrics.insert(name.to_owned(), value);
    }
    if metrics.is_empty() {
        return Err("no metrics".into());
    }
    Ok(EmfLine { namespace, timestamp_ms, dimension_sets, metrics, root })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_break_a_rule_are_refused() {
        let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["F"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"F":"f","M":1}"#;
        assert!(parse(good).is_ok());
        for (bad, rule) in [
            (good.replace(r#""F":"f","#, ""), "dimension F"),
            (good.replace(r#","M":1"#, ""), "metric M"),
            (good.replace("Count", "Things"), "not a CloudWatch unit"),
            (good.replace(r#""Timestamp":1"#, r#""Timestamp":"1""#), "Timestamp"),
        ] {
            let error = parse(&bad).unwrap_err();
            assert!(error.contains(rule), "{error}");
        }
    }
}
