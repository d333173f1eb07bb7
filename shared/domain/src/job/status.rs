//! The statuses kept in the table: a document's download status and a delivery's state, each
//! written and read through `Display` and `FromStr`.

/// Where a `DOC#` item stands in the download: `RECORDED` (named by an event, not to be fetched),
/// then `QUEUED -> FETCHING -> STORED | FAILED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchStatus {
    Recorded,
    Queued,
    Fetching,
    Stored,
    Failed,
}

impl FetchStatus {
    pub const ALL: [Self; 5] = [Self::Recorded, Self::Queued, Self::Fetching, Self::Stored, Self::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "RECORDED",
            Self::Queued => "QUEUED",
            Self::Fetching => "FETCHING",
            Self::Stored => "STORED",
            Self::Failed => "FAILED",
        }
    }
}

impl std::fmt::Display for FetchStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FetchStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| format!("{s:?} is not a fetch status"))
    }
}

/// A delivery record's state: being applied (with a lease), or applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Applying,
    Done,
}

impl DeliveryState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applying => "APPLYING",
            Self::Done => "DONE",
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Applying, Self::Done]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a delivery state"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_what_they_write_and_refuse_anything_else() {
        for status in FetchStatus::ALL {
            assert_eq!(status.to_string().parse::<FetchStatus>(), Ok(status));
        }
        for state in [DeliveryState::Applying, DeliveryState::Done] {
            assert_eq!(state.to_string().parse::<DeliveryState>(), Ok(state));
        }
        assert!("stored".parse::<FetchStatus>().is_err() && "".parse::<DeliveryState>().is_err());
    }
}
