//! SQL for the `ai_model` table. Keys are stored as `AES_ENCRYPT(key, AI_KEY_SECRET)`
//! and decrypted inside the SQL statement, so only the secret travels, never a key.

use super::{Db, DbError, column};

/// What the encrypted key column held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredKey {
    /// The column is NULL: use the provider's environment variable, if any.
    None,
    /// Decrypted with `AI_KEY_SECRET`.
    Decrypted(String),
    /// The column is set but does not decrypt with this `AI_KEY_SECRET`.
    Undecryptable,
}

/// One `ai_model` row, with its key decrypted.
#[derive(Clone, PartialEq)]
pub struct ModelRow {
    /// `id_ai_model`.
    pub id: u32,
    /// `name`: the panel's label.
    pub name: String,
    /// `provider`: `gemini`, `openai` or `echo`.
    pub provider: String,
    /// `model_name`, e.g. `gemini-2.5-pro`.
    pub model_name: String,
    /// `api_url`: base URL up to the API version; NULL = provider default.
    pub api_url: Option<String>,
    /// The decrypted key.
    pub key: StoredKey,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u32>,
    /// `timeout_s`.
    pub timeout_s: Option<u32>,
    /// `requests_per_minute`.
    pub requests_per_minute: Option<u32>,
    /// `structured_output`: 1 = JSON schema, 2 = JSON object, 0 = plain JSON prompt,
    /// NULL = detect.
    pub structured_output: Option<u8>,
    /// `is_active`.
    pub is_active: bool,
    /// `price_input`, `price_cached_input`, `price_output` per 1 million tokens.
    pub prices: [Option<f64>; 3],
    /// `currency`.
    pub currency: String,
    /// `thinking_budget`.
    pub thinking_budget: Option<i32>,
    /// `reasoning_effort`.
    pub reasoning_effort: Option<String>,
    /// `service_tier`.
    pub service_tier: Option<String>,
    /// `daily_budget`.
    pub daily_budget: Option<f64>,
    /// `max_chunk_chars`.
    pub max_chunk_chars: Option<u32>,
    /// `batch_price_factor`: the share of the prices a batch job is billed at.
    pub batch_price_factor: Option<f64>,
    /// `max_concurrency`: the most calls in flight to this model in one process.
    pub max_concurrency: Option<u32>,
    /// `id_fallback_model`: the model that takes over while this one cannot answer.
    pub id_fallback_model: Option<u32>,
    /// `local_server`: `api_url` is a server of one's own (`None`: judged from it).
    pub local_server: Option<bool>,
    /// `pack_max_items`: texts one request carries at most (`None`: the task's).
    pub pack_max_items: Option<i64>,
}

