//! Every log line of a test binary, as the functions write them: a global subscriber writing
//! into a buffer, to check what never reaches a log (a token, personal data).

use std::sync::{Arc, Mutex};

/// What was logged so far.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Installs the binary's global subscriber (at DEBUG), writing here. The global one: a callsite
    /// first hit by another test's thread would otherwise be cached as uninteresting. The other
    /// tests of the binary log into it too, which only widens what is checked.
    ///
    /// # Panics
    /// When the binary has a global subscriber already: one test of a binary may call it.
    pub fn install() -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this binary");
        captured
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
