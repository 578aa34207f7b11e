//! Many rows per statement: the debit pipeline writes a whole batch in a few
//! statements, and the benchmark loads a million accounts.
//!
//! Two things keep these cheap on both stores:
//! - SQLite gets anonymous `?` parameters: with numbered `$n` ones it looks every
//!   parameter's name up in a list, which costs O(n^2) for a statement of n
//!   parameters (most of the time of a wide batch, measured with perf).
//! - Statements come in a few shapes only (rows per statement is a power of two), so
//!   each is prepared once per connection and then found in the statement cache.

use crate::row::TableRow;
use crate::{Dialect, Result, Tx};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The most rows one statement writes.
pub(crate) const MAX_ROWS: usize = 256;

/// The dialect of an open transaction.
pub(crate) fn dialect_of(tx: &Tx) -> Dialect {
    if tx.backend_name().eq_ignore_ascii_case("postgresql") {
        Dialect::Postgres
    } else {
        Dialect::Sqlite
    }
}

/// `(?, ?), (?, ?)` or `($1, $2), ($3, $4)`: the parameters of `rows` rows of `cols`
/// values each.
pub(crate) fn placeholders(dialect: Dialect, rows: usize, cols: usize) -> String {
    placeholders_after(dialect, 0, rows, cols)
}

/// `placeholders` in a statement that has `before` parameters ahead of these.
pub(crate) fn placeholders_after(
    dialect: Dialect,
    before: usize,
    rows: usize,
    cols: usize,
) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => s.push('?'),
                Dialect::Postgres => {
                    s.push('$');
                    s.push_str(&(before + r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

/// The text of a statement shape, built once: `shape` names the statement, `rows`
/// is a power of two, so there are a few dozen shapes at most (they are kept for the
/// life of the process, as the statement cache keeps them prepared).
pub(crate) fn statement(
    shape: &'static str,
    dialect: Dialect,
    rows: usize,
    build: impl FnOnce() -> String,
) -> &'static str {
    type Shapes = HashMap<(&'static str, Dialect, usize), &'static str>;
    static SHAPES: OnceLock<Mutex<Shapes>> = OnceLock::new();
    let mut shapes = SHAPES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    shapes
        .entry((shape, dialect, rows))
        .or_insert_with(|| Box::leak(build().into_boxed_str()))
}

/// Splits `n` rows into statements of power-of-two sizes, at most MAX_ROWS each:
/// 300 rows are 256 + 32 + 8 + 4.
fn chunk_sizes(mut n: usize) -> Vec<usize> {
    let mut sizes = vec![];
    while n > 0 {
        let size = if n >= MAX_ROWS {
            MAX_ROWS
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        sizes.push(size);
        n -= size;
    }
    sizes
}

/// The chunks of `rows` that `chunk_sizes` gives.
pub(crate) fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut start = 0;
    chunk_sizes(rows.len()).into_iter().map(move |size| {
        let chunk = &rows[start..start + size];
        start += size;
        chunk
    })
}

/// Inserts whole rows, many per statement, `tail` after the values (the same for
/// every call with this `shape`). Returns how many were inserted.
pub(crate) async fn insert_many<T: TableRow>(
    tx: &mut Tx,
    shape: &'static str,
    rows: &[T],
    tail: &str,
) -> Result<u64> {
    let dialect = dialect_of(tx);
    let mut inserted = 0;
    for chunk in chunks(rows) {
        let sql = statement(shape, dialect, chunk.len(), || {
            format!(
                "INSERT INTO {} ({}) VALUES {}{tail}",
                T::TABLE,
                T::COLUMNS,
                placeholders(dialect, chunk.len(), T::WIDTH)
            )
        });
        let q = chunk.iter().fold(sqlx::query(sql), |q, row| row.bind(q));
        inserted += q.execute(&mut *tx).await?.rows_affected();
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_and_cover_all_rows() {
        assert_eq!(chunk_sizes(0), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1), vec![1]);
        assert_eq!(chunk_sizes(300), vec![256, 32, 8, 4]);
        assert_eq!(chunk_sizes(600), vec![256, 256, 64, 16, 8]);
        for n in 0..2_000 {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= MAX_ROWS));
        }
        let rows: Vec<usize> = (0..300).collect();
        let joined: Vec<usize> = chunks(&rows).flatten().copied().collect();
        assert_eq!(joined, rows);
    }

    #[test]
    fn placeholders_per_dialect() {
        assert_eq!(placeholders(Dialect::Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(placeholders(Dialect::Postgres, 2, 2), "($1, $2), ($3, $4)");
    }
}
