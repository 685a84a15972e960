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
/// COLUMN c ...` (or `ADD INDEX i ...`) runs only when `t` lacks `c` (or `i`), so a
/// second run changes nothing and a database made by an older ai-worker gets what is new.
pub fn apply(db: &mut Db) -> Result<(), DbError> {
    for statement in statements(SCHEMA_SQL) {
        if let Some(addition) = addition(&statement)
            && exists(db, &addition)?
        {
            continue;
        }
        db.execute_text(&statement)?;
    }
    Ok(())
}

/// What an `ALTER TABLE t ADD COLUMN c ...` or `ADD INDEX i ...` statement adds.
#[derive(Debug, PartialEq, Eq)]
struct Addition<'a> {
    table: &'a str,
    /// `COLUMN` or `INDEX`.
    kind: &'a str,
    name: &'a str,
}

fn addition(statement: &str) -> Option<Addition<'_>> {
    let mut words = statement.split_whitespace();
    let head: Vec<&str> = words.by_ref().take(5).collect();
    match head.as_slice() {
        ["ALTER", "TABLE", table, "ADD", kind @ ("COLUMN" | "INDEX")] => Some(Addition {
            table,
            kind,
            name: words.next()?,
        }),
        _ => None,
    }
}

fn exists(db: &mut Db, addition: &Addition<'_>) -> Result<bool, DbError> {
    let sql = if addition.kind == "COLUMN" {
        "SELECT 1 FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ? LIMIT 1"
    } else {
        "SELECT 1 FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1"
    };
    let found: Option<u8> = db.query_first(sql, (addition.table, addition.name))?;
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
            10
        );
        let added: Vec<_> = stmts
            .iter()
            .filter_map(|s| addition(s).map(|a| (a.table, a.kind, a.name)))
            .collect();
        assert!(
            added.contains(&("ai_model", "COLUMN", "price_input")),
            "{added:?}"
        );
        assert!(
            added.contains(&("task_item", "COLUMN", "cost")),
            "{added:?}"
        );
        assert!(
            added.contains(&("task_item", "INDEX", "idx_task_item_review")),
            "{added:?}"
        );
        assert!(added.contains(&("task", "COLUMN", "priority")), "{added:?}");
        assert_eq!(
            stmts
                .iter()
                .filter(|s| s.starts_with("INSERT IGNORE"))
                .count(),
            4
        );
        assert!(stmts.iter().all(|s| !s.ends_with(';')));
    }

    #[test]
    fn schema_avoids_features_old_servers_lack() {
        let upper = SCHEMA_SQL.to_uppercase();
        for banned in [
            "SKIP LOCKED",
            "RETURNING",
            " JSON NULL",
            " JSON NOT",
            " JSON,",
            "JSON_",
            "0900_",
            "CHECK (",
        ] {
            assert!(!upper.contains(banned), "schema uses {banned}");
        }
    }
}