impl std::fmt::Debug for ModelRow {
    // Hand-written so a key can never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("model_name", &self.model_name)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// Loads a model and decrypts its key with `secret`.
pub fn get(db: &mut Db, id_ai_model: u32, secret: &str) -> Result<Option<ModelRow>, DbError> {
    let row: Option<mysql::Row> = db.query_first(
        "SELECT id_ai_model, name, provider, model_name, api_url, \
         api_key_encrypted IS NOT NULL, AES_DECRYPT(api_key_encrypted, ?), \
         CAST(temperature AS CHAR), max_output_tokens, timeout_s, requests_per_minute, \
         structured_output, is_active, CAST(price_input AS CHAR), \
         CAST(price_cached_input AS CHAR), CAST(price_output AS CHAR), currency, \
         thinking_budget, reasoning_effort, service_tier, CAST(daily_budget AS CHAR), \
         max_chunk_chars, CAST(batch_price_factor AS CHAR), max_concurrency, \
         id_fallback_model, local_server, pack_max_items FROM ai_model WHERE id_ai_model = ?",
        (secret, id_ai_model),
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let has_key: bool = column(&row, 5, "ai_model.api_key_encrypted")?;
    let decrypted: Option<Vec<u8>> = column(&row, 6, "ai_model.api_key_encrypted")?;
    let key = match (has_key, decrypted.and_then(plausible_key)) {
        (false, _) => StoredKey::None,
        (true, Some(key)) => StoredKey::Decrypted(key),
        (true, None) => StoredKey::Undecryptable,
    };
    let structured: Option<u8> = column(&row, 11, "ai_model.structured_output")?;
    let active: u8 = column(&row, 12, "ai_model.is_active")?;
    Ok(Some(ModelRow {
        id: column(&row, 0, "ai_model.id_ai_model")?,
        name: column(&row, 1, "ai_model.name")?,
        provider: column(&row, 2, "ai_model.provider")?,
        model_name: column(&row, 3, "ai_model.model_name")?,
        api_url: column(&row, 4, "ai_model.api_url")?,
        key,
        temperature: decimal(&row, 7, "ai_model.temperature")?,
        max_output_tokens: column(&row, 8, "ai_model.max_output_tokens")?,
        timeout_s: column(&row, 9, "ai_model.timeout_s")?,
        requests_per_minute: column(&row, 10, "ai_model.requests_per_minute")?,
        structured_output: structured,
        is_active: active != 0,
        prices: [
            decimal(&row, 13, "ai_model.price_input")?,
            decimal(&row, 14, "ai_model.price_cached_input")?,
            decimal(&row, 15, "ai_model.price_output")?,
        ],
        currency: column(&row, 16, "ai_model.currency")?,
        thinking_budget: column(&row, 17, "ai_model.thinking_budget")?,
        reasoning_effort: column(&row, 18, "ai_model.reasoning_effort")?,
        service_tier: column(&row, 19, "ai_model.service_tier")?,
        daily_budget: decimal(&row, 20, "ai_model.daily_budget")?,
        max_chunk_chars: column(&row, 21, "ai_model.max_chunk_chars")?,
        batch_price_factor: column::<Option<String>>(&row, 22, "ai_model.batch_price_factor")?
            .and_then(|f| f.parse().ok()),
        max_concurrency: column(&row, 23, "ai_model.max_concurrency")?,
        id_fallback_model: column(&row, 24, "ai_model.id_fallback_model")?,
        local_server: column::<Option<i64>>(&row, 25, "ai_model.local_server")?.map(|v| v != 0),
        pack_max_items: column(&row, 26, "ai_model.pack_max_items")?,
    }))
}

/// A DECIMAL column read as text (exact on the wire), as a number.
fn decimal(row: &mysql::Row, index: usize, name: &str) -> Result<Option<f64>, DbError> {
    let text: Option<String> = column(row, index, name)?;
    text.map(|t| {
        t.parse::<f64>()
            .map_err(|_| DbError::Query(format!("{name} '{t}' is not a number")))
    })
    .transpose()
}

/// The key in bytes `AES_DECRYPT` returned, if they are one. A wrong secret gives NULL
/// or, now and then, bytes that pass AES's padding check but are no API key.
fn plausible_key(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes)
        .ok()
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_graphic()))
}

/// What `ai-worker model rekey` found and did, by model name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Keys now encrypted with the new secret.
    pub changed: Vec<String>,
    /// Keys that already were.
    pub already: Vec<String>,
    /// Keys that decrypt with neither secret; when there are any, nothing is changed.
    pub undecryptable: Vec<String>,
}

/// Re-encrypts every stored key from `old_secret` to `new_secret`, all or nothing, in
/// one transaction with the rows locked. Keys already under `new_secret` are left
/// alone, so an interrupted rotation can simply be run again.
pub fn rekey(db: &mut Db, old_secret: &str, new_secret: &str) -> Result<Rekeyed, DbError> {
    db.transaction(|db| {
        type Row = (u32, String, Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<Row> = db.query(
            "SELECT id_ai_model, name, AES_DECRYPT(api_key_encrypted, ?), \
             AES_DECRYPT(api_key_encrypted, ?) FROM ai_model \
             WHERE api_key_encrypted IS NOT NULL ORDER BY id_ai_model FOR UPDATE",
            (old_secret, new_secret),
        )?;
        let mut outcome = Rekeyed::default();
        let mut updates = Vec::new();
        for (id, name, under_old, under_new) in rows {
            if under_new.and_then(plausible_key).is_some() {
                outcome.already.push(name);
            } else if let Some(key) = under_old.and_then(plausible_key) {
                updates.push((id, key));
                outcome.changed.push(name);
            } else {
                outcome.undecryptable.push(name);
            }
        }
        if outcome.undecryptable.is_empty() {
            for (id, key) in updates {
                db.execute(
                    "UPDATE ai_model SET api_key_encrypted = AES_ENCRYPT(?, ?) \
                     WHERE id_ai_model = ?",
                    (key, new_secret, id),
                )?;
            }
        }
        Ok(outcome)
    })
}

/// A model to add with `ai-worker model add`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewModel {
    /// Unique label.
    pub name: String,
    /// `gemini`, `openai` or `echo`.
    pub provider: String,
    /// Provider's model name.
    pub model_name: String,
    /// Optional base URL.
    pub api_url: Option<String>,
    /// Optional requests-per-minute quota.
    pub requests_per_minute: Option<u32>,
}

