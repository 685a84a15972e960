//! The schema (`sql/schema.sql`), embedded in the binary so `ai-worker init-db`
//! needs no files beside the executable.

use super::{Db, DbError};
use crate::config::DbConfig;

/// The text of `sql/schema.sql`.
pub const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");

/// Splits the schema into statements: each ends with `;` at the end of a line,
/// and lines starting with `--` are comments.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Creates the configured database if it is missing and applies the schema.
/// Idempotent: a second run changes nothing.
pub fn init_db(cfg: &DbConfig) -> Result<(), DbError> {
    crate::config::validate_identifier("DB_NAME", &cfg.name)
        .map_err(|e| DbError::Query(e.to_string()))?;
    let mut server = Db::connect_server(cfg)?;
    server.execute_text(&format!(
        "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        cfg.name
    ))?;
    server.close();
    let mut db = Db::connect(cfg)?;
    apply(&mut db)?;
    db.close();
    Ok(())
}

/// Applies the schema to the database `db` is connected to.
pub fn apply(db: &mut Db) -> Result<(), DbError> {
    for statement in statements(SCHEMA_SQL) {
        db.execute_text(&statement)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_splits_into_whole_statements() {
        let stmts = statements(SCHEMA_SQL);
        assert_eq!(
            stmts
                .iter()
                .filter(|s| s.starts_with("CREATE TABLE"))
                .count(),
            8
        );
        assert_eq!(
            stmts
                .iter()
                .filter(|s| s.starts_with("INSERT IGNORE"))
                .count(),
            3
        );
        assert!(stmts.iter().all(|s| !s.ends_with(';')));
    }

    #[test]
    fn schema_avoids_features_old_servers_lack() {
        let upper = SCHEMA_SQL.to_uppercase();
        for banned in ["SKIP LOCKED", "RETURNING", "JSON", "0900_", "CHECK ("] {
            assert!(!upper.contains(banned), "schema uses {banned}");
        }
    }
}
