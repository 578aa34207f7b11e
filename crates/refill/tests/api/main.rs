//! refill's integration tests: one binary (fast to link on 2 cores), each test against
//! the real server on port 0 and a fresh database: a new SQLite file always, and a new
//! PostgreSQL database too when REFILL_TEST_DATABASE_URL is set. A file per area of
//! the API; a test's name names the rules it checks.

mod checks;
mod fixtures;
mod support;

mod account_changes;
mod accounts;
mod auto_top_up;

mod bad_input;
mod browser;
mod connections;
mod currencies;
mod debits;
mod estimate;
mod hardening_authorization;
mod hardening_http;
mod hardening_input;
mod health;
mod idempotency;
mod key_objects;
mod keys;
mod ledger;
mod notifications;
mod openapi;
mod payment_methods;
mod pipeline;
mod pipeline_isolation;
mod portal;
mod processes;
mod property_model;
mod reconciliation;
mod recurring;
mod reference;
mod refunds;
mod removed_cards;
mod settings;
mod stripe;
mod tax;
mod top_ups;
mod transfers;
mod webhook_destinations;
