//! A fresh PostgreSQL database per test.

use sqlx::{Connection, Executor, PgConnection};

/// Where the test PostgreSQL server is when `LOCKIN_TEST_POSTGRES_URL` is unset.
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database made for one test: `lockin_t_<uuid>`.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL the server under test connects to.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Makes the database. An unreachable server fails the test: a suite that
    /// skips its PostgreSQL half proves nothing about it.
    pub async fn create() -> Self {
        let admin_url = std::env::var("LOCKIN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let name = format!("lockin_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({error}). The PostgreSQL tests need it: \
                 start it, or point LOCKIN_TEST_POSTGRES_URL at one where this user may create databases."
            )
        });
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap_or_else(|error| panic!("creating database {name} on {admin_url}: {error}"));
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("LOCKIN_TEST_POSTGRES_URL is not a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            admin_url,
            name,
        }
    }

    /// Drops the database. Only passing tests call this: a failing one leaves
    /// its database for a look.
    pub async fn drop_database(self) {
        let name = &self.name;
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connecting to PostgreSQL to drop the test database");
        admin
            .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
            .await
            .unwrap_or_else(|error| panic!("dropping database {name}: {error}"));
        admin.close().await.ok();
    }
}
