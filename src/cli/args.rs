//! Flags → a [`Cli`]: which command, with which values. Nothing is run here.

use std::ffi::OsString;
use std::path::PathBuf;

use ai_worker::RunOptions;
use ai_worker::app::control::TaskAction;
use ai_worker::app::models::{self, ModelChanges, NewModel};

/// Where `model add` takes the key from (never from a flag).
#[derive(Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The provider's variable: GEMINI_API_KEY or OPENAI_API_KEY.
    ProviderEnv,
    /// `--api-key-env VAR`.
    Env(String),
    /// `--key-stdin`.
    Stdin,
}

/// What the user asked for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// `--help`, for a command ("model add") or the whole program ("").
    Help(&'static str),
    Version,
    Run {
        options: RunOptions,
        /// `--metrics-file PATH`: the run's metrics for node_exporter.
        metrics_file: Option<PathBuf>,
    },
    InitDb,
    Demo,
    Serve {
        bind: Option<String>,
    },
    ModelAdd {
        model: NewModel,
        changes: ModelChanges,
        key: KeySource,
    },
    /// `rework`: REJECTED results back to PENDING.
    Rework {
        task: Option<u32>,
    },
    /// `export`: ACCEPTED results back to their source rows.
    Export {
        task: Option<u32>,
        dry_run: bool,
        /// `--retry`: conflicts and errors of earlier exports tried again.
        retry: bool,
    },
    /// `--estimate`: what the pending items would cost.
    Estimate {
        task: Option<u32>,
    },
    /// `--batch-status`: open batch jobs (or every job of `--task`).
    BatchStatus {
        task: Option<u32>,
    },
    /// `--cancel-batch ID`: cancel one batch job.
    CancelBatch {
        job: String,
    },
    ModelList,
    ModelUpdate {
        name: String,
        changes: ModelChanges,
        key: Option<KeySource>,
        remove_key: bool,
        /// `--fallback NAME|none`.
        fallback: Option<Option<String>>,
    },
    ModelRekey {
        old_secret_env: Option<String>,
    },
    /// `pause|resume|cancel --task ID`.
    TaskControl {
        task: u32,
        action: TaskAction,
    },
}

#[derive(Debug, PartialEq)]
pub struct Cli {
    pub command: Command,
    pub env_file: Option<PathBuf>,
    pub json: bool,
    /// `-v` / `-q`, which win over `RUST_LOG`.
    pub log_level: Option<&'static str>,
    /// The arguments as given, for the log file's start line.
    pub shown_args: String,
}

/// Parses the arguments (without `--log-file`, see [`split_log_file`]).
pub fn parse(mut args: pico_args::Arguments) -> Result<Cli, String> {
    let flag_help = args.contains(["-h", "--help"]);
    let flag_version = args.contains(["-V", "--version"]);
    let json = args.contains("--json");
    let verbose = args.contains(["-v", "--verbose"]);
    let quiet = args.contains(["-q", "--quiet"]);
    let env_file: Option<PathBuf> = args
        .opt_value_from_os_str("--env-file", |s| Ok::<_, String>(PathBuf::from(s)))
        .map_err(arg_error)?;
    let log_level = if verbose {
        Some("debug")
    } else if quiet {
        Some("warn")
    } else {
        None
    };
    let command = if flag_help {
        return Ok(Cli {
            command: Command::Help(help_topic(&mut args)),
            env_file,
            json,
            log_level,
            shown_args: String::new(),
        });
    } else if flag_version {
        Command::Version
    } else {
        parse_command(&mut args)?
    };
    if let Some(extra) = args.finish().first() {
        let extra = extra.to_string_lossy();
        let flags = super::help::documented_flags();
        return Err(if flags.contains(&extra.as_ref()) {
            format!(
                "{extra} does not go with this command (or was given twice); `ai-worker --help` says which command takes it"
            )
        } else {
            match ai_worker::closest(&extra, flags.iter().copied()) {
                Some(flag) if extra.starts_with('-') => {
                    format!("unexpected argument '{extra}' (did you mean {flag}?)")
                }
                _ => format!("unexpected argument '{extra}'"),
            }
        });
    }
    Ok(Cli {
        command,
        env_file,
        json,
        log_level,
        shown_args: String::new(),
    })
}

