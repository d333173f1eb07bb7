//! The SAM template read as CloudFormation would deploy it: its parameters' defaults, its
//! conditions, `!If` and `AWS::NoValue` resolved for the parameters a test gives.

use serde_yaml::Value;

/// `infra/template.yaml`, as written.
pub fn template() -> Value {
    let path = crate::root().join("infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A parameter's value: the one given, else the template's default.
fn parameter(template: &Value, given: &[(&str, &str)], name: &str) -> String {
    if let Some((_, value)) = given.iter().find(|(n, _)| *n == name) {
        return (*value).to_owned();
    }
    match &template["Parameters"][name]["Default"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("parameter {name} has no value: {other:?}"),
    }
}

/// A condition's value for the parameters `given` (`!Equals`, `!And`, `!Or`, `!Not`,
/// `!Condition` over parameters and literals: what the template uses).
fn condition(template: &Value, given: &[(&str, &str)], value: &Value) -> bool {
    let Value::Tagged(tagged) = value else { panic!("not a condition: {value:?}") };
    let args = || tagged.value.as_sequence().map(|s| s.as_slice()).unwrap_or_default();
    let operand = |v: &Value| match v {
        Value::Tagged(t) if t.tag == "!Ref" => parameter(template, given, t.value.as_str().unwrap()),
        Value::String(s) => s.clone(),
        other => panic!("an operand: {other:?}"),
    };
    match tagged.tag.to_string().as_str() {
        "!Equals" => operand(&args()[0]) == operand(&args()[1]),
        "!And" => args().iter().all(|c| condition(template, given, c)),
        "!Or" => args().iter().any(|c| condition(template, given, c)),
        "!Not" => !condition(template, given, &args()[0]),
        "!Condition" => named_condition(template, given, tagged.value.as_str().unwrap()),
        other => panic!("condition function {other}"),
    }
}

fn named_condition(template: &Value, given: &[(&str, &str)], name: &str) -> bool {
    condition(template, given, &template["Conditions"][name])
}

/// `value` with every `!If` resolved and every `AWS::NoValue` taken out.
fn resolve(template: &Value, given: &[(&str, &str)], value: &Value) -> Option<Value> {
    match value {
        Value::Tagged(t) if t.tag == "!If" => {
            let args = t.value.as_sequence().unwrap();
            let chosen = if named_condition(template, given, args[0].as_str().unwrap()) { &args[1] } else { &args[2] };
            resolve(template, given, chosen)
        }
        Value::Tagged(t) if t.tag == "!Ref" && t.value == "AWS::NoValue" => None,
        Value::Tagged(t) if t.tag == "!Ref" && template["Parameters"].get(t.value.as_str().unwrap()).is_some() => {
            Some(Value::String(parameter(template, given, t.value.as_str().unwrap())))
        }
        Value::Sequence(items) => {
            Some(Value::Sequence(items.iter().filter_map(|v| resolve(template, given, v)).collect()))
        }
        Value::Mapping(map) => Some(Value::Mapping(
            map.iter().filter_map(|(k, v)| resolve(template, given, v).map(|v| (k.clone(), v))).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// The template as CloudFormation deploys it with the parameters `given`: the resources whose
/// condition holds, with every `!If` resolved.
pub fn rendered(given: &[(&str, &str)]) -> Value {
    let template = template();
    let mut out = template.clone();
    let resources = template["Resources"].as_mapping().unwrap().iter().filter(|(_, resource)| {
        resource.get("Condition").is_none_or(|c| named_condition(&template, given, c.as_str().unwrap()))
    });
    out["Resources"] =
        Value::Mapping(resources.map(|(k, v)| (k.clone(), resolve(&template, given, v).unwrap())).collect());
    let outputs = template["Outputs"].as_mapping().unwrap().iter().filter(|(_, output)| {
        output.get("Condition").is_none_or(|c| named_condition(&template, given, c.as_str().unwrap()))
    });
    out["Outputs"] = Value::Mapping(outputs.map(|(k, v)| (k.clone(), v.clone())).collect());
    out
}

/// A resource's properties.
pub fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    &template["Resources"][name]["Properties"]
}

/// Every string in `value`, through lists and tags (`!Ref X` is `X`, `!GetAtt X.Arn` is `X.Arn`).
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Tagged(tagged) => strings(&tagged.value),
        _ => Vec::new(),
    }
}

/// Every resource of `kind`.
pub fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<&'a Value> {
    template["Resources"].as_mapping().unwrap().values().filter(|r| r["Type"] == kind).collect()
}
