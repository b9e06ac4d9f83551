//! One PostgreSQL journal shared by the replicas, in a schema of the test's own, dropped
//! when the test ends (on failure too).

use std::collections::HashMap;
use std::process::Command;

use sqlx::postgres::PgPoolOptions;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct SharedJournal {
    pub schema: String,
}

impl SharedJournal {
    pub fn new() -> Self {
        let schema = format!("it_cluster_{:08x}", rand::random::<u32>());
        psql(&format!("CREATE SCHEMA {schema}"));
        Self { schema }
    }

    /// The URL every replica's journal uses: the schema first on the search path.
    pub fn url(&self) -> String {
        format!(
            "{SERVER}?application_name={0}&options=-c%20search_path%3D{0}",
            self.schema
        )
    }

    /// Per id: the attempts journalled, as (attempt, outcome).
    pub async fn attempts(&self) -> HashMap<String, Vec<(i64, String)>> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(SERVER)
            .await
            .unwrap();
        let sql = format!(
            "SELECT m.message_id, a.attempt, a.outcome FROM {0}.journal_attempts a \
             JOIN {0}.journal_messages m ON m.id = a.message ORDER BY a.id",
            self.schema
        );
        let rows: Vec<(String, i64, String)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        let mut by_id: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for (id, attempt, outcome) in rows {
            by_id.entry(id).or_default().push((attempt, outcome));
        }
        by_id
    }
}

impl Drop for SharedJournal {
    fn drop(&mut self) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}

fn psql(sql: &str) {
    let status = Command::new("psql")
        .args([SERVER, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .status()
        .expect("psql is installed beside PostgreSQL");
    assert!(status.success(), "psql: {sql}");
}
