//! Flags → a [`Cli`]: which command, with which values. Nothing is run here.

use std::ffi::OsString;
use std::path::PathBuf;

use ai_worker::RunOptions;
use ai_worker::app::models::{self, NewModel};

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
    Help,
    Version,
    Run(RunOptions),
    InitDb,
    Demo,
    Serve { bind: Option<String> },
    ModelAdd { model: NewModel, key: KeySource },
    ModelList,
    ModelRekey { old_secret_env: Option<String> },
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
        Command::Help
    } else if flag_version {
        Command::Version
    } else {
        match args.subcommand().map_err(arg_error)?.as_deref() {
            None => Command::Run(parse_run(&mut args)?),
            Some("init-db") => Command::InitDb,
            Some("demo") => Command::Demo,
            Some("serve") => Command::Serve {
                bind: args.opt_value_from_str("--bind").map_err(arg_error)?,
            },
            Some("model") => parse_model(&mut args)?,
            Some(other) => return Err(format!("unknown command '{other}'")),
        }
    };
    let rest = args.finish();
    if let Some(extra) = rest.first() {
        return Err(format!("unexpected argument '{}'", extra.to_string_lossy()));
    }
    Ok(Cli {
        command,
        env_file,
        json,
        log_level,
        shown_args: String::new(),
    })
}

fn parse_run(args: &mut pico_args::Arguments) -> Result<RunOptions, String> {
    let options = RunOptions {
        task: positive(args, "--task")?,
        task_item: positive(args, "--task-item")?,
        max_items: positive(args, "--max-item")?,
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
        Some(other) => Err(format!(
            "unknown model command '{other}' (use add, list or rekey)"
        )),
        None => Err("model needs a command: add, list or rekey".into()),
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
    let key_env: Option<String> = args
        .opt_value_from_str("--api-key-env")
        .map_err(arg_error)?;
    let key_stdin = args.contains("--key-stdin");
    if args.contains("--api-key") || args.contains("--key") {
        return Err("keys are never given as flags (they end up in shell history); use --api-key-env VAR or --key-stdin".into());
    }
    let key = match (key_stdin, key_env) {
        (true, _) => KeySource::Stdin,
        (false, Some(var)) => KeySource::Env(var),
        (false, None) => KeySource::ProviderEnv,
    };
    let model = NewModel {
        name,
        provider,
        model_name,
        api_url,
        requests_per_minute: rpm,
    };
    Ok(Command::ModelAdd { model, key })
}

fn positive(args: &mut pico_args::Arguments, key: &'static str) -> Result<Option<u32>, String> {
    let value: Option<u32> = args.opt_value_from_str(key).map_err(arg_error)?;
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
            Command::Run(o) => {
                assert_eq!(
                    (o.task, o.max_items, o.concurrency, o.dry_run),
                    (Some(42), Some(10), Some(8), true)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn usage_errors() {
        for (args, needle) in [
            (&["--task", "abc"][..], "abc"),
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
        assert_eq!(cli(&["--help"]).unwrap().command, Command::Help);
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
