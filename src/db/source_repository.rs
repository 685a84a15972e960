//! SQL on the source tables the texts came from, for `ai-worker export`. The table,
//! column and key names come only from `EXPORT_ALLOW` (checked identifiers, quoted
//! with backquotes); every value is bound.

use super::{Db, DbError};
use crate::config::{ExportTarget, is_identifier};

fn quoted(name: &str) -> Result<String, DbError> {
    if is_identifier(name) {
        Ok(format!("`{name}`"))
    } else {
        Err(DbError::Query(format!(
            "'{name}' is not a plain identifier"
        )))
    }
}

/// Writes `new` into the target column of row `source_id`, only if the column still
/// holds `expected` byte for byte (compare-and-set: a row edited since is never
/// overwritten, not even by an edit of letter case or trailing spaces, which the
/// column's collation would call equal). Returns whether the row was written. The
/// write runs under a savepoint, so a value the source refuses (a key of the wrong
/// type, a character its column cannot hold) fails this item only: `Err(Query)`.
pub fn compare_and_set(
    db: &mut Db,
    target: &ExportTarget,
    source_id: &str,
    expected: &str,
    new: &str,
) -> Result<bool, DbError> {
    let (table, column, pk) = (
        quoted(&target.table)?,
        quoted(&target.column)?,
        quoted(&target.pk)?,
    );
    let sql = format!(
        "UPDATE {table} SET {column} = ? WHERE {pk} = ? AND {column} IS NOT NULL \
         AND SHA2(CONVERT({column} USING utf8mb4), 256) = SHA2(?, 256)"
    );
    db.execute_text("SAVEPOINT ai_worker_item")?;
    match db.execute(&sql, (new, source_id, expected)) {
        Ok(changed) => Ok(changed > 0),
        Err(err @ DbError::Query(_)) => {
            db.execute_text("ROLLBACK TO SAVEPOINT ai_worker_item")?;
            Err(err)
        }
        Err(err) => Err(err),
    }
}

/// What the target column of row `source_id` holds now: `None` when there is no such
/// row, `Some(None)` for NULL.
pub fn current(
    db: &mut Db,
    target: &ExportTarget,
    source_id: &str,
) -> Result<Option<Option<String>>, DbError> {
    let (table, column, pk) = (
        quoted(&target.table)?,
        quoted(&target.column)?,
        quoted(&target.pk)?,
    );
    let sql = format!("SELECT {column} FROM {table} WHERE {pk} = ?");
    let row: Option<(Option<Vec<u8>>,)> = db.query_first(&sql, (source_id,))?;
    Ok(row.map(|(value,)| value.map(|v| String::from_utf8_lossy(&v).into_owned())))
}
