//! The `model add`, `model list` and `model rekey` use cases. Nothing here prints:
//! the doors render what these return.

use crate::ai::Provider;
use crate::config::Config;
use crate::db::Db;
use crate::db::model_repository;

pub use model_repository::{ModelSummary, NewModel, Rekeyed};

use super::AppError;

/// Checks an `--api-url` before anything is stored; returns why it cannot be used.
pub fn check_api_url(url: &str) -> Result<(), String> {
    crate::ai::http::check_url(url)
}

/// The environment variable a provider's key is read from when none is stored
/// (`GEMINI_API_KEY`, `OPENAI_API_KEY`); none for `echo` or an unknown provider.
pub fn provider_key_env(provider: &str) -> Option<&'static str> {
    Provider::parse(provider).and_then(Provider::key_env)
}

/// What `model add` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedModel {
    /// `id_ai_model` of the new row.
    pub id: u64,
    /// Whether a key was stored encrypted.
    pub key_stored: bool,
}

/// Adds a model, encrypting `key` with `AI_KEY_SECRET`.
pub fn add(config: &Config, model: &NewModel, key: Option<&str>) -> Result<AddedModel, AppError> {
    if key.is_some() && config.ai_key_secret.is_empty() {
        return Err(AppError::refused(
            "AI_KEY_SECRET is empty: set it in .env before storing an encrypted key",
        ));
    }
    let mut db = Db::connect(&config.db)?;
    let id = model_repository::add(&mut db, model, key, &config.ai_key_secret)?;
    db.close();
    Ok(AddedModel {
        id,
        key_stored: key.is_some(),
    })
}

/// Every model, without keys.
pub fn list(config: &Config) -> Result<Vec<ModelSummary>, AppError> {
    let mut db = Db::connect(&config.db)?;
    let models = model_repository::list(&mut db)?;
    db.close();
    Ok(models)
}

/// Re-encrypts every stored key from `old_secret` to `AI_KEY_SECRET`, all or nothing.
pub fn rekey(config: &Config, old_secret: &str) -> Result<Rekeyed, AppError> {
    if config.ai_key_secret.is_empty() {
        return Err(AppError::refused(
            "AI_KEY_SECRET is empty: put the new secret in .env first",
        ));
    }
    if old_secret == config.ai_key_secret {
        return Err(AppError::refused(
            "the old secret is the same as AI_KEY_SECRET: nothing to re-encrypt",
        ));
    }
    let mut db = Db::connect(&config.db)?;
    let outcome = model_repository::rekey(&mut db, old_secret, &config.ai_key_secret)?;
    db.close();
    if !outcome.undecryptable.is_empty() {
        return Err(AppError::Refused {
            message: format!(
                "the keys of {} decrypt with neither the old secret nor AI_KEY_SECRET; nothing was changed",
                outcome.undecryptable.join(", ")
            ),
            hint: Some(
                "check the old secret, or store those keys again with `ai-worker model add`".into(),
            ),
        });
    }
    Ok(outcome)
}
