//! Configuration: the `.env` file plus the process environment (the environment wins).
//!
//! Every key is validated once at start, so a typo in `.env` stops the worker with a
//! message naming the key and the value (exit code 2) instead of failing at 3 a.m.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most calls in flight one run may have (`WORKER_CONCURRENCY`, `--concurrency`):
/// each is a thread with a small stack; the database connections stay `DB_POOL_SIZE`.
pub const MAX_CONCURRENCY: usize = 4096;

/// The most database connections a run's pool may hold (`DB_POOL_SIZE`).
pub const MAX_POOL_SIZE: usize = 256;

/// Where and how to reach the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbConfig {
    /// Host name or IP address of the MySQL/MariaDB server.
    pub host: String,
    /// TCP port of the server.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password; never logged or printed.
    pub password: String,
    /// Database (schema) name.
    pub name: String,
    /// Longest wait for the server to connect, answer or take a write
    /// (`DB_TIMEOUT_S`): a frozen server ends the run with exit code 3, not a hang.
    pub timeout: Duration,
}

/// The whole validated configuration of one worker process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Database connection settings.
    pub db: DbConfig,
    /// Secret used by `AES_DECRYPT` to read `ai_model.api_key_encrypted`.
    pub ai_key_secret: String,
    /// Items one claim statement takes at most (`WORKER_CLAIM_MAX`, formerly
    /// `WORKER_BATCH_SIZE`); a run claims for all its free slots at once, in as many
    /// statements as this needs.
    pub claim_max: u32,
    /// Database connections a run holds beside its own (`DB_POOL_SIZE`), whatever its
    /// concurrency.
    pub db_pool_size: usize,
    /// Items handled per run when `--max-item` is not given.
    pub item_limit: u32,
    /// Parallel model calls per run.
    pub concurrency: u32,
    /// How long a task stays on its fallback model before its own model is tried
    /// again (`FALLBACK_RETRY_S`).
    pub fallback_retry: Duration,
    /// Short items of a task sent in one request at most, for tasks that do not set
    /// `task.pack_max_items` (`PACK_MAX_ITEMS`, default 20; 1 = never pack).
    pub pack_max_items: u32,
    /// How long a claimed item stays reserved for this worker.
    pub lease: Duration,
    /// How often a long task logs a progress line and refreshes the task's counters.
    pub progress_every: Duration,
    /// Default timeout of one model call (a model row may override it).
    pub ai_timeout: Duration,
    /// Retries of one model call after a retryable failure.
    pub ai_max_retries: u32,
    /// Claims of one item before a dead worker's item is marked ERROR.
    pub ai_max_attempts: u32,
    /// First backoff delay; it doubles on every retry, with jitter.
    pub ai_retry_base: Duration,
    /// Address `ai-worker serve` listens on.
    pub serve_bind: String,
    /// Bearer token required by `ai-worker serve`, if set.
    pub serve_token: Option<String>,
    /// Replace personal data by placeholders before a text leaves the machine.
    pub pii_redaction: bool,
    /// Hosts besides the providers' own APIs that `GEMINI_API_KEY` / `OPENAI_API_KEY`
    /// may be sent to (`AI_ENV_KEY_HOSTS`, a gateway of the operator's).
    pub env_key_hosts: Vec<String>,
    /// Fallback Gemini key when a model row has no encrypted key.
    pub gemini_api_key: Option<String>,
    /// Fallback OpenAI key when a model row has no encrypted key.
    pub openai_api_key: Option<String>,
    /// `RUST_LOG` from `.env` or the environment: the log filter.
    pub rust_log: Option<String>,
    /// `LOG_FILE`: a file to append log lines to (`{date}` allowed), as `--log-file`.
    pub log_file: Option<String>,
    /// `METRICS_FILE`: where a run writes its metrics (as `--metrics-file`).
    pub metrics_file: Option<String>,
    /// `EXPORT_ALLOW`: the only source columns `ai-worker export` may write.
    pub export_allow: Vec<ExportTarget>,
    /// `SOURCE_DB_*`: where the source tables live; `None` = the worker's database.
    pub source_db: Option<DbConfig>,
    /// Batch mode: how jobs are sized and how long one may take.
    pub batch: BatchConfig,
}

