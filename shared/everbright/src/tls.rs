//! The one TLS crypto backend of the process: rustls on ring, for the AWS SDK's client and for
//! the HTTP client that talks to EverBright (the SDK's default would add aws-lc-rs beside it).

/// Makes ring rustls's process-wide default; reqwest builds its TLS set-up from it. Calling it
/// again does nothing.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
