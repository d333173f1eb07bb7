//! The event publisher's configuration.

use crate::env::{ConfigError, Env};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherConfig {
    /// `JOBS_TABLE`: where the publication log is kept (the table whose stream it reads).
    pub jobs_table: String,
    /// `DOCUMENTS_BUCKET`: named in `Document Stored`.
    pub documents_bucket: String,
    /// `EVENT_BUS_NAME`: the bus (a name or an ARN) the events go to.
    pub event_bus: String,
    /// `PUBLISH_FAILURES_QUEUE_URL`: where the sites it could not publish are noted.
    pub failures_queue_url: String,
    /// `PUBLISH_ATTEMPTS` (default 3, 1 to 10): how many times one invocation puts an entry the
    /// bus refused before it gives the batch back.
    pub attempts: u32,
}

impl PublisherConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        Ok(Self {
            jobs_table: env.required("JOBS_TABLE")?,
            documents_bucket: env.required("DOCUMENTS_BUCKET")?,
            event_bus: env.required("EVENT_BUS_NAME")?,
            failures_queue_url: env.required("PUBLISH_FAILURES_QUEUE_URL")?,
            attempts: u32::try_from(env.number("PUBLISH_ATTEMPTS", 3, 1..=10)?).unwrap_or(3),
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_named_when_missing_and_attempts_are_bounded() {
        let full = [
            ("JOBS_TABLE", "jobs"),
            ("DOCUMENTS_BUCKET", "docs"),
            ("EVENT_BUS_NAME", "installer-bus"),
            ("PUBLISH_FAILURES_QUEUE_URL", "http://q"),
        ];
        let lookup = |skip: &str, extra: Option<(&'static str, &'static str)>| {
            let vars: Vec<(&str, &str)> = full.iter().copied().filter(|(n, _)| *n != skip).chain(extra).collect();
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        let config = PublisherConfig::from_lookup(lookup("", None)).unwrap();
        assert_eq!((config.event_bus.as_str(), config.attempts), ("installer-bus", 3));
        for (name, _) in full {
            assert_eq!(PublisherConfig::from_lookup(lookup(name, None)), Err(ConfigError::Missing(name)));
        }
        let error = PublisherConfig::from_lookup(lookup("", Some(("PUBLISH_ATTEMPTS", "0")))).unwrap_err();
        assert!(error.to_string().contains("PUBLISH_ATTEMPTS"), "{error}");
    }
}