/// The command and its own flags.
fn parse_command(args: &mut pico_args::Arguments) -> Result<Command, String> {
    Ok(match args.subcommand().map_err(arg_error)?.as_deref() {
        None if args.contains("--estimate") => Command::Estimate {
            task: positive(args, "--task")?,
        },
        None if args.contains("--batch-status") => Command::BatchStatus {
            task: positive(args, "--task")?,
        },
        None => match args
            .opt_value_from_str::<_, String>("--cancel-batch")
            .map_err(arg_error)?
        {
            Some(job) => Command::CancelBatch { job },
            None => parse_run_command(args)?,
        },
        Some("init-db") => Command::InitDb,
        Some("demo") => Command::Demo,
        Some("serve") => Command::Serve {
            bind: args.opt_value_from_str("--bind").map_err(arg_error)?,
        },
        Some("model") => parse_model(args)?,
        Some("rework") => Command::Rework {
            task: positive(args, "--task")?,
        },
        Some("export") => Command::Export {
            task: positive(args, "--task")?,
            dry_run: args.contains("--dry-run"),
            retry: args.contains("--retry"),
        },
        Some(word @ ("pause" | "resume" | "cancel")) => {
            let task = positive(args, "--task")?
                .ok_or_else(|| format!("{word} needs the task: ai-worker {word} --task ID"))?;
            let action = TaskAction::parse(word).unwrap_or(TaskAction::Pause);
            Command::TaskControl { task, action }
        }
        Some(other) => return Err(format!("unknown command '{other}'")),
    })
}

/// The command whose help was asked for: `model add --help` gives "model add".
fn help_topic(args: &mut pico_args::Arguments) -> &'static str {
    let first = args.subcommand().ok().flatten();
    let second = match first.as_deref() {
        Some("model") => args.subcommand().ok().flatten(),
        _ => None,
    };
    match (first.as_deref(), second.as_deref()) {
        (Some("init-db"), _) => "init-db",
        (Some("demo"), _) => "demo",
        (Some("serve"), _) => "serve",
        (Some("rework"), _) => "rework",
        (Some("export"), _) => "export",
        (Some("pause" | "resume" | "cancel"), _) => "pause",
        (Some("model"), Some("add")) => "model add",
        (Some("model"), Some("update")) => "model update",
        (Some("model"), Some("list")) => "model list",
        (Some("model"), Some("rekey")) => "model rekey",
        (Some("model"), _) => "model",
        _ => "",
    }
}

/// A run: its options and where its metrics go.
fn parse_run_command(args: &mut pico_args::Arguments) -> Result<Command, String> {
    Ok(Command::Run {
        metrics_file: args
            .opt_value_from_os_str("--metrics-file", |s| Ok::<_, String>(PathBuf::from(s)))
            .map_err(arg_error)?,
        options: parse_run(args)?,
    })
}

fn parse_run(args: &mut pico_args::Arguments) -> Result<RunOptions, String> {
    let options = RunOptions {
        task: positive(args, "--task")?,
        task_item: positive(args, "--task-item")?,
        item_limit: positive(args, "--max-item")?,
        dry_run: args.contains("--dry-run"),
        retry_failed: args.contains("--retry-failed"),
        concurrency: positive(args, "--concurrency")?,
        trigger: "cli".into(),
        operation_uuid: None,
    };
    Ok(options)
}

fn parse_model(args: &mut pico_args::Arguments) -> Result<Command, String> {
    match args.subcommand().map_err(arg_error)?.as_deref() {
        Some("list") => Ok(Command::ModelList),
        Some("rekey") => parse_model_rekey(args),
        Some("add") => parse_model_add(args),
        Some("update") => parse_model_update(args),
        Some(other) => Err(format!(
            "unknown model command '{other}' (use add, update, list or rekey)"
        )),
        None => Err("model needs a command: add, update, list or rekey".into()),
    }
}

