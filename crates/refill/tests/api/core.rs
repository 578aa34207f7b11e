//! Issue 2: core API tests.
