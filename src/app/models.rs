//! The `model add`, `model update`, `model list` and `model rekey` use cases. Nothing here prints:
//! the doors render what these return.

use crate::ai::Provider;
use crate::config::Config;
use crate::db::model_repository;
use crate::db::{Db, DbError};

pub use model_repository::{KeyChange, ModelChanges, ModelSummary, NewModel, Rekeyed};

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

/// Where a model's key comes from after `model add` or `model update`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyNote {
    /// A key is stored, encrypted.
    Stored,
    /// No key stored; this environment variable holds one.
    FromEnvironment(&'static str),
    /// No key stored, and the model needs none (echo, or a server of your own).
    NotNeeded,
    /// No key anywhere: runs stop with "no API key" until one is stored.
    Missing(&'static str),
}

/// What `model add` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedModel {
    /// `id_ai_model` of the new row.
    pub id: u64,
    /// Where the key comes from.
    pub key: KeyNote,
}

/// Adds a model, encrypting `key` with `AI_KEY_SECRET`.
pub fn add(
    config: &Config,
    model: &NewModel,
    changes: &ModelChanges,
    key: Option<&str>,
) -> Result<AddedModel, AppError> {
    check_secret(config, key.is_some())?;
    let mut db = Db::connect(&config.db)?;
    let id = model_repository::add(&mut db, model, key, &config.ai_key_secret).map_err(|e| {
        match e {
            DbError::Duplicate(_) => AppError::Refused {
                message: format!("a model named '{}' exists already", model.name),
                hint: Some(format!(
                    "change it with `ai-worker model update {} ...` (see `ai-worker model update --help`)",
                    model.name
                )),
            },
            other => other.into(),
        }
    })?;
    let (keep, secret) = (KeyChange::Keep, &config.ai_key_secret);
    model_repository::update(&mut db, &model.name, changes, &keep, secret)?;
    db.close();
    let key = key_note(&model.provider, model.api_url.as_deref(), key.is_some());
    Ok(AddedModel { id, key })
}

/// Changes a model by name; the key as `key` says.
pub fn update(
    config: &Config,
    name: &str,
    changes: &ModelChanges,
    key: &KeyChange,
) -> Result<(), AppError> {
    update_with_fallback(config, name, changes, key, None)
}

/// [`update`], and the model's fallback set by name (`Some(None)`: removed). A
/// fallback that does not exist, or that leads back to the model, is refused.
pub fn update_with_fallback(
    config: &Config,
    name: &str,
    changes: &ModelChanges,
    key: &KeyChange,
    fallback: Option<Option<&str>>,
) -> Result<(), AppError> {
    check_secret(config, matches!(key, KeyChange::Set(_)))?;
    let mut db = Db::connect(&config.db)?;
    let mut changes = changes.clone();
    if let Some(fallback) = fallback {
        changes.fallback = Some(resolve_fallback(&mut db, name, fallback)?);
    }
    let found = model_repository::update(&mut db, name, &changes, key, &config.ai_key_secret)?;
    db.close();
    if !found {
        return Err(AppError::NotFound(format!(
            "no model is named '{name}' (`ai-worker model list` shows them)"
        )));
    }
    Ok(())
}

/// The id of `fallback` for model `name`, refusing a name that does not exist and a
/// chain that would lead back to `name`.
fn resolve_fallback(
    db: &mut Db,
    name: &str,
    fallback: Option<&str>,
) -> Result<Option<u32>, AppError> {
    let Some(fallback) = fallback else {
        return Ok(None);
    };
    let missing = |what: &str| {
        AppError::NotFound(format!(
            "no model is named '{what}' (`ai-worker model list` shows them)"
        ))
    };
    let own = model_repository::find_by_name(db, name)?.ok_or_else(|| missing(name))?;
    let first = model_repository::find_by_name(db, fallback)?.ok_or_else(|| missing(fallback))?;
    let mut next = Some(first);
    let mut seen = Vec::new();
    while let Some(id) = next {
        if id == own {
            return Err(AppError::Usage(format!(
                "'{fallback}' cannot be the fallback of '{name}': its chain of fallbacks leads back to '{name}' (a cycle)"
            )));
        }
        if seen.contains(&id) {
            break;
        }
        seen.push(id);
        next = model_repository::fallback_of(db, id)?;
    }
    Ok(Some(first))
}

fn check_secret(config: &Config, storing_a_key: bool) -> Result<(), AppError> {
    if storing_a_key && config.ai_key_secret.is_empty() {
        return Err(AppError::refused(
            "AI_KEY_SECRET is empty: set it in .env before storing an encrypted key",
        ));
    }
    Ok(())
}

/// Where a new model's key comes from.
fn key_note(provider: &str, api_url: Option<&str>, stored: bool) -> KeyNote {
    if stored {
        return KeyNote::Stored;
    }
    let own_server = api_url.is_some_and(|u| !u.trim().is_empty());
    match Provider::parse(provider) {
        Some(Provider::OpenAi) if own_server => KeyNote::NotNeeded,
        Some(p @ (Provider::Gemini | Provider::OpenAi)) => {
            let var = p.key_env().unwrap_or_default();
            let set = std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
            if set {
                KeyNote::FromEnvironment(var)
            } else {
                KeyNote::Missing(var)
            }
        }
        _ => KeyNote::NotNeeded,
    }
}

/// Every model, without keys.
pub fn list(config: &Config) -> Result<Vec<ModelSummary>, AppError> {
    let mut db = Db::connect(&config.db)?;
    let mut models = model_repository::list(&mut db)?;
    db.close();
    // A password a panel put into an address is never shown.
    for model in &mut models {
        model.api_url = model.api_url.as_deref().map(crate::ai::http::redact_url);
    }
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