/// Inserts a model, encrypting `key` with `secret` in SQL; returns its id.
pub fn add(db: &mut Db, model: &NewModel, key: Option<&str>, secret: &str) -> Result<u64, DbError> {
    db.execute(
        "INSERT INTO ai_model (name, provider, model_name, api_url, api_key_encrypted, \
         requests_per_minute, is_active) \
         VALUES (?, ?, ?, ?, IF(? IS NULL, NULL, AES_ENCRYPT(?, ?)), ?, 1)",
        (
            &model.name,
            &model.provider,
            &model.model_name,
            &model.api_url,
            key,
            key,
            secret,
            model.requests_per_minute,
        ),
    )?;
    let id: Option<u64> = db.query_first("SELECT LAST_INSERT_ID()", ())?;
    Ok(id.unwrap_or(0))
}

/// What `ai-worker model update` changes; `None` leaves a column as it is, and
/// `Some(None)` sets a nullable column to NULL (the provider's default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelChanges {
    /// `model_name`.
    pub model_name: Option<String>,
    /// `api_url`.
    pub api_url: Option<Option<String>>,
    /// `is_active`.
    pub is_active: Option<bool>,
    /// `temperature`.
    pub temperature: Option<Option<f64>>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<Option<u32>>,
    /// `timeout_s`.
    pub timeout_s: Option<Option<u32>>,
    /// `requests_per_minute`.
    pub requests_per_minute: Option<Option<u32>>,
    /// `structured_output`.
    pub structured_output: Option<Option<u8>>,
    /// `price_input`, `price_cached_input`, `price_output`.
    pub prices: [Option<Option<f64>>; 3],
    /// `currency`.
    pub currency: Option<String>,
    /// `thinking_budget`.
    pub thinking_budget: Option<Option<i32>>,
    /// `reasoning_effort`.
    pub reasoning_effort: Option<Option<String>>,
    /// `service_tier`.
    pub service_tier: Option<Option<String>>,
    /// `daily_budget`.
    pub daily_budget: Option<Option<f64>>,
    /// `max_chunk_chars`.
    pub max_chunk_chars: Option<Option<u32>>,
    /// `max_concurrency`.
    pub max_concurrency: Option<Option<u32>>,
    /// `local_server` (`None` inside: judged from `api_url`).
    pub local_server: Option<Option<u8>>,
    /// `pack_max_items` (`None` inside: the task's).
    pub pack_max_items: Option<Option<u32>>,
    /// `id_fallback_model` (`None` inside: no fallback), resolved from a name by the
    /// caller.
    pub fallback: Option<Option<u32>>,
}

/// What `ai-worker model update` does with the key.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// Leave the stored key as it is.
    Keep,
    /// Store this key, encrypted.
    Set(String),
    /// Remove the stored key (the environment's key, if any, is used).
    Remove,
}

impl std::fmt::Debug for KeyChange {
    // Hand-written so a key can never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyChange::Keep => "Keep",
            KeyChange::Set(_) => "Set(..)",
            KeyChange::Remove => "Remove",
        })
    }
}

/// Changes a model by name, in one statement; returns false if there is no such model.
/// Column names are fixed here, values are bound.
pub fn update(
    db: &mut Db,
    name: &str,
    changes: &ModelChanges,
    key: &KeyChange,
    secret: &str,
) -> Result<bool, DbError> {
    let (mut sets, mut params): (Vec<&str>, Vec<mysql::Value>) =
        assignments(changes).into_iter().unzip();
    match key {
        KeyChange::Keep => {}
        KeyChange::Remove => {
            sets.push("api_key_encrypted = ?");
            params.push(mysql::Value::NULL);
        }
        KeyChange::Set(k) => {
            sets.push("api_key_encrypted = AES_ENCRYPT(?, ?)");
            params.push(k.as_str().into());
            params.push(secret.into());
        }
    }
    let exists = find_by_name(db, name)?.is_some();
    if sets.is_empty() || !exists {
        return Ok(exists);
    }
    params.push(name.into());
    let sql = format!("UPDATE ai_model SET {} WHERE name = ?", sets.join(", "));
    db.execute(&sql, params)?;
    Ok(true)
}

