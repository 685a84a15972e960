//! What a column can hold: its type and character set read from `information_schema`,
//! and whether a value fits, so that a value a column cannot take fails its own item
//! with a message naming the column, instead of aborting a batch (strict servers) or
//! being stored mangled as `?` (lenient ones).

use super::{Db, DbError};

/// A column's `DATA_TYPE` and `CHARACTER_SET_NAME`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnType {
    /// `int`, `varchar`, `mediumtext`, ...
    pub data_type: String,
    /// `utf8mb4`, `utf8mb3`, `latin1`, ...; `None` for columns without one.
    pub charset: Option<String>,
}

/// The type of `table.column` in the connection's database, `None` when there is no
/// such column.
pub fn column_type(db: &mut Db, table: &str, column: &str) -> Result<Option<ColumnType>, DbError> {
    let row: Option<(String, Option<String>)> = db.query_first(
        "SELECT DATA_TYPE, CHARACTER_SET_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        (table, column),
    )?;
    Ok(row.map(|(data_type, charset)| ColumnType {
        data_type: data_type.to_ascii_lowercase(),
        charset: charset.map(|c| c.to_ascii_lowercase()),
    }))
}

impl ColumnType {
    /// Why `text` cannot be stored in this column as it is, if it cannot: a 3-byte
    /// UTF-8 column takes no emoji or other character beyond U+FFFF, a Latin-1 column
    /// only Western European letters.
    pub fn refuses_text(&self, text: &str, name: &str) -> Option<String> {
        let charset = self.charset.as_deref()?;
        let bad = match charset {
            "utf8" | "utf8mb3" => text.chars().find(|&c| c > '\u{FFFF}'),
            "latin1" => text.chars().find(|&c| !is_cp1252(c)),
            "ascii" => text.chars().find(|c| !c.is_ascii()),
            _ => None,
        }?;
        Some(format!(
            "{name} is {charset} and cannot hold the character U+{:04X} of this text; convert the column to utf8mb4 (ALTER TABLE ... MODIFY ... CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci)",
            u32::from(bad)
        ))
    }

    /// Why `key` cannot be compared with this (key) column, if it cannot: a whole
    /// number column takes only whole numbers.
    pub fn refuses_key(&self, key: &str, name: &str) -> Option<String> {
        let whole = matches!(
            self.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        );
        let is_number = {
            let digits = key.strip_prefix('-').unwrap_or(key);
            !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
        };
        (whole && !is_number).then(|| {
            format!(
                "source_id '{}' is not a whole number, but {name} is {}",
                crate::ai::preview_of(key, 40),
                self.data_type
            )
        })
    }
}

/// Whether MySQL's `latin1` (Windows-1252) has the character.
fn is_cp1252(c: char) -> bool {
    const EXTRA: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";
    (c as u32) < 0x80 || ((c as u32) >= 0xA0 && (c as u32) <= 0xFF) || EXTRA.contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data_type: &str, charset: Option<&str>) -> ColumnType {
        ColumnType {
            data_type: data_type.into(),
            charset: charset.map(str::to_string),
        }
    }

    #[test]
    fn a_four_byte_character_never_goes_into_a_three_byte_column() {
        let utf8 = column("mediumtext", Some("utf8mb3"));
        let why = utf8
            .refuses_text("Zamek 🏰", "task_item.text_corrected")
            .unwrap();
        assert!(why.contains("utf8mb3") && why.contains("U+1F3F0"), "{why}");
        assert_eq!(utf8.refuses_text("Zażółć gęślą jaźń", "x"), None);
        assert_eq!(
            column("mediumtext", Some("utf8mb4")).refuses_text("🏰", "x"),
            None
        );
        let latin1 = column("text", Some("latin1"));
        assert!(latin1.refuses_text("łódź", "x").is_some());
        assert_eq!(latin1.refuses_text("café – €5", "x"), None);
    }

    #[test]
    fn a_key_must_fit_a_whole_number_column() {
        let int = column("int", None);
        assert!(
            int.refuses_key("1abc", "products.id")
                .unwrap()
                .contains("1abc")
        );
        assert_eq!(int.refuses_key("42", "products.id"), None);
        assert_eq!(
            column("varchar", Some("utf8mb4")).refuses_key("1abc", "x"),
            None
        );
    }
}