fn parse_model_rekey(args: &mut pico_args::Arguments) -> Result<Command, String> {
    let old_secret_env: Option<String> = args
        .opt_value_from_str("--old-secret-env")
        .map_err(arg_error)?;
    let stdin = args.contains("--old-secret-stdin");
    if old_secret_env.is_some() == stdin {
        return Err(
            "model rekey needs the old secret: --old-secret-env VAR or --old-secret-stdin".into(),
        );
    }
    Ok(Command::ModelRekey { old_secret_env })
}

fn parse_model_add(args: &mut pico_args::Arguments) -> Result<Command, String> {
    let required = |args: &mut pico_args::Arguments, key: &'static str| -> Result<String, String> {
        args.opt_value_from_str::<_, String>(key)
            .map_err(arg_error)?
            .ok_or_else(|| format!("model add needs {key}"))
    };
    let name = required(args, "--name")?;
    let provider = required(args, "--provider")?.to_ascii_lowercase();
    if !["gemini", "openai", "echo"].contains(&provider.as_str()) {
        return Err(format!(
            "--provider must be gemini, openai or echo, not '{provider}'"
        ));
    }
    let model_name = required(args, "--model")?;
    let api_url: Option<String> = args.opt_value_from_str("--api-url").map_err(arg_error)?;
    if let Some(url) = &api_url {
        models::check_api_url(url).map_err(|why| format!("--api-url {why}"))?;
    }
    let rpm = positive(args, "--rpm")?;
    let key = key_source(args)?.unwrap_or(KeySource::ProviderEnv);
    let changes = parse_changes(args)?;
    let model = NewModel {
        name,
        provider,
        model_name,
        api_url,
        requests_per_minute: rpm,
    };
    Ok(Command::ModelAdd {
        model,
        changes,
        key,
    })
}

fn parse_model_update(args: &mut pico_args::Arguments) -> Result<Command, String> {
    let name: String = args
        .free_from_str()
        .map_err(|_| "model update needs the model's name: model update NAME [changes]")?;
    let changes = parse_changes(args)?;
    let key = key_source(args)?;
    let remove_key = args.contains("--no-key");
    let fallback = text(args, "--fallback")?.map(|name| {
        let name = name.trim().to_string();
        (!name.eq_ignore_ascii_case("none")).then_some(name)
    });
    if remove_key && key.is_some() {
        return Err("--no-key cannot be used with --api-key-env or --key-stdin".into());
    }
    if changes == ModelChanges::default() && key.is_none() && !remove_key && fallback.is_none() {
        return Err(format!(
            "model update {name} changes nothing: give at least one flag (see `ai-worker model update --help`)"
        ));
    }
    Ok(Command::ModelUpdate {
        name,
        changes,
        key,
        remove_key,
        fallback,
    })
}

fn text(args: &mut pico_args::Arguments, key: &'static str) -> Result<Option<String>, String> {
    args.opt_value_from_str::<_, String>(key).map_err(arg_error)
}

