//! A table's row, declared once (`table_row!`): its struct, its columns, how it is read
//! from a result and bound as parameters. The statements that write a whole row are
//! built from the same list, so a column and its parameter number cannot drift apart.

use crate::Result;
use refill_domain::DomainError;
use refill_domain::auto_top_up::{SourceKind, State, StateReason, WhyNot};
use refill_domain::resources::ResourceStatus;
use refill_domain::top_up::{AttemptOutcome, Origin, TopUpStatus};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

/// A query of the `Any` driver with its arguments.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// Declares a row of a table:
///
/// ```text
/// table_row! {
///     pub struct EventRow in "events" {
///         pub id: String,                 // the key: the first column
///         pub event_type as "type": String, // a column named unlike its field
///         pub created_at: i64,
///     }
/// }
/// ```
///
/// The struct gets its fields as written, and `TableRow`: the table, the columns in
/// field order, reading from a result row by column name, binding in field order.
macro_rules! table_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $table:literal {
            $(#[$key_meta:meta])*
            pub $key:ident $(as $key_col:literal)?: $key_ty:ty,
            $(
                $(#[$field_meta:meta])*
                pub $field:ident $(as $col:literal)?: $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(#[$key_meta])*
            pub $key: $key_ty,
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl $crate::row::TableRow for $name {
            const TABLE: &'static str = $table;
            const COLUMNS: &'static str = concat!(
                column_name!($key $($key_col)?) $(, ", ", column_name!($field $($col)?))*
            );
            const WIDTH: usize = {
                let fields: &[&str] = &[$(stringify!($field)),*];
                1 + fields.len()
            };

            fn from_row(r: &sqlx::any::AnyRow) -> $crate::Result<Self> {
                use $crate::row::Column;
                Ok($name {
                    $key: Column::read(r, column_name!($key $($key_col)?))?,
                    $($field: Column::read(r, column_name!($field $($col)?))?,)*
                })
            }

            fn bind<'q>(&'q self, q: $crate::row::AnyQuery<'q>) -> $crate::row::AnyQuery<'q> {
                use $crate::row::Column;
                let q = self.$key.bind_to(q);
                $(let q = self.$field.bind_to(q);)*
                q
            }

            fn bind_nulls(q: $crate::row::AnyQuery<'_>) -> $crate::row::AnyQuery<'_> {
                use $crate::row::Column;
                let q = <$key_ty>::bind_null(q);
                $(let q = <$ty>::bind_null(q);)*
                q
            }
        }
    };
}

/// A field's column: its name, unless the field says `as "name"`.
macro_rules! column_name {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $col:literal) => {
        $col
    };
}

/// A row of a table, declared with `table_row!`.
pub(crate) trait TableRow: Sized {
    const TABLE: &'static str;
    /// Its columns, the key first, in the order `bind` binds them.
    const COLUMNS: &'static str;
    /// How many columns.
    const WIDTH: usize;
    fn from_row(r: &AnyRow) -> Result<Self>;
    /// Binds every column, in the order of `COLUMNS`.
    fn bind<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q>;
    /// Binds a NULL of each column's type (a padding row of a multi-row statement).
    fn bind_nulls(q: AnyQuery<'_>) -> AnyQuery<'_>;
}

/// A field's type as a column: TEXT or BIGINT (a flag is 0 or 1).
pub(crate) trait Column: Sized {
    fn read(r: &AnyRow, name: &str) -> Result<Self>;
    fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q>;
    fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_>;
}

impl Column for String {
    fn read(r: &AnyRow, name: &str) -> Result<Self> {
        Ok(r.try_get(name)?)
    }
    fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        q.bind(self.as_str())
    }
    fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
        q.bind(None::<&str>)
    }
}

impl Column for Option<String> {
    fn read(r: &AnyRow, name: &str) -> Result<Self> {
        Ok(r.try_get(name)?)
    }
    fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        q.bind(self.as_deref())
    }
    fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
        q.bind(None::<&str>)
    }
}

impl Column for i64 {
    fn read(r: &AnyRow, name: &str) -> Result<Self> {
        Ok(r.try_get(name)?)
    }
    fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        q.bind(*self)
    }
    fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
        q.bind(None::<i64>)
    }
}

impl Column for Option<i64> {
    fn read(r: &AnyRow, name: &str) -> Result<Self> {
        Ok(r.try_get(name)?)
    }
    fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        q.bind(*self)
    }
    fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
        q.bind(None::<i64>)
    }
}

impl Column for bool {
    fn read(r: &AnyRow, name: &str) -> Result<Self> {
        Ok(r.try_get::<i64, _>(name)? != 0)
    }
    fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
        q.bind(i64::from(*self))
    }
    fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
        q.bind(None::<i64>)
    }
}

