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

/// Applies the schema to the database `db` is connected to. An `ALTER TABLE t ADD
/// COLUMN c ...` runs only when `t` lacks `c`, so a second run changes nothing and a
/// database made by an older ai-worker gets what is new.
pub fn apply(db: &mut Db) -> Result<(), DbError> {
    for statement in statements(SCHEMA_SQL) {
        if let Some((table, column)) = added_column(&statement)
            && has_column(db, table, column)?
        {
            continue;
        }
        if let Some((table, index)) = added_index(&statement)
            && has_index(db, table, index)?
        {
            continue;
        }
        db.execute_text(&statement)?;
    }
    Ok(())
}

/// The table and index of an `ALTER TABLE t ADD INDEX i (...)` statement.
fn added_index(statement: &str) -> Option<(&str, &str)> {
    let mut words = statement.split_whitespace();
    let head: Vec<&str> = words.by_ref().take(5).collect();
    match head.as_slice() {
        ["ALTER", "TABLE", table, "ADD", "INDEX"] => Some((table, words.next()?)),
        _ => None,
    }
}

fn has_index(db: &mut Db, table: &str, index: &str) -> Result<bool, DbError> {
    let found: Option<u8> = db.query_first(
        "SELECT 1 FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1",
        (table, index),
    )?;
    Ok(found.is_some())
}

/// The table and column of an `ALTER TABLE t ADD COLUMN c ...` statement.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let mut words = statement.split_whitespace();
    let head: Vec<&str> = words.by_ref().take(5).collect();
    match head.as_slice() {
        ["ALTER", "TABLE", table, "ADD", "COLUMN"] => Some((table, words.next()?)),
        _ => None,
    }
}

fn has_column(db: &mut Db, table: &str, column: &str) -> Result<bool, DbError> {
    let found: Option<u8> = db.query_first(
        "SELECT 1 FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        (table, column),
    )?;
    Ok(found.is_some())
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
            9
        );
        let added: Vec<_> = stmts.iter().filter_map(|s| added_column(s)).collect();
        assert!(added.contains(&("ai_model", "price_input")), "{added:?}");
        assert!(added.contains(&("task_item", "cost")), "{added:?}");
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
