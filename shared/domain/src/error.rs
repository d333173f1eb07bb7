//! Errors as one line for a log or an item: the error and each of its sources.

use std::error::Error;

/// `error` and its sources, joined with `: `; a source whose text is already in the line is left
/// out. The AWS SDK's own message says only "service error" and keeps the code and the message in
/// its sources, and reqwest's keeps the cause (a refused connection, a timeout) in its.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(&'static str, #[source] Option<Box<Layer>>);

    #[test]
    fn every_source_is_named_once() {
        let inner = Layer("connection refused", None);
        let middle = Layer("client error (Connect)", Some(Box::new(inner)));
        let outer = Layer("service error", Some(Box::new(middle)));
        assert_eq!(chain(&outer), "service error: client error (Connect): connection refused");
        let repeated = Layer("dispatch failure: connection refused", Some(Box::new(Layer("connection refused", None))));
        assert_eq!(chain(&repeated), "dispatch failure: connection refused");
    }
}
