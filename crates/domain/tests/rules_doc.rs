//! docs/rules.md maps each rule R1..R31 to the functions and types that decide and
//! carry it out, and to the tests that check it. This keeps the map true: every rule
//! has its row and at least one test, and every backticked name in a row's last three
//! columns is still defined (`fn`, `struct`, `enum`, `trait` or `type`) somewhere in
//! crates/*/src or crates/*/tests. Only the standard library: cheap to build.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const RULES: usize = 31;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The names a Rust text defines: each word after `fn`, `struct`, `enum`, `trait` or
/// `type`.
fn definitions(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "fn" | "struct" | "enum" | "trait" | "type"))
        .map(|w| w[1].to_string())
        .collect()
}

/// Adds the names defined in the `.rs` files under `dir`, recursively.
fn defined_under(dir: &Path, names: &mut BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            defined_under(&path, names);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            names.extend(definitions(&text));
        }
    }
}

/// Every name defined in crates/*/src and crates/*/tests.
fn defined_names() -> BTreeSet<String> {
    let crates = workspace().join("crates");
    let mut names = BTreeSet::new();
    let entries =
        fs::read_dir(&crates).unwrap_or_else(|e| panic!("cannot list {}: {e}", crates.display()));
    for entry in entries.flatten() {
        defined_under(&entry.path().join("src"), &mut names);
        defined_under(&entry.path().join("tests"), &mut names);
    }
    names
}

/// A row of the table: the rule, and the names of its domain, service and tests
/// columns.
struct Row {
    rule: String,
    names: Vec<String>,
    tests: Vec<String>,
}

/// The backticked words of a cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The table's rows: lines `| R<n> | what | domain | service | tests |`.
fn rows(doc: &str) -> Vec<Row> {
    doc.lines()
        .filter(|l| l.starts_with("| R"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let cell = |i: usize| cells.get(i).copied().unwrap_or("");
            let tests = backticked(cell(5));
            let mut names = backticked(cell(3));
            names.extend(backticked(cell(4)));
            names.extend(tests.iter().cloned());
            Row {
                rule: cell(1).to_string(),
                names,
                tests,
            }
        })
        .collect()
}

/// What is wrong with the map, one line each.
fn problems(doc: &str, defined: &BTreeSet<String>) -> Vec<String> {
    let rows = rows(doc);
    let mut found = vec![];
    for n in 1..=RULES {
        let rule = format!("R{n}");
        match rows.iter().filter(|r| r.rule == rule).count() {
            1 => {}
            0 => found.push(format!("{rule} has no row")),
            k => found.push(format!("{rule} has {k} rows")),
        }
    }
    for row in &rows {
        if row.tests.is_empty() {
            found.push(format!("{} lists no test", row.rule));
        }
        for name in &row.names {
            let word = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !word {
                found.push(format!("{}: `{name}` is not a plain name", row.rule));
            } else if !defined.contains(name) {
                found.push(format!(
                    "{}: `{name}` is no longer a fn or type in crates/*/src or crates/*/tests",
                    row.rule
                ));
            }
        }
    }
    found
}

#[test]
fn the_rules_map_names_every_rule_and_only_what_exists() {
    let path = workspace().join("docs/rules.md");
    let doc =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let found = problems(&doc, &defined_names());
    assert!(
        found.is_empty(),
        "docs/rules.md is out of date:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn definitions_and_rows_are_read_as_meant() {
    let text = "pub async fn r6_refused() {}\nstruct Book;\nenum State { A }\nlet fnord = 1;";
    assert_eq!(definitions(text), ["r6_refused", "Book", "State"]);
    let defined: BTreeSet<String> = ["authorize", "r6_refused"].map(String::from).into();
    let mut doc = String::from("| rule | what | domain | service | tests |\n");
    for n in 1..=RULES {
        doc.push_str(&format!("| R{n} | x | `authorize` | — | `r6_refused` |\n"));
    }
    assert!(problems(&doc, &defined).is_empty());
    let stale = doc.replace("| R6 | x | `authorize` |", "| R6 | x | `gone` |");
    assert_eq!(
        problems(&stale, &defined),
        ["R6: `gone` is no longer a fn or type in crates/*/src or crates/*/tests"]
    );
    let missing = doc.replace("| R31 |", "| R3 |");
    assert_eq!(
        problems(&missing, &defined),
        ["R3 has 2 rows", "R31 has no row"]
    );
    let untested = doc.replace("| `r6_refused` |\n| R7 ", "| — |\n| R7 ");
    assert_eq!(problems(&untested, &defined), ["R6 lists no test"]);
}
