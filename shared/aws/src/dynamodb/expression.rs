//! Update and condition expressions, built one way: every attribute name through a `#n<i>`
//! placeholder (reserved words such as `name` and `status` are safe) and every value through
//! `:v<i>`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::INDEX_KEY_ATTRIBUTES;

/// Builds the placeholders of an expression: every attribute name goes through `#n<i>` (so
/// reserved words such as `name` and `status` are safe) and every value through `:v<i>`.
#[derive(Clone, Default)]
pub(super) struct Expression {
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
    /// Each name and its placeholder, in order: an expression has a few dozen at most, which a
    /// scan finds sooner than a hash would.
    placeholders: Vec<(String, String)>,
}

impl Expression {
    pub(super) fn name(&mut self, name: &str) -> String {
        if let Some((_, placeholder)) = self.placeholders.iter().find(|(n, _)| n == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        self.placeholders.push((name.to_owned(), placeholder.clone()));
        placeholder
    }

    pub(super) fn path(&mut self, path: &[String]) -> String {
        path.iter().map(|segment| self.name(segment)).collect::<Vec<_>>().join(".")
    }

    pub(super) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }
}

/// The clauses of an update expression.
#[derive(Default)]
pub(super) struct Clauses {
    pub(super) set: Vec<String>,
    pub(super) remove: Vec<String>,
    pub(super) add: Vec<String>,
}

impl Clauses {
    /// `SET name = value`, except that an index key attribute given NULL is removed instead:
    /// DynamoDB refuses an index key of any type but its own (moto does not).
    pub(super) fn set_or_remove(&mut self, expr: &mut Expression, name: &str, value: AttributeValue) {
        if value.is_null() && INDEX_KEY_ATTRIBUTES.contains(&name) {
            self.remove.push(expr.name(name));
        } else {
            self.set.push(format!("{} = {}", expr.name(name), expr.value(value)));
        }
    }

    pub(super) fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (keyword, clauses) in [("SET", &self.set), ("REMOVE", &self.remove), ("ADD", &self.add)] {
            if !clauses.is_empty() {
                parts.push(format!("{keyword} {}", clauses.join(", ")));
            }
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_names_are_placeholders_reused_per_name() {
        let mut expr = Expression::default();
        let a = expr.name("status");
        let b = expr.name("status");
        assert_eq!(a, b);
        assert_eq!(expr.path(&["contract".into(), "version".into()]), "#n1.#n2");
    }
}
