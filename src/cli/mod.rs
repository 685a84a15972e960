//! The command-line door: flags in, text or JSON out. `main` calls [`start`], runs
//! the command through the application layer, and [`finish`]es with the exit code.

pub mod args;
pub mod help;
pub mod render;

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ai_worker::app::models;
use ai_worker::{AppError, Config, StopSignal, logging};

pub use args::{Cli, Command, KeySource};

/// Takes `--log-file` out first and opens it, so that even a usage error reaches the
/// file, then parses the rest.
pub fn start(args: Vec<OsString>) -> Result<Cli, AppError> {
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let (log_file, rest) = args::split_log_file(args).map_err(AppError::Usage)?;
    if let Some(path) = &log_file {
        open_log_file(path, &shown)?;
    }
    let mut cli = args::parse(pico_args::Arguments::from_vec(rest)).map_err(AppError::Usage)?;
    cli.shown_args = shown;
    Ok(cli)
}

/// Fewer characters than this make `AI_KEY_SECRET` guessable.
const MIN_SECRET_CHARS: usize = 16;

/// Loads the configuration, opens `LOG_FILE` when no `--log-file` was given, and
/// starts the logger.
pub fn configure(cli: &Cli) -> Result<Config, AppError> {
    let loaded = Config::load_noting(cli.env_file.as_deref())?;
    let config = loaded.config;
    if !logging::has_file()
        && let Some(path) = &config.log_file
    {
        open_log_file(Path::new(path), &cli.shown_args)?;
    }
    // The demo shows its results, not its log: warnings only unless -v is given.
    let level = match cli.command {
        Command::Demo => cli.log_level.unwrap_or("warn"),
        _ => cli
            .log_level
            .or(config.rust_log.as_deref())
            .unwrap_or("info"),
    };
    logging::init(level);
    logging::install_panic_hook();
    match &loaded.file {
        Some(path) => log::info!("Configuration from {}", path.display()),
        None => log::info!(
            "No .env file found (here or beside the program): using the defaults and the environment"
        ),
    }
    let file = loaded
        .file
        .as_deref()
        .map_or_else(|| ".env".to_string(), |p| p.display().to_string());
    for (key, guess) in &loaded.unknown_keys {
        match guess {
            Some(guess) => log::warn!("unknown key {key} in {file} (did you mean {guess}?)"),
            None => log::warn!(
                "unknown key {key} in {file}: it is ignored (.env.example lists every key)"
            ),
        }
    }
    let secret = config.ai_key_secret.chars().count();
    if (1..MIN_SECRET_CHARS).contains(&secret) {
        log::warn!(
            "AI_KEY_SECRET is only {secret} characters: keys encrypted with it are easy to recover; use at least {MIN_SECRET_CHARS} random characters (then `ai-worker model rekey`)"
        );
    }
    if !config.pii_redaction {
        log::warn!("PII_REDACTION=off: personal data in the texts is sent to the model as it is");
    }
    Ok(config)
}

/// Notes the exit code in the log file, if there is one.
pub fn finish(code: u8) -> std::process::ExitCode {
    if logging::has_file() {
        logging::file_line("INFO", &format!("Exit code {code}"));
    }
    std::process::ExitCode::from(code)
}

/// Opens the log file and notes the start of this run in it.
fn open_log_file(path: &Path, shown_args: &str) -> Result<(), AppError> {
    logging::open_log_file(path)?;
    let version = env!("CARGO_PKG_VERSION");
    logging::file_line(
        "INFO",
        &format!("ai-worker {version} started: {shown_args}"),
    );
    Ok(())
}

/// Ctrl+C / SIGTERM raise the stop signal; a second one exits at once with 130.
pub fn stop_on_ctrl_c() -> Arc<StopSignal> {
    let stop = Arc::new(StopSignal::new());
    let handler_stop = Arc::clone(&stop);
    let count = AtomicU32::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            log::warn!(
                "Stop requested: finishing calls in flight and handing the rest back (press Ctrl+C again to quit at once)"
            );
            handler_stop.raise();
        } else {
            logging::file_line("WARN", "Stopped at once by a second Ctrl+C: exit code 130");
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        log::warn!("cannot install the Ctrl+C handler: {e}");
    }
    stop
}

/// The API key for `model add`: from standard input, a named variable, or the
/// provider's own variable; `None` when there is none.
pub fn read_key(source: &KeySource, provider: &str) -> Result<Option<String>, AppError> {
    let var = match source {
        KeySource::Stdin => return read_secret_from_stdin("the API key").map(Some),
        KeySource::Env(var) => Some(var.as_str()),
        KeySource::ProviderEnv => models::provider_key_env(provider),
    };
    Ok(var
        .and_then(|v| std::env::var(v).ok())
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty()))
}

/// The key `model update` stores: it must be there.
pub fn read_new_key(source: &KeySource) -> Result<String, AppError> {
    read_key(source, "")?.ok_or_else(|| match source {
        KeySource::Env(var) => {
            AppError::refused(format!("the environment variable {var} holds no key"))
        }
        _ => AppError::refused("no key was given"),
    })
}

/// The old secret for `model rekey`: from a named variable, or standard input.
pub fn read_old_secret(var: Option<&str>) -> Result<String, AppError> {
    match var {
        Some(var) => std::env::var(var).map_err(|_| {
            AppError::refused(format!(
                "the environment variable {var} (the old secret) is not set or not valid text"
            ))
        }),
        None => read_secret_from_stdin("the old AI_KEY_SECRET"),
    }
}

/// Reads one secret from standard input (piped, or typed and ended with Ctrl+D /
/// Ctrl+Z Enter); an empty one is an error.
fn read_secret_from_stdin(what: &str) -> Result<String, AppError> {
    if std::io::stdin().is_terminal() {
        eprintln!("Paste {what} and press Enter, then Ctrl+D (Linux) or Ctrl+Z Enter (Windows):");
    }
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .map_err(|e| AppError::refused(format!("cannot read {what} from standard input: {e}")))?;
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(AppError::refused(format!(
            "{what} read from standard input is empty"
        )));
    }
    Ok(value)
}

/// Writes the run's metrics to `--metrics-file` / `METRICS_FILE`, if one is named (a
/// file that cannot be written is a warning: the run itself went as it went).
pub fn write_metrics(path: Option<&Path>) {
    let Some(path) = path else { return };
    if let Err(e) = ai_worker::app::status::write_metrics_file(path) {
        log::warn!("cannot write the metrics file {}: {e}", path.display());
    }
}
