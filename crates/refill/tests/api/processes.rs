//! Real processes: crash tests.
