//! Identifiers from EverBright payloads. Each is a UUID newtype: only a valid UUID becomes one, and
//! it always prints in the lowercase hyphenated form, so it is safe in DynamoDB keys and S3 keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }
    )+};
}

uuid_id! {
    /// An EverBright site: one site is one job.
    SiteId;
    /// A quote; a site has any number of them.
    QuoteId;
    /// A task (a contract, a change order, or a task inside a milestone).
    TaskId;
    /// A sub-task of a task.
    SubTaskId;
    /// A milestone of a site.
    MilestoneId;
    /// A document attached to a sub-task.
    DocumentId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_lowercase_hyphenated_whatever_form_they_came_in() {
        let id: DocumentId = "3F230CA4B14749AE9187-8B64C7EEA62C".replace('-', "").parse().unwrap();
        assert_eq!(id.to_string(), "3f230ca4-b147-49ae-9187-8b64c7eea62c");
    }

    #[test]
    fn a_path_is_not_an_id() {
        assert!("../../etc/passwd".parse::<DocumentId>().is_err());
        assert!(serde_json::from_str::<SiteId>("\"not-a-uuid\"").is_err());
    }
}