/// The settings `model update` (and `model add`) can change.
fn parse_changes(args: &mut pico_args::Arguments) -> Result<ModelChanges, String> {
    let api_url = text(args, "--api-url")?.map(nullable);
    if let Some(Some(url)) = &api_url {
        models::check_api_url(url).map_err(|why| format!("--api-url {why}"))?;
    }
    let price = |args: &mut pico_args::Arguments, key: &'static str| {
        text(args, key)?
            .map(|v| nullable_number(key, &v, 0.0, 1_000_000.0))
            .transpose()
    };
    Ok(ModelChanges {
        model_name: text(args, "--model")?,
        api_url,
        is_active: text(args, "--active")?
            .map(|v| switch("--active", &v))
            .transpose()?,
        temperature: text(args, "--temperature")?
            .map(|v| nullable_number("--temperature", &v, 0.0, 2.0))
            .transpose()?,
        max_output_tokens: optional_count(args, "--max-output-tokens")?,
        timeout_s: optional_count(args, "--timeout")?,
        requests_per_minute: optional_count(args, "--rpm")?,
        structured_output: text(args, "--structured-output")?
            .map(|v| structured(&v))
            .transpose()?,
        prices: [
            price(args, "--price-input")?,
            price(args, "--price-cached-input")?,
            price(args, "--price-output")?,
        ],
        currency: text(args, "--currency")?
            .map(|c| currency(&c))
            .transpose()?,
        thinking_budget: text(args, "--thinking-budget")?
            .map(|v| thinking_budget(&v))
            .transpose()?,
        reasoning_effort: text(args, "--reasoning-effort")?
            .map(|v| {
                one_of(
                    "--reasoning-effort",
                    &v,
                    &["minimal", "low", "medium", "high"],
                )
            })
            .transpose()?,
        service_tier: text(args, "--service-tier")?
            .map(|v| {
                one_of(
                    "--service-tier",
                    &v,
                    &["auto", "default", "flex", "priority"],
                )
            })
            .transpose()?,
        daily_budget: price(args, "--daily-budget")?,
        max_chunk_chars: optional_count(args, "--max-chunk-chars")?,
        max_concurrency: optional_count(args, "--max-concurrency")?,
        pack_max_items: optional_count(args, "--pack-max-items")?,
        local_server: text(args, "--local-server")?
            .map(|v| local_server(&v))
            .transpose()?,
        fallback: None,
    })
}

fn currency(value: &str) -> Result<String, String> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(format!(
            "--currency must be a three-letter code such as USD or EUR, not '{value}'"
        ))
    }
}

fn thinking_budget(value: &str) -> Result<Option<i32>, String> {
    match nullable(value.to_string()) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|&n| n >= -1)
            .map(Some)
            .ok_or_else(|| {
                format!("--thinking-budget must be -1 (dynamic), 0 (off), a number of tokens, or none; not '{value}'")
            }),
    }
}

/// `--local-server yes|no|auto`: the column's 1, 0 or NULL (judged from api_url).
fn local_server(value: &str) -> Result<Option<u8>, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "1" | "true" => Ok(Some(1)),
        "no" | "0" | "false" => Ok(Some(0)),
        "auto" | "none" => Ok(None),
        _ => Err(format!(
            "--local-server must be yes (a server of your own), no (a gateway to the provider) or auto (judged from api_url), not '{value}'"
        )),
    }
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<Option<String>, String> {
    match nullable(value.to_string()) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.to_ascii_lowercase().as_str()) => {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(_) => Err(format!(
            "{key} must be one of {} or none, not '{value}'",
            allowed.join(", ")
        )),
    }
}

/// `--api-key-env VAR` or `--key-stdin`; keys themselves are never flags.
fn key_source(args: &mut pico_args::Arguments) -> Result<Option<KeySource>, String> {
    let key_env: Option<String> = args
        .opt_value_from_str("--api-key-env")
        .map_err(arg_error)?;
    let key_stdin = args.contains("--key-stdin");
    if args.contains("--api-key") || args.contains("--key") {
        return Err("keys are never given as flags (they end up in shell history); use --api-key-env VAR or --key-stdin".into());
    }
    Ok(match (key_stdin, key_env) {
        (true, _) => Some(KeySource::Stdin),
        (false, Some(var)) => Some(KeySource::Env(var)),
        (false, None) => None,
    })
}

/// `none` (or `null`, `default`) means NULL: the provider's default.
fn nullable(value: String) -> Option<String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "none" | "null" | "default" | "" => None,
        _ => Some(value),
    }
}

fn switch(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Ok(true),
        "0" | "no" | "off" | "false" => Ok(false),
        _ => Err(format!("{key} must be 1 or 0 (yes or no), not '{value}'")),
    }
}

fn nullable_number(key: &str, value: &str, min: f64, max: f64) -> Result<Option<f64>, String> {
    let Some(value) = nullable(value.to_string()) else {
        return Ok(None);
    };
    match value.trim().parse::<f64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{key} must be a number from {min} to {max}, or none, not '{value}'"
        )),
    }
}