/// Batch mode settings (`BATCH_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Items in one provider job, at most.
    pub items_per_job: u32,
    /// How long a job may run before it counts as stuck and is cancelled.
    pub max_wait: Duration,
    /// Gemini: a job whose requests are larger than this goes through the Files API.
    pub inline_max_bytes: u64,
}

/// A source column `ai-worker export` may write: `table.column[:pk]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportTarget {
    /// The table (letters, digits, `_`).
    pub table: String,
    /// The column the text goes into.
    pub column: String,
    /// The primary key column `source_id` names (default `id`).
    pub pk: String,
}

impl ExportTarget {
    /// Reads `table.column[:pk]`; every part must be a plain identifier.
    pub fn parse(spec: &str) -> Option<ExportTarget> {
        let (target, pk) = match spec.trim().split_once(':') {
            Some((target, pk)) => (target, pk.trim()),
            None => (spec.trim(), "id"),
        };
        let (table, column) = target.split_once('.')?;
        let (table, column) = (table.trim(), column.trim());
        [table, column, pk]
            .iter()
            .all(|part| is_identifier(part))
            .then(|| ExportTarget {
                table: table.into(),
                column: column.into(),
                pk: pk.into(),
            })
    }
}

/// `^[A-Za-z0-9_]+$`, at most 64 characters: safe to put between backquotes.
pub fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A configuration problem the user has to fix (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The `.env` file named by `--env-file` does not exist or cannot be read.
    EnvFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// A line of the `.env` file is not `KEY=value`.
    EnvSyntax {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        reason: String,
    },
    /// A key has a value that is not allowed.
    Invalid {
        /// The key.
        key: &'static str,
        /// The value given (`<hidden>` for secrets).
        value: String,
        /// What would be allowed.
        expected: std::borrow::Cow<'static, str>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EnvFile { path, reason } => {
                write!(f, "cannot read env file {}: {reason}", path.display())
            }
            ConfigError::EnvSyntax { path, reason } => {
                write!(f, "env file {} is malformed: {reason}", path.display())
            }
            ConfigError::Invalid {
                key,
                value,
                expected,
            } => write!(f, "invalid {key}={value:?}: expected {expected}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Keys whose values must never be echoed back in an error message.
const SECRET_KEYS: &[&str] = &[
    "DB_PASSWORD",
    "AI_KEY_SECRET",
    "SERVE_TOKEN",
    "GEMINI_API_KEY",
    "OPENAI_API_KEY",
    "SOURCE_DB_PASSWORD",
];

/// A loaded configuration and where it came from, for the user to see.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The `.env` file read, if any.
    pub file: Option<PathBuf>,
    /// Keys in that file that ai-worker does not know, each with the known key it
    /// most likely means.
    pub unknown_keys: Vec<(String, Option<&'static str>)>,
}

/// Every key the worker reads: those `.env.example` documents.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    include_str!("../.env.example")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(key, _)| key.trim()))
        .filter(|key| !key.is_empty())
}

impl Config {
    /// Loads the configuration: `env_file` if given (it must exist), otherwise `.env`
    /// in the current folder or beside the executable (Task Scheduler starts programs
    /// in `System32`), then the process environment on top.
    pub fn load(env_file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_noting(env_file).map(|loaded| loaded.config)
    }

    /// Like [`Config::load`], and says which file was read and which of its keys are
    /// unknown (a typo such as `WORKER_CONCURENCY` would otherwise go unnoticed).
    pub fn load_noting(env_file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let file = env_file.map(Path::to_path_buf).or_else(default_env_file);
        let file_vars = match &file {
            Some(path) => read_env_file(path)?,
            None => HashMap::new(),
        };
        let env_vars: HashMap<String, String> = std::env::vars().collect();
        let config = Config::from_sources(&file_vars, &env_vars)?;
        let mut unknown_keys: Vec<(String, Option<&'static str>)> = file_vars
            .keys()
            .filter(|key| !known_keys().any(|known| known == key.as_str()))
            .map(|key| (key.clone(), crate::suggest::closest(key, known_keys())))
            .collect();
        unknown_keys.sort();
        Ok(Loaded {
            config,
            file,
            unknown_keys,
        })
    }

    /// Builds a configuration from `.env` values and environment values (the latter win).
    pub fn from_sources(
        file: &HashMap<String, String>,
        env: &HashMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let get = |key: &str| -> Option<String> {
            env.get(key)
                .or_else(|| file.get(key))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let db = DbConfig {
            host: get("DB_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: parse_num(&get, "DB_PORT", 3306, 1, u16::MAX as u64)? as u16,
            user: get("DB_USER").unwrap_or_else(|| "root".into()),
            password: env
                .get("DB_PASSWORD")
                .or_else(|| file.get("DB_PASSWORD"))
                .cloned()
                .unwrap_or_default(),
            name: get("DB_NAME").unwrap_or_else(|| "ai_worker".into()),
            timeout: Duration::from_secs(parse_num(&get, "DB_TIMEOUT_S", 60, 1, 3600)?),
        };
        validate_identifier("DB_NAME", &db.name)?;
        let config = Config {
            ai_key_secret: get("AI_KEY_SECRET").unwrap_or_default(),
            claim_max: claim_max(&get)?,
            db_pool_size: parse_num(&get, "DB_POOL_SIZE", 8, 1, MAX_POOL_SIZE as u64)? as usize,
            item_limit: parse_num(&get, "WORKER_MAX_ITEMS", 100, 1, 100_000_000)? as u32,
            concurrency: parse_num(&get, "WORKER_CONCURRENCY", 4, 1, MAX_CONCURRENCY as u64)?
                as u32,
            pack_max_items: parse_num(&get, "PACK_MAX_ITEMS", 20, 1, 50)? as u32,
            fallback_retry: Duration::from_secs(parse_num(
                &get,
                "FALLBACK_RETRY_S",
                60,
                0,
                86_400,
            )?),
            lease: Duration::from_secs(parse_num(&get, "WORKER_LEASE_S", 900, 10, 86_400)?),
            progress_every: Duration::from_secs(parse_num(&get, "WORKER_PROGRESS_S", 10, 1, 3600)?),
            ai_timeout: Duration::from_secs(parse_num(&get, "AI_TIMEOUT_S", 120, 1, 3600)?),
            ai_max_retries: parse_num(&get, "AI_MAX_RETRIES", 5, 0, 100)? as u32,
            ai_max_attempts: parse_num(&get, "AI_MAX_ATTEMPTS", 3, 1, 100)? as u32,
            ai_retry_base: Duration::from_millis(parse_num(
                &get,
                "AI_RETRY_BASE_MS",
                1000,
                0,
                600_000,
            )?),
            serve_bind: get("SERVE_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            serve_token: get("SERVE_TOKEN"),
            pii_redaction: parse_switch(&get, "PII_REDACTION", true)?,
            env_key_hosts: get("AI_ENV_KEY_HOSTS")
                .map(|hosts| {
                    hosts
                        .split(',')
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            gemini_api_key: get("GEMINI_API_KEY"),
            openai_api_key: get("OPENAI_API_KEY"),
            rust_log: get("RUST_LOG"),
            log_file: get("LOG_FILE"),
            metrics_file: get("METRICS_FILE"),
            export_allow: parse_export_allow(&get)?,
            source_db: source_db(&get, file, env, &db)?,
            batch: batch_config(&get)?,
            db,
        };
        Ok(config)
    }

    /// Where `ai-worker export` writes: `SOURCE_DB_*`, or the worker's own database.
    pub fn source_db(&self) -> &DbConfig {
        self.source_db.as_ref().unwrap_or(&self.db)
    }
}

/// `BATCH_*`: how batch jobs are sized and how long one may run.
fn batch_config(get: &impl Fn(&str) -> Option<String>) -> Result<BatchConfig, ConfigError> {
    Ok(BatchConfig {
        items_per_job: parse_num(get, "BATCH_MAX_ITEMS", 1000, 1, 50_000)? as u32,
        max_wait: Duration::from_secs(3600 * parse_num(get, "BATCH_MAX_WAIT_H", 24, 1, 168)?),
        inline_max_bytes: parse_num(get, "BATCH_INLINE_MAX_BYTES", 20_000_000, 1_000, 20_000_000)?,
    })
}

/// `SOURCE_DB_*`, each key defaulting to its `DB_*` value; `None` when none is set.
fn source_db(
    get: &impl Fn(&str) -> Option<String>,
    file: &HashMap<String, String>,
    env: &HashMap<String, String>,
    db: &DbConfig,
) -> Result<Option<DbConfig>, ConfigError> {
    let keys = [
        "SOURCE_DB_HOST",
        "SOURCE_DB_PORT",
        "SOURCE_DB_USER",
        "SOURCE_DB_NAME",
    ];
    if keys.iter().all(|k| get(k).is_none()) {
        return Ok(None);
    }
    let source = DbConfig {
        host: get("SOURCE_DB_HOST").unwrap_or_else(|| db.host.clone()),
        port: parse_num(&get, "SOURCE_DB_PORT", u64::from(db.port), 1, 65_535)? as u16,
        user: get("SOURCE_DB_USER").unwrap_or_else(|| db.user.clone()),
        password: match get("SOURCE_DB_USER") {
            Some(_) => env
                .get("SOURCE_DB_PASSWORD")
                .or_else(|| file.get("SOURCE_DB_PASSWORD"))
                .cloned()
                .unwrap_or_default(),
            None => db.password.clone(),
        },
        name: get("SOURCE_DB_NAME").unwrap_or_else(|| db.name.clone()),
        timeout: db.timeout,
    };
    validate_identifier("SOURCE_DB_NAME", &source.name)?;
    Ok(Some(source))
}

impl Config {
    /// The configuration with every default, for tests and library callers that set
    /// fields themselves.
    pub fn defaults() -> Config {
        // The defaults are valid by construction; an error here is a programming bug.
        Config::from_sources(&HashMap::new(), &HashMap::new())
            .unwrap_or_else(|e| unreachable!("default configuration is invalid: {e}"))
    }
}

/// `EXPORT_ALLOW`: comma-separated `table.column[:pk]`.
fn parse_export_allow(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<ExportTarget>, ConfigError> {
    let Some(value) = get("EXPORT_ALLOW") else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            ExportTarget::parse(part).ok_or_else(|| ConfigError::Invalid {
                key: "EXPORT_ALLOW",
                value: part.trim().to_string(),
                expected: "table.column or table.column:pk, letters, digits and _ only".into(),
            })
        })
        .collect()
}

/// Finds `.env` in the current folder, else beside the executable.
fn default_env_file() -> Option<PathBuf> {
    let cwd = PathBuf::from(".env");
    if cwd.is_file() {
        return Some(cwd);
    }
    let exe_dir = std::env::current_exe().ok()?.parent()?.join(".env");
    exe_dir.is_file().then_some(exe_dir)
}

/// Reads a `.env` file, accepting a UTF-8 byte order mark and CRLF line endings
/// (what Notepad writes on Windows).
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let raw = std::fs::read(path).map_err(|e| ConfigError::EnvFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(raw).map_err(|_| ConfigError::EnvSyntax {
        path: path.to_path_buf(),
        reason: "the file is not UTF-8 text (save it as UTF-8 in your editor)".into(),
    })?;
    let text = text
        .strip_prefix('\u{feff}')
        .unwrap_or(&text)
        .replace("\r\n", "\n");
    let mut vars = HashMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (key, value) = item.map_err(|e| ConfigError::EnvSyntax {
            path: path.to_path_buf(),
            reason: syntax_error(&text, &e),
        })?;
        vars.insert(key, value);
    }
    Ok(vars)
}

/// A `.env` syntax error as the line number and the key, never the value (the line
/// may hold a password or an API key).
fn syntax_error(text: &str, err: &dotenvy::Error) -> String {
    let dotenvy::Error::LineParse(line, at) = err else {
        return "the file cannot be read as KEY=value lines".into();
    };
    let first = line.lines().next().unwrap_or_default();
    let number = text
        .lines()
        .position(|l| l == first)
        .map_or_else(|| "?".to_string(), |i| (i + 1).to_string());
    let key = first.split('=').next().unwrap_or_default().trim();
    let key = if is_identifier(key) {
        key
    } else {
        "(no valid KEY before =)"
    };
    format!(
        "line {number}, key {key}: the value cannot be read at character {}; check its quotes and backslashes (the value is not shown)",
        at + 1
    )
}

fn shown_value(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        "<hidden>".into()
    } else {
        value.to_string()
    }
}

fn parse_num(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = get(key) else {
        return Ok(default);
    };
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            key,
            value: shown_value(key, &value),
            expected: format!("a whole number from {min} to {max}").into(),
        }),
    }
}

/// `WORKER_CLAIM_MAX`, or its old name `WORKER_BATCH_SIZE` when only that is set
/// ("batch" now means a provider's batch job only).
fn claim_max(get: &impl Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    let key = match get("WORKER_CLAIM_MAX") {
        None if get("WORKER_BATCH_SIZE").is_some() => "WORKER_BATCH_SIZE",
        _ => "WORKER_CLAIM_MAX",
    };
    Ok(parse_num(get, key, 500, 1, 10_000)? as u32)
}

fn parse_switch(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(value) = get(key) else {
        return Ok(default);
    };
    match value.to_ascii_lowercase().as_str() {
        "on" | "1" | "true" | "yes" => Ok(true),
        "off" | "0" | "false" | "no" => Ok(false),
        _ => Err(ConfigError::Invalid {
            key,
            value,
            expected: "on or off".into(),
        }),
    }
}

/// Database names are spliced into `CREATE DATABASE`, so only plain identifiers pass.
pub fn validate_identifier(key: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            value: value.to_string(),
            expected: "letters, digits, _ or $ (at most 64 characters)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_env_example() {
        let c = Config::defaults();
        assert_eq!(c.db.host, "127.0.0.1");
        assert_eq!(c.db.port, 3306);
        assert_eq!(c.db.name, "ai_worker");
        assert_eq!(c.claim_max, 500);
        assert_eq!(c.db_pool_size, 8);
        assert_eq!(c.item_limit, 100);
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.ai_max_retries, 5);
        assert_eq!(c.ai_max_attempts, 3);
        assert!(c.pii_redaction);
    }

    #[test]
    fn every_key_read_here_is_documented_in_env_example() {
        let example = include_str!("../.env.example");
        let source = include_str!("config.rs");
        let keys: Vec<&str> = source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.len() > 3
                    && s.contains('_')
                    && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect();
        assert!(keys.contains(&"LOG_FILE") && keys.contains(&"AI_RETRY_BASE_MS"));
        for key in keys {
            assert!(
                example.lines().any(|l| l.starts_with(&format!("{key}="))),
                "{key} is not in .env.example"
            );
        }
    }

    #[test]
    fn a_copied_env_example_writes_no_metrics_into_a_log_file() {
        let example = include_str!("../.env.example");
        let values: HashMap<String, String> = example
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let c = Config::from_sources(&values, &HashMap::new()).unwrap();
        assert_eq!(c.metrics_file, None, "METRICS_FILE is empty in the example");
        assert_eq!(c.log_file, None);
    }

    #[test]
    fn known_keys_are_the_documented_ones() {
        let keys: Vec<&str> = known_keys().collect();
        assert!(keys.contains(&"WORKER_CONCURRENCY") && keys.contains(&"DB_TIMEOUT_S"));
        assert!(!keys.iter().any(|k| k.starts_with('#') || k.contains(' ')));
    }

    #[test]
    fn environment_wins_over_file() {
        let file = vars(&[("WORKER_CLAIM_MAX", "5"), ("DB_NAME", "from_file")]);
        let env = vars(&[("WORKER_CLAIM_MAX", "7")]);
        let c = Config::from_sources(&file, &env).unwrap();
        assert_eq!(c.claim_max, 7);
        assert_eq!(c.db.name, "from_file");
    }

    #[test]
    fn a_syntax_error_names_the_line_and_key_never_the_value() {
        let dir = std::env::temp_dir().join(format!("aiw-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, "DB_NAME=x\nDB_PASSWORD='s3cret\\'oops\n").unwrap();
        let err = read_env_file(&path).unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(
            err.contains("line 2") && err.contains("DB_PASSWORD"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_old_name_of_the_claim_size_is_still_read() {
        let old = vars(&[("WORKER_BATCH_SIZE", "12")]);
        assert_eq!(
            Config::from_sources(&old, &HashMap::new())
                .unwrap()
                .claim_max,
            12
        );
        let both = vars(&[("WORKER_BATCH_SIZE", "12"), ("WORKER_CLAIM_MAX", "30")]);
        assert_eq!(
            Config::from_sources(&both, &HashMap::new())
                .unwrap()
                .claim_max,
            30
        );
    }

    #[test]
    fn bad_number_names_key_and_value() {
        let env = vars(&[("WORKER_BATCH_SIZE", "ten")]);
        let err = Config::from_sources(&HashMap::new(), &env).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("WORKER_BATCH_SIZE"), "{msg}");
        assert!(msg.contains("\"ten\""), "{msg}");
        assert!(msg.contains("from 1 to 10000"), "the range is named: {msg}");
    }

    #[test]
    fn out_of_range_and_zero_are_rejected() {
        for (k, v) in [
            ("WORKER_CONCURRENCY", "0"),
            ("DB_PORT", "70000"),
            ("WORKER_LEASE_S", "-5"),
        ] {
            let env = vars(&[(k, v)]);
            assert!(
                Config::from_sources(&HashMap::new(), &env).is_err(),
                "{k}={v}"
            );
        }
    }

    #[test]
    fn bad_switch_and_db_name() {
        let env = vars(&[("PII_REDACTION", "maybe")]);
        assert!(Config::from_sources(&HashMap::new(), &env).is_err());
        let env = vars(&[("DB_NAME", "x`; DROP")]);
        let msg = Config::from_sources(&HashMap::new(), &env)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("DB_NAME"), "{msg}");
        let env = vars(&[("PII_REDACTION", "off")]);
        assert!(
            !Config::from_sources(&HashMap::new(), &env)
                .unwrap()
                .pii_redaction
        );
    }

    #[test]
    fn env_file_with_bom_and_crlf() {
        let dir = std::env::temp_dir().join(format!("aiw-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("with bom.env");
        std::fs::write(
            &path,
            "\u{feff}DB_NAME=bom_db\r\n# comment\r\nDB_PASSWORD=\"p w\"\r\n",
        )
        .unwrap();
        let vars = read_env_file(&path).unwrap();
        assert_eq!(vars.get("DB_NAME").map(String::as_str), Some("bom_db"));
        assert_eq!(vars.get("DB_PASSWORD").map(String::as_str), Some("p w"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_or_malformed_env_file_is_an_error() {
        let err = read_env_file(Path::new("/nonexistent/ai-worker/.env")).unwrap_err();
        assert!(matches!(err, ConfigError::EnvFile { .. }));
        let dir = std::env::temp_dir().join(format!("aiw-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        std::fs::write(&path, "DB_NAME='unterminated\n").unwrap();
        assert!(matches!(
            read_env_file(&path).unwrap_err(),
            ConfigError::EnvSyntax { .. }
        ));
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_env_file(&path).unwrap_err(),
            ConfigError::EnvSyntax { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_are_not_echoed() {
        let env = vars(&[("DB_PORT", "secret-ish")]);
        let msg = Config::from_sources(&HashMap::new(), &env)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("secret-ish"));
        assert_eq!(shown_value("DB_PASSWORD", "hunter2"), "<hidden>");
    }
}