/// A domain value stored as its text (a status, an origin, a state and its reason):
/// written in the form the domain writes (`Display`), read back through its
/// `FromStr`, so that an unknown stored value is an error, never a guess.
macro_rules! text_column {
    ($($t:ty),* $(,)?) => {$(
        impl Column for $t {
            fn read(r: &AnyRow, name: &str) -> Result<Self> {
                parse(r.try_get::<String, _>(name)?)
            }
            fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
                q.bind(self.to_string())
            }
            fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
                q.bind(None::<&str>)
            }
        }

        impl Column for Option<$t> {
            fn read(r: &AnyRow, name: &str) -> Result<Self> {
                r.try_get::<Option<String>, _>(name)?.map(parse).transpose()
            }
            fn bind_to<'q>(&'q self, q: AnyQuery<'q>) -> AnyQuery<'q> {
                q.bind(self.as_ref().map(ToString::to_string))
            }
            fn bind_null(q: AnyQuery<'_>) -> AnyQuery<'_> {
                q.bind(None::<&str>)
            }
        }
    )*};
}

fn parse<T: std::str::FromStr<Err = DomainError>>(text: String) -> Result<T> {
    text.parse()
        .map_err(|e: DomainError| crate::StoreError::Corrupt(e.to_string()))
}

text_column!(
    TopUpStatus,
    Origin,
    SourceKind,
    State,
    StateReason,
    WhyNot,
    AttemptOutcome,
    ResourceStatus,
);

/// `SELECT <columns> FROM <table> <rest>`.
pub(crate) fn select<T: TableRow>(rest: &str) -> String {
    format!("SELECT {} FROM {} {rest}", T::COLUMNS, T::TABLE)
}

/// The key column (the first).
fn key<T: TableRow>() -> &'static str {
    T::COLUMNS.split(',').next().unwrap_or(T::COLUMNS)
}

/// The columns but the key.
fn non_key<T: TableRow>() -> impl Iterator<Item = &'static str> {
    T::COLUMNS.split(',').skip(1).map(str::trim)
}

/// `$1, $2, ... $n`.
fn numbered(n: usize) -> String {
    let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    params.join(", ")
}

/// The insert of a whole row, followed by `tail` (an ON CONFLICT clause, say).
pub(crate) fn insert_sql<T: TableRow>(tail: &str) -> String {
    let (table, cols) = (T::TABLE, T::COLUMNS);
    format!(
        "INSERT INTO {table} ({cols}) VALUES ({}){tail}",
        numbered(T::WIDTH)
    )
}

/// The update of every column but the key, by key.
pub(crate) fn update_sql<T: TableRow>() -> String {
    let sets: Vec<String> = (non_key::<T>().enumerate())
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    format!(
        "UPDATE {} SET {} WHERE {} = $1",
        T::TABLE,
        sets.join(", "),
        key::<T>()
    )
}

/// The insert of a whole row, or the update of every other column of the row that
/// has its key.
pub(crate) fn upsert_sql<T: TableRow>() -> String {
    let sets: Vec<String> = non_key::<T>()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let tail = format!(
        " ON CONFLICT ({}) DO UPDATE SET {}",
        key::<T>(),
        sets.join(", ")
    );
    insert_sql::<T>(&tail)
}

/// Runs `sql` with the row's columns bound in order; returns the rows affected.
pub(crate) async fn write<T: TableRow>(tx: &mut crate::Tx, sql: String, row: &T) -> Result<u64> {
    let done = row
        .bind(sqlx::query(AssertSqlSafe(sql)))
        .execute(tx)
        .await?;
    Ok(done.rows_affected())
}

/// Inserts a whole row, `tail` after the values; returns the rows inserted.
pub(crate) async fn insert<T: TableRow>(tx: &mut crate::Tx, row: &T, tail: &str) -> Result<u64> {
    write(tx, insert_sql::<T>(tail), row).await
}

/// Writes a whole row over the row that has its key.
pub(crate) async fn update<T: TableRow>(tx: &mut crate::Tx, row: &T) -> Result<u64> {
    write(tx, update_sql::<T>(), row).await
}

/// Inserts a whole row, or writes it over the row that has its key.
pub(crate) async fn upsert<T: TableRow>(tx: &mut crate::Tx, row: &T) -> Result<()> {
    write(tx, upsert_sql::<T>(), row).await?;
    Ok(())
}

/// The row of `T` that `filter` (a WHERE clause and what follows it, `$1` the one
/// parameter) finds by `key`, if any: what every get-by-id function does.
pub(crate) async fn one<'e, E, T>(e: E, filter: &str, key: &str) -> Result<Option<T>>
where
    E: Executor<'e, Database = Any>,
    T: TableRow,
{
    let row = sqlx::query(AssertSqlSafe(select::<T>(filter)))
        .bind(key)
        .fetch_optional(e)
        .await?;
    row.as_ref().map(T::from_row).transpose()
}

