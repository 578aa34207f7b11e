//! refill's integration tests: one binary (fast to link on 2 cores), each test against
//! the real server on port 0 and a fresh database: a new SQLite file always, and a new
//! PostgreSQL database too when REFILL_TEST_DATABASE_URL is set.

mod core;
mod engine;
mod notifications;
mod processes;
mod recurring;
mod stripe;
mod support;
mod webhook_destinations;
