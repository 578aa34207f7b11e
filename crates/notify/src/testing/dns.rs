//! A resolver for tests: host names answered from a table the test sets, without DNS,
//! and counted, so a test can see that a delivery looked its host up exactly once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Hands out the addresses set for each name; an unknown name does not resolve.
/// Clones share the table, so a test may change an answer between deliveries.
#[derive(Debug, Clone, Default)]
pub struct FakeDns(Arc<Mutex<Table>>);

#[derive(Debug, Default)]
struct Table {
    hosts: HashMap<String, Vec<IpAddr>>,
    lookups: usize,
}

impl FakeDns {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on `host` resolves to `addrs` (IP addresses as text).
    pub fn set(&self, host: &str, addrs: &[&str]) {
        let ips = addrs
            .iter()
            .map(|a| a.parse().expect("an IP address"))
            .collect();
        self.table().hosts.insert(host.to_ascii_lowercase(), ips);
    }

    /// How many lookups were made so far.
    pub fn lookups(&self) -> usize {
        self.table().lookups
    }

    pub(crate) fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let mut t = self.table();
        t.lookups += 1;
        let found = t.hosts.get(&host.to_ascii_lowercase()).cloned();
        found.ok_or_else(|| "no such host".to_string())
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A test that panicked while holding it has failed already.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
