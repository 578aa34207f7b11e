//! Issue 3: engine tests.