/// Reads every result row as a `T`.
pub(crate) fn all<T: TableRow>(rows: &[AnyRow]) -> Result<Vec<T>> {
    rows.iter().map(T::from_row).collect()
}

/// The rows of `T` that `filter` (a WHERE clause and what follows it) finds, its
/// parameters bound in order by `bind`: what every list of a table does.
pub(crate) async fn many<'q, 'e, E, T>(
    e: E,
    filter: &str,
    bind: impl FnOnce(AnyQuery<'q>) -> AnyQuery<'q>,
) -> Result<Vec<T>>
where
    E: Executor<'e, Database = Any>,
    T: TableRow,
{
    let rows = bind(sqlx::query(AssertSqlSafe(select::<T>(filter))))
        .fetch_all(e)
        .await?;
    all(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    table_row! {
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct Thing in "things" {
            pub id: String,
            pub name: Option<String>,
            pub kind as "type": String,
            pub fee: i64,
            pub live: bool,
        }
    }

    #[test]
    fn a_row_declares_its_table_and_columns_in_field_order() {
        assert_eq!(Thing::TABLE, "things");
        assert_eq!(Thing::COLUMNS, "id, name, type, fee, live");
        assert_eq!(Thing::WIDTH, 5);
    }

    #[test]
    fn whole_row_statements_number_the_columns_in_order() {
        assert_eq!(
            insert_sql::<Thing>(" ON CONFLICT DO NOTHING"),
            "INSERT INTO things (id, name, type, fee, live) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            update_sql::<Thing>(),
            "UPDATE things SET name = $2, type = $3, fee = $4, live = $5 WHERE id = $1"
        );
        assert_eq!(
            upsert_sql::<Thing>(),
            "INSERT INTO things (id, name, type, fee, live) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, \
             fee = excluded.fee, live = excluded.live"
        );
        assert_eq!(
            select::<Thing>("WHERE id = $1"),
            "SELECT id, name, type, fee, live FROM things WHERE id = $1"
        );
    }

    /// A row written whole reads back the same, on SQLite (the flag as 0 or 1, a NULL
    /// as None), by the bindings and readings the macro made.
    #[tokio::test]
    async fn a_row_written_whole_reads_back_the_same() {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT, type TEXT NOT NULL, fee BIGINT NOT NULL, live BIGINT NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        let mut thing = Thing {
            id: "t_1".into(),
            name: None,
            kind: "big".into(),
            fee: -7,
            live: true,
        };
        assert_eq!(insert(&mut conn, &thing, "").await.unwrap(), 1);
        assert_eq!(read(&mut conn).await, Some(thing.clone()));
        thing.name = Some("named".into());
        thing.live = false;
        assert_eq!(update(&mut conn, &thing).await.unwrap(), 1);
        assert_eq!(read(&mut conn).await, Some(thing.clone()));
        thing.fee = 3;
        upsert(&mut conn, &thing).await.unwrap();
        assert_eq!(read(&mut conn).await, Some(thing));
    }

    table_row! {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Typed in "typed" {
            pub id: String,
            pub status: TopUpStatus,
            pub waiting: Option<WhyNot>,
            pub reason: Option<StateReason>,
        }
    }

    /// A domain value is written in its stored form and read back through its
    /// `FromStr`; a value this version does not know is an error, never a guess.
    #[tokio::test]
    async fn a_typed_column_round_trips_and_refuses_an_unknown_value() {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE typed (id TEXT PRIMARY KEY, status TEXT NOT NULL, waiting TEXT, reason TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        let t = Typed {
            id: "t_1".into(),
            status: TopUpStatus::RequiresAction,
            waiting: Some(WhyNot::WaitingForCustomer),
            reason: Some(StateReason::HardDecline {
                code: "lost_card".into(),
            }),
        };
        insert(&mut conn, &t, "").await.unwrap();
        let stored: (String, String, String) =
            sqlx::query_as("SELECT status, waiting, reason FROM typed")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            stored,
            (
                "requires_action".into(),
                "waiting_for_customer_authentication".into(),
                "card declined: lost_card".into()
            )
        );
        let back: Option<Typed> = one(&mut conn, "WHERE id = $1", "t_1").await.unwrap();
        assert_eq!(back, Some(t));
        sqlx::query("UPDATE typed SET status = 'done'")
            .execute(&mut conn)
            .await
            .unwrap();
        let unknown: Result<Option<Typed>> = one(&mut conn, "WHERE id = $1", "t_1").await;
        assert!(
            matches!(unknown, Err(crate::StoreError::Corrupt(ref e)) if e.contains("done")),
            "{unknown:?}"
        );
    }

    async fn read(conn: &mut sqlx::AnyConnection) -> Option<Thing> {
        one(conn, "WHERE id = $1", "t_1").await.unwrap()
    }
}