fn optional_count(
    args: &mut pico_args::Arguments,
    key: &'static str,
) -> Result<Option<Option<u32>>, String> {
    let value: Option<String> = args.opt_value_from_str(key).map_err(arg_error)?;
    let Some(value) = value else { return Ok(None) };
    match nullable(value.clone()) {
        None => Ok(Some(None)),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n > 0 => Ok(Some(Some(n))),
            _ => Err(format!(
                "{key} must be a whole number greater than 0, or none, not '{value}'"
            )),
        },
    }
}

fn structured(value: &str) -> Result<Option<u8>, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "schema" | "1" => Ok(Some(1)),
        "object" | "2" => Ok(Some(2)),
        "plain" | "0" => Ok(Some(0)),
        "auto" | "none" => Ok(None),
        _ => Err(format!(
            "--structured-output must be schema, object, plain or auto, not '{value}'"
        )),
    }
}

fn positive(args: &mut pico_args::Arguments, key: &'static str) -> Result<Option<u32>, String> {
    let value: Option<u32> = args.opt_value_from_str(key).map_err(|e| match e {
        pico_args::Error::Utf8ArgumentParsingFailed { value, .. } => {
            format!("{key} needs a whole number greater than 0, not '{value}'")
        }
        other => arg_error(other),
    })?;
    match value {
        Some(0) => Err(format!("{key} must be a whole number greater than 0")),
        other => Ok(other),
    }
}

fn arg_error(err: pico_args::Error) -> String {
    match err {
        pico_args::Error::OptionWithoutAValue(key) => format!("{key} needs a value"),
        pico_args::Error::Utf8ArgumentParsingFailed { value, .. } => {
            format!("'{value}' is not a valid number")
        }
        other => other.to_string(),
    }
}

