//! Instants, as EverBright writes them (RFC 3339, microseconds, `Z`), kept as microseconds since
//! the Unix epoch so that they order correctly as DynamoDB numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

#[derive(Debug, thiserror::Error)]
#[error("not an RFC 3339 date-time: {0:?}")]
pub struct TimestampError(String);

impl Timestamp {
    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn from_millis(millis: i64) -> Self {
        Self(millis.saturating_mul(1000))
    }

    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub(crate) fn from_datetime(at: OffsetDateTime) -> Self {
        let micros = at.unix_timestamp_nanos() / 1000;
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Whole milliseconds since the epoch.
    pub(crate) const fn unix_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Whole seconds since the epoch (for DynamoDB TTL attributes).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OffsetDateTime::parse(s, &Rfc3339).map(Self::from_datetime).map_err(|_| TimestampError(s.to_owned()))
    }
}

impl fmt::Display for Timestamp {
    /// `2023-07-12T19:22:17.752365Z`: always six fractional digits, always UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.to_datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.microsecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everbright_timestamps_round_trip() {
        let t: Timestamp = "2023-07-12T19:22:17.752365Z".parse().unwrap();
        assert_eq!(t.to_string(), "2023-07-12T19:22:17.752365Z");
        assert_eq!(t.unix_seconds(), 1_689_189_737);
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t: Timestamp = "2023-07-12T21:22:17+02:00".parse().unwrap();
        assert_eq!(t.to_string(), "2023-07-12T19:22:17.000000Z");
    }

    #[test]
    fn later_instants_compare_greater() {
        let a: Timestamp = "2021-06-01T04:07:59.863095Z".parse().unwrap();
        let b: Timestamp = "2021-06-01T04:07:59.863096Z".parse().unwrap();
        assert!(a < b);
    }

    #[test]
    fn garbage_is_refused_with_the_value() {
        let err = "yesterday".parse::<Timestamp>().unwrap_err();
        assert!(err.to_string().contains("yesterday"));
    }
}

/// Where "now" comes from: the system's clock in the functions, a test's own elsewhere (a lease
/// that ran out, without waiting for it).
#[derive(Clone)]
pub struct Clock(std::sync::Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(std::sync::Arc::new(Timestamp::now))
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(now))
    }

    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
