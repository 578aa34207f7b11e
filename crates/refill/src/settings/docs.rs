//! docs/configuration.md, made from the table of keys (`refill config-docs`).

use super::{KEYS, Key, OTHER_VARIABLES, Settings, Slot};
use std::fmt::Write;

/// The staging example of the docs (key, value, why), checked by the tests: a failed
/// charge retried every 30 seconds, a pending payment settled after a minute.
pub const STAGING: &[(&str, &str, &str)] = &[
    (
        "retry_delay",
        "30s",
        "R23: a failed charge is retried 30 s later",
    ),
    (
        "card_interval",
        "30s",
        "R20: the window a failed attempt keeps used ends by then too",
    ),
    (
        "sandbox_settle_after",
        "1m",
        "R11: the sandbox settles a pending payment after a minute",
    ),
    (
        "periodic_check",
        "30s",
        "R11, R22: the periodic check, which sees it settled, runs every 30 s",
    ),
];

const PREAMBLE: &str = "# Configuration

<!-- Generated from the table in crates/refill/src/settings/keys.rs by
`cargo run -p refill -- config-docs > docs/configuration.md`; a test fails when this
file differs from the table. Edit the table, then run that command. -->

refill runs as is on the defaults below. Over them it reads `refill.toml` in the
working directory (or the file named by `REFILL_CONFIG`, which must then exist), then
the environment: each key `name` is also the variable `REFILL_NAME` (in capitals),
which wins over the file. An empty variable counts as unset.

- An unknown key in the file, or an unknown `REFILL_*` variable, stops the start and
  names the nearest known one: `unknown setting REFILL_RETRY_DELAY_HOUR in the
  environment; did you mean REFILL_RETRY_DELAY_HOURS?`. A bad value stops it too,
  naming the key and the forms it takes.
- A duration is a whole number with a unit: `90s`, `30m`, `24h` or `7d`
  (`retry_delay = \"30s\"`, `REFILL_RETRY_DELAY=30s`). The older names with a unit
  (`retry_delay_hours = 24`) still read a plain number of that unit. The file, or the
  environment, giving both names of one key is refused as ambiguous; the environment
  still overrides the file whichever name each uses.
- An amount is a whole number of minor units (`1000` is 10.00 GBP).
";

/// The whole of docs/configuration.md.
pub fn markdown() -> String {
    let mut md = String::from(PREAMBLE);
    md.push_str("- Besides the keys, refill reads these variables:\n");
    for (name, what) in OTHER_VARIABLES {
        let _ = writeln!(md, "  - `{name}`: {what}.");
    }
    md.push('\n');
    staging(&mut md);
    md.push_str("## Keys\n\n| key | kind | default | meaning |\n|---|---|---|---|\n");
    let defaults = Settings::default();
    for key in KEYS {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {}{} |",
            key.name,
            key.kind(),
            default(key, &defaults),
            key.meaning,
            old_name(key)
        );
    }
    md
}

fn staging(md: &mut String) {
    md.push_str(
        "## Staging: retries every 30 seconds, pending payments settled after a minute\n\n\
         ```toml\n# refill.toml\n",
    );
    for (key, value, why) in STAGING {
        let _ = writeln!(md, "{key} = \"{value}\"  # {why}");
    }
    md.push_str("```\n\nor in the environment:\n\n```sh\n");
    for (key, value, _) in STAGING {
        let _ = writeln!(md, "export REFILL_{}={value}", key.to_ascii_uppercase());
    }
    md.push_str(
        "```\n\nWith the sandbox gateway, refill then sees a pending payment settle \
         (succeeded, or\nfailed at the bank) within 30 s after its first minute. Auto \
         top-up is still disabled\nafter `max_consecutive_failures` failures in a row \
         (R23): raise it to watch more retries.\n\n",
    );
}

fn default(key: &Key, defaults: &Settings) -> String {
    match key.value(defaults) {
        Some(v) if v.is_empty() => "none".into(),
        Some(v) => format!("`{v}`"),
        None => key.when_unset().unwrap_or("none").into(),
    }
}

fn old_name(key: &Key) -> String {
    match key.slot {
        Slot::Duration(_, Some(unit)) => {
            let word = unit.word();
            format!("; older name `{}_{word}`, in {word}", key.name)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    /// docs/configuration.md is what the table makes.
    #[test]
    fn the_checked_in_configuration_doc_matches_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == super::markdown(),
            "docs/configuration.md differs from the settings table; regenerate it with\n\n    \
             cargo run -p refill -- config-docs > docs/configuration.md\n"
        );
    }
}
