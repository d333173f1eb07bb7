//! A value built from a secret (the fetcher's EverBright client from the API token, the receiver's
//! verifier from the AWS4 keys): read on first use, and read again when the other side refuses it,
//! so a rotated secret is picked up by warm containers, without a read per request.
//!
//! - A read again after a refusal happens at most once per interval (the first read does not
//!   count), and not at all when another caller already replaced the refused value.
//! - A failed read is not tried again before the interval ends: meanwhile [`Refreshable::get`]
//!   fails at once, so a secret that cannot be read does not cost a read per request.

use std::error::Error;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Refreshable<T> {
    current: Mutex<Option<Arc<T>>>,
    /// Held while the secret is read.
    reads: tokio::sync::Mutex<Reads>,
    interval: Duration,
}

#[derive(Debug, Default)]
struct Reads {
    /// When the value was last read again after a refusal.
    refreshed_at: Option<Instant>,
    /// When a read last failed, and why.
    failed: Option<(Instant, Arc<dyn Error + Send + Sync>)>,
}

/// Why [`Refreshable::get`] has no value.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable<E: Error + 'static> {
    /// The read failed now: its error, as it is.
    #[error(transparent)]
    Read(Arc<E>),
    /// A read failed less than an interval ago; it is not tried again before the interval ends.
    #[error("the last read failed {ago} s ago; not read again before {interval} s")]
    Recently {
        ago: u64,
        interval: u64,
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
}

impl<T> Refreshable<T> {
    /// Nothing read yet; reads again at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { current: Mutex::new(None), reads: tokio::sync::Mutex::new(Reads::default()), interval }
    }

    fn current(&self) -> Option<Arc<T>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn replace(&self, value: Arc<T>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }

    /// The value, built by `read` on first use. A read that failed is not tried again before the
    /// interval ends; the error says so, with the failure as its source.
    pub async fn get<F, Fut, E>(&self, read: F) -> Result<Arc<T>, Unavailable<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Error + Send + Sync + 'static,
    {
        if let Some(value) = self.current() {
            return Ok(value);
        }
        let mut reads = self.reads.lock().await;
        if let Some(value) = self.current() {
            return Ok(value);
        }
        if let Some((at, source)) = reads.failed.as_ref().filter(|(at, _)| at.elapsed() < self.interval) {
            let (ago, interval) = (at.elapsed().as_secs(), self.interval.as_secs());
            return Err(Unavailable::Recently { ago, interval, source: source.clone() });
        }
        match read().await {
            Ok(value) => {
                reads.failed = None;
                let value = Arc::new(value);
                self.replace(value.clone());
                Ok(value)
            }
            Err(error) => {
                let error = Arc::new(error);
                reads.failed = Some((Instant::now(), error.clone()));
                Err(Unavailable::Read(error))
            }
        }
    }

    /// After `refused` was refused: the value read again by `read`, unless another caller
    /// already replaced it (that one is answered), the value was read again less than an interval
    /// ago, the read fails, or it gives what `unchanged` says is the refused value again.
    pub async fn after_refusal<F, Fut, E>(
        &self,
        refused: &Arc<T>,
        read: F,
        unchanged: impl FnOnce(&T, &T) -> bool,
    ) -> Result<Option<Arc<T>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut reads = self.reads.lock().await;
        if let Some(current) = self.current().filter(|current| !Arc::ptr_eq(current, refused)) {
            return Ok(Some(current));
        }
        if reads.refreshed_at.is_some_and(|at| at.elapsed() < self.interval) {
            return Ok(None);
        }
        reads.refreshed_at = Some(Instant::now());
        let value = read().await?;
        if unchanged(refused, &value) {
            return Ok(None);
        }
        let value = Arc::new(value);
        self.replace(value.clone());
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Denied(&'static str);

    fn reader(reads: &AtomicUsize, value: Result<u32, &'static str>) -> impl Future<Output = Result<u32, Denied>> {
        reads.fetch_add(1, Ordering::SeqCst);
        std::future::ready(value.map_err(Denied))
    }

    #[tokio::test]
    async fn the_value_is_read_once_and_a_refusal_reads_it_again_once_per_interval() {
        let (cache, reads) = (Refreshable::new(Duration::from_secs(60)), AtomicUsize::new(0));
        let first = cache.get(|| reader(&reads, Ok(1))).await.unwrap();
        assert_eq!(*cache.get(|| reader(&reads, Ok(9))).await.unwrap(), 1, "not read again");
        let second = cache.after_refusal(&first, || reader(&reads, Ok(2)), |a, b| a == b).await.unwrap();
        assert_eq!(second.as_deref(), Some(&2), "the first read again is at once");
        // Another caller holding the old value is given the new one, without a read.
        let given = cache.after_refusal(&first, || reader(&reads, Ok(7)), |a, b| a == b).await.unwrap();
        assert_eq!(given.as_deref(), Some(&2));
        let third = cache.after_refusal(&second.unwrap(), || reader(&reads, Ok(3)), |a, b| a == b).await.unwrap();
        assert_eq!(third, None, "within the interval");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unchanged_value_is_not_used_again() {
        let cache = Refreshable::new(Duration::ZERO);
        let reads = AtomicUsize::new(0);
        let first = cache.get(|| reader(&reads, Ok(1))).await.unwrap();
        assert_eq!(cache.after_refusal(&first, || reader(&reads, Ok(1)), |a, b| a == b).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_tried_again_within_the_interval() {
        let (cache, reads) = (Refreshable::new(Duration::from_secs(60)), AtomicUsize::new(0));
        let failed = cache.get(|| reader(&reads, Err("AccessDenied"))).await.unwrap_err();
        assert!(matches!(&failed, Unavailable::Read(denied) if denied.0 == "AccessDenied"), "{failed:?}");
        let again = cache.get(|| reader(&reads, Ok(1))).await.unwrap_err();
        let chain = domain::error::chain(&again);
        assert!(chain.contains("AccessDenied") && chain.contains("not read again"), "{chain}");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let open = Refreshable::new(Duration::ZERO);
        assert!(open.get(|| reader(&reads, Err("AccessDenied"))).await.is_err());
        assert_eq!(*open.get(|| reader(&reads, Ok(1))).await.unwrap(), 1, "after the interval it is read");
    }
}
