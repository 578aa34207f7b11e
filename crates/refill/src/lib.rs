//! refill: prepaid balances with automatic top-up. This crate is the edge: the HTTP
//! API, the settings, the server and the commands (serve, demo, verify, bench).

pub mod api;
pub mod bench;
pub mod demo;
pub mod errors;
pub mod events_cli;
pub mod notify_api;
pub mod openapi;
pub mod server;
pub mod settings;
pub mod verify;

pub use server::{Running, start};
pub use settings::Settings;

/// Installs ring as the TLS crypto provider (reqwest is built without a default one,
/// to keep the build lean). Safe to call more than once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