/// Remembers how a model's server takes JSON requests (found out by a run).
pub fn set_structured_output(db: &mut Db, id_ai_model: u32, value: u8) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_model SET structured_output = ? WHERE id_ai_model = ? \
         AND structured_output IS NULL",
        (value, id_ai_model),
    )?;
    Ok(())
}

/// Remembers that the model cannot answer several texts in one request: later runs
/// send it one text per request (an operator's own setting is never overwritten).
/// Returns whether the row changed.
pub fn refuse_packs(db: &mut Db, id_ai_model: u32) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE ai_model SET pack_max_items = 1 WHERE id_ai_model = ? AND pack_max_items IS NULL",
        (id_ai_model,),
    )?;
    Ok(changed > 0)
}

/// The `column = ?` assignments and their values for what `changes` sets.
fn assignments(c: &ModelChanges) -> Vec<(&'static str, mysql::Value)> {
    let mut out: Vec<(&'static str, mysql::Value)> = Vec::new();
    let mut set = |column: &'static str, value: Option<mysql::Value>| {
        if let Some(value) = value {
            out.push((column, value));
        }
    };
    set("model_name = ?", c.model_name.clone().map(Into::into));
    set("api_url = ?", c.api_url.clone().map(Into::into));
    set("is_active = ?", c.is_active.map(Into::into));
    set("temperature = ?", c.temperature.map(Into::into));
    set("max_output_tokens = ?", c.max_output_tokens.map(Into::into));
    set("timeout_s = ?", c.timeout_s.map(Into::into));
    set(
        "requests_per_minute = ?",
        c.requests_per_minute.map(Into::into),
    );
    set("structured_output = ?", c.structured_output.map(Into::into));
    set("price_input = ?", c.prices[0].map(Into::into));
    set("price_cached_input = ?", c.prices[1].map(Into::into));
    set("price_output = ?", c.prices[2].map(Into::into));
    set("currency = ?", c.currency.clone().map(Into::into));
    set("thinking_budget = ?", c.thinking_budget.map(Into::into));
    set(
        "reasoning_effort = ?",
        c.reasoning_effort.clone().map(Into::into),
    );
    set("service_tier = ?", c.service_tier.clone().map(Into::into));
    set("daily_budget = ?", c.daily_budget.map(Into::into));
    set("max_chunk_chars = ?", c.max_chunk_chars.map(Into::into));
    set("max_concurrency = ?", c.max_concurrency.map(Into::into));
    set("local_server = ?", c.local_server.map(Into::into));
    set("pack_max_items = ?", c.pack_max_items.map(Into::into));
    set("id_fallback_model = ?", c.fallback.map(Into::into));
    out
}

/// One line of `ai-worker model list` (no key, only whether one is stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSummary {
    /// `id_ai_model`.
    pub id: u32,
    /// `name`.
    pub name: String,
    /// `provider`.
    pub provider: String,
    /// `model_name`.
    pub model_name: String,
    /// `api_url`.
    pub api_url: Option<String>,
    /// Whether an encrypted key is stored.
    pub has_key: bool,
    /// `is_active`.
    pub is_active: bool,
}

/// Lists every model without keys.
pub fn list(db: &mut Db) -> Result<Vec<ModelSummary>, DbError> {
    type Row = (u32, String, String, String, Option<String>, u8, u8);
    let rows: Vec<Row> = db.query(
        "SELECT id_ai_model, name, provider, model_name, api_url, \
         api_key_encrypted IS NOT NULL, is_active FROM ai_model ORDER BY id_ai_model",
        (),
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, provider, model_name, api_url, has_key, active)| ModelSummary {
                id,
                name,
                provider,
                model_name,
                api_url,
                has_key: has_key != 0,
                is_active: active != 0,
            },
        )
        .collect())
}

/// The model a model falls back to, if any.
pub fn fallback_of(db: &mut Db, id_ai_model: u32) -> Result<Option<u32>, DbError> {
    let row: Option<Option<u32>> = db.query_first(
        "SELECT id_fallback_model FROM ai_model WHERE id_ai_model = ?",
        (id_ai_model,),
    )?;
    Ok(row.flatten())
}

/// The id of the model with this name, if one exists.
pub fn find_by_name(db: &mut Db, name: &str) -> Result<Option<u32>, DbError> {
    db.query_first("SELECT id_ai_model FROM ai_model WHERE name = ?", (name,))
}
