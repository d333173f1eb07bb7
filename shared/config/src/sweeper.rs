//! The sweeper's configuration.

use crate::env::{ConfigError, Env};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweeperConfig {
    /// `JOBS_TABLE`: the table whose `pending` index it reads.
    pub jobs_table: String,
    /// `FETCH_QUEUE_URL`: where the work is sent again.
    pub fetch_queue_url: String,
    /// `SWEEP_AFTER_MINUTES` (default 30, 15 to 1440): work untouched this long is sent again
    /// (doubled after each sweep of it). Longer than the queue's visibility timeout (12 minutes
    /// in the template), so a message still in the queue is not doubled.
    pub after_minutes: i64,
    /// `SWEEP_LIMIT` (default 5, 1 to 20): sweeps per item before it is left for an operator.
    pub limit: u32,
    /// `SWEEP_MAX_ITEMS` (default 1000, 1 to 10000): items one invocation reads.
    pub max_items: usize,
}

impl SweeperConfig {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        Ok(Self {
            jobs_table: env.required("JOBS_TABLE")?,
            fetch_queue_url: env.required("FETCH_QUEUE_URL")?,
            after_minutes: env.number("SWEEP_AFTER_MINUTES", 30, 15..=1440)?,
            limit: u32::try_from(env.number("SWEEP_LIMIT", 5, 1..=20)?).unwrap_or(5),
            max_items: usize::try_from(env.number("SWEEP_MAX_ITEMS", 1000, 1..=10_000)?).unwrap_or(1000),
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
    fn the_table_and_queue_are_required_and_the_bounds_hold() {
        let vars = |extra: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                [("JOBS_TABLE", "jobs"), ("FETCH_QUEUE_URL", "http://q")]
                    .iter()
                    .chain(extra)
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let config = SweeperConfig::from_lookup(vars(&[])).unwrap();
        assert_eq!((config.after_minutes, config.limit, config.max_items), (30, 5, 1000));
        let error = SweeperConfig::from_lookup(vars(&[("SWEEP_AFTER_MINUTES", "5")])).unwrap_err();
        assert!(error.to_string().contains("SWEEP_AFTER_MINUTES"), "{error}");
        let missing = SweeperConfig::from_lookup(|name| (name == "JOBS_TABLE").then(|| "jobs".to_owned()));
        assert_eq!(missing, Err(ConfigError::Missing("FETCH_QUEUE_URL")));
    }
}
