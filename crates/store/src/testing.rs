//! A fresh database per test (feature `test-support`): SQLite in a directory of its
//! own, and PostgreSQL when REFILL_TEST_DATABASE_URL names a server (then it must be
//! reachable: no silent skip). Each is removed when the test passes, and kept to look
//! at when it fails.

use std::sync::Arc;

/// Where a test's database lives. It is removed when the last clone goes, unless the
/// test failed (kept to look at): left behind, they piled up (895 PostgreSQL databases
/// and as many directories on the development machine).
/// "Failed" is a panic on the thread that drops the last clone; a clone held by a
/// task of the test's runtime may go on another thread, and the database with it.
#[derive(Debug, Clone)]
pub struct Store {
    pub name: &'static str,
    pub url: String,
    _removed_with: Arc<Leftover>,
}

/// What a store leaves behind: its SQLite directory, or its PostgreSQL database.
#[derive(Debug)]
enum Leftover {
    /// Held only to be dropped with the store.
    Dir {
        _dir: ScratchDir,
    },
    Database {
        admin_url: String,
        name: String,
    },
}

impl Store {
    /// A SQLite store in a new directory of its own.
    pub fn sqlite() -> Store {
        let dir = ScratchDir::new("refill-test");
        Store {
            name: "sqlite",
            url: format!("sqlite://{}/refill.db", dir.path().display()),
            _removed_with: Arc::new(Leftover::Dir { _dir: dir }),
        }
    }

    /// A PostgreSQL store in a new database on the server at `admin_url`.
    pub async fn postgres(admin_url: &str) -> Store {
        use sqlx::{AssertSqlSafe, Connection, Executor};
        let name = unique("refill_test");
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "REFILL_TEST_DATABASE_URL is set but PostgreSQL is unreachable at {admin_url}: {e}"
                )
            });
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("a database URL ends with /dbname");
        Store {
            name: "postgres",
            url: format!("{base}/{name}"),
            _removed_with: Arc::new(Leftover::Database {
                admin_url: admin_url.to_string(),
                name,
            }),
        }
    }
}

impl Drop for Leftover {
    fn drop(&mut self) {
        if let Leftover::Database { admin_url, name } = self
            && !std::thread::panicking()
        {
            drop_database(admin_url, name);
        }
    }
}

/// A directory of a test's own, removed when dropped unless the test failed (kept to
/// look at).
#[derive(Debug)]
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// A new directory in the system's temp dir, named `prefix_<unique>`.
    pub fn new(prefix: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&dir).expect("temp dir");
        ScratchDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Drops a test database. Drop runs on the test's runtime, which cannot wait for
/// another one: the drop gets a thread of its own, and is waited for.
fn drop_database(admin_url: &str, name: &str) {
    use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
    let (admin_url, sql) = (
        admin_url.to_string(),
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(async {
                let mut conn = PgConnection::connect(&admin_url).await?;
                conn.execute(AssertSqlSafe(sql)).await?;
                conn.close().await
            })
            .map_err(|e| e.to_string())
    })
    .join();
    if let Ok(Err(e)) = dropped {
        eprintln!("test database {name} left behind: {e}");
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The stores every test runs on: SQLite always; PostgreSQL when
/// REFILL_TEST_DATABASE_URL is set (and then it must be reachable: no silent skip).
pub async fn stores() -> Vec<Store> {
    let mut v = vec![Store::sqlite()];
    if let Ok(admin) = std::env::var("REFILL_TEST_DATABASE_URL") {
        v.push(Store::postgres(&admin).await);
    }
    v
}
