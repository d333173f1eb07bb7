//! How long an invocation may work: the deadline Lambda gives, less a margin for recording
//! outcomes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Time kept back from the invocation's deadline for recording the outcome.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// The budget when the invocation has no deadline (local runs, tests).
const DEFAULT_BUDGET: Duration = Duration::from_secs(120);

/// The invocation's deadline (milliseconds since the epoch) as an instant, less a margin; 0 (no
/// deadline: a local runtime) gives [`DEFAULT_BUDGET`]. A deadline already past (or within the
/// margin) is an error: nothing could finish, and a fresh budget would outlive the invocation.
pub(crate) fn deadline_of(deadline_ms: u64) -> Result<Instant, String> {
    if deadline_ms == 0 {
        return Ok(Instant::now() + DEFAULT_BUDGET.saturating_sub(DEADLINE_MARGIN));
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let budget = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    if budget <= DEADLINE_MARGIN {
        return Err(format!(
            "the invocation's deadline ({deadline_ms} ms since the epoch) leaves {} ms, less than the {} ms kept to \
             record outcomes; the batch is not started",
            budget.as_millis(),
            DEADLINE_MARGIN.as_millis()
        ));
    }
    Ok(Instant::now() + (budget - DEADLINE_MARGIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_already_past_is_an_error_not_a_fresh_budget() {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let err = deadline_of(now_ms - 1_000).unwrap_err();
        assert!(err.contains("deadline") && err.contains("not started"), "{err}");
        assert!(deadline_of(now_ms + 2_000).is_err(), "within the margin");
        let left = deadline_of(now_ms + 60_000).unwrap().saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_secs(55) && left > Duration::from_secs(50), "{left:?}");
        let local = deadline_of(0).unwrap().saturating_duration_since(Instant::now());
        assert!(local > Duration::from_secs(100), "no deadline: the default budget, {local:?}");
    }
}