/// Takes `--log-file PATH` (or `--log-file=PATH`) out of the arguments, so that the
/// log file can be opened before anything else is parsed and even a usage error
/// reaches it.
pub fn split_log_file(args: Vec<OsString>) -> Result<(Option<PathBuf>, Vec<OsString>), String> {
    let mut log_file = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = if arg == "--log-file" {
            Some(args.next().ok_or("--log-file needs a value")?)
        } else {
            arg.to_str()
                .and_then(|a| a.strip_prefix("--log-file="))
                .map(OsString::from)
        };
        match value {
            Some(_) if log_file.is_some() => return Err("--log-file is given twice".into()),
            Some(v) if v.is_empty() => return Err("--log-file needs a value".into()),
            Some(v) => log_file = Some(PathBuf::from(v)),
            None => rest.push(arg),
        }
    }
    Ok((log_file, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, String> {
        parse(pico_args::Arguments::from_vec(
            args.iter().map(OsString::from).collect(),
        ))
    }

    #[test]
    fn run_flags() {
        let c = cli(&[
            "--task",
            "42",
            "--max-item",
            "10",
            "--dry-run",
            "--json",
            "--concurrency",
            "8",
        ])
        .unwrap();
        assert!(c.json);
        match c.command {
            Command::Run { options: o, .. } => {
                assert_eq!(
                    (o.task, o.item_limit, o.concurrency, o.dry_run),
                    (Some(42), Some(10), Some(8), true)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_flag_the_parser_reads_is_documented_in_a_help_text() {
        let source = include_str!("args.rs");
        let parser = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let documented = super::super::help::documented_flags();
        // Refused on purpose (a key never goes on a command line).
        let refused = ["--api-key", "--key"];
        for literal in parser.split('"').skip(1).step_by(2) {
            let literal = literal.trim_end_matches('=');
            if literal.starts_with("--") && literal.len() > 2 && !literal.contains(' ') {
                assert!(
                    documented.contains(&literal) || refused.contains(&literal),
                    "{literal} is read but no help text documents it"
                );
            }
        }
    }

    #[test]
    fn a_flag_of_another_command_is_named_as_such() {
        let err = parse(pico_args::Arguments::from_vec(
            ["--estimate", "--dry-run"].iter().map(Into::into).collect(),
        ))
        .err()
        .unwrap_or_default();
        assert!(
            err.contains("--dry-run does not go with this command"),
            "{err}"
        );
        assert!(!err.contains("did you mean --dry-run"), "{err}");
    }

    #[test]
    fn usage_errors() {
        for (args, needle) in [
            (
                &["--task", "abc"][..],
                "--task needs a whole number greater than 0, not 'abc'",
            ),
            (&["--max-items", "5"][..], "did you mean --max-item?"),
            (&["--task"][..], "--task"),
            (&["--max-item", "0"][..], "greater than 0"),
            (&["--bogus"][..], "--bogus"),
            (&["frobnicate"][..], "frobnicate"),
            (
                &[
                    "model",
                    "add",
                    "--name",
                    "x",
                    "--provider",
                    "gemini",
                    "--model",
                    "m",
                    "--api-key",
                    "k",
                ][..],
                "never",
            ),
            (
                &[
                    "model",
                    "add",
                    "--name",
                    "x",
                    "--provider",
                    "openai",
                    "--model",
                    "m",
                    "--api-url",
                    "127.0.0.1:11434/v1",
                ][..],
                "--api-url '127.0.0.1:11434/v1' must start with http://",
            ),
            (
                &[
                    "model",
                    "add",
                    "--name",
                    "x",
                    "--provider",
                    "claude",
                    "--model",
                    "m",
                ][..],
                "provider",
            ),
        ] {
            let err = cli(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn subcommands() {
        assert_eq!(cli(&["init-db"]).unwrap().command, Command::InitDb);
        assert_eq!(cli(&["demo"]).unwrap().command, Command::Demo);
        assert_eq!(cli(&["model", "list"]).unwrap().command, Command::ModelList);
        assert_eq!(
            cli(&["model", "rekey", "--old-secret-env", "OLD"])
                .unwrap()
                .command,
            Command::ModelRekey {
                old_secret_env: Some("OLD".into())
            }
        );
        assert_eq!(
            cli(&["model", "rekey", "--old-secret-stdin"])
                .unwrap()
                .command,
            Command::ModelRekey {
                old_secret_env: None
            }
        );
        assert_eq!(cli(&["--help"]).unwrap().command, Command::Help(""));
        for (args, topic) in [
            (&["model", "add", "--help"][..], "model add"),
            (&["serve", "--help"][..], "serve"),
            (&["init-db", "-h"][..], "init-db"),
            (&["demo", "--help"][..], "demo"),
            (&["model", "--help"][..], "model"),
            (&["model", "update", "x", "--help"][..], "model update"),
        ] {
            assert_eq!(cli(args).unwrap().command, Command::Help(topic), "{args:?}");
        }
        let c = cli(&["--env-file", "C:\\Program Files\\ai worker\\.env", "-v"]).unwrap();
        assert_eq!(
            c.env_file,
            Some(PathBuf::from("C:\\Program Files\\ai worker\\.env"))
        );
        assert_eq!(c.log_level, Some("debug"));
    }

    #[test]
    fn log_file_is_taken_out_before_parsing() {
        let os = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        let (path, rest) = split_log_file(os(&[
            "--task",
            "4",
            "--log-file",
            "C:\\ai worker\\logs\\a.log",
        ]))
        .unwrap();
        assert_eq!(path, Some(PathBuf::from("C:\\ai worker\\logs\\a.log")));
        assert_eq!(rest, os(&["--task", "4"]));
        let (path, rest) = split_log_file(os(&["serve", "--log-file=logs/{date}.log"])).unwrap();
        assert_eq!(path, Some(PathBuf::from("logs/{date}.log")));
        assert_eq!(rest, os(&["serve"]));
        assert_eq!(split_log_file(os(&["-v"])).unwrap(), (None, os(&["-v"])));
        for bad in [
            &["--log-file"][..],
            &["--log-file="][..],
            &["--log-file", "a", "--log-file", "b"][..],
        ] {
            let err = split_log_file(os(bad)).unwrap_err();
            assert!(err.contains("--log-file"), "{bad:?}: {err}");
        }
    }
}
