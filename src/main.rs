//! The `ai-worker` command line: parses flags and calls the library.

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ai_worker::db::model_repository::{self, NewModel};
use ai_worker::db::{Db, schema};
use ai_worker::{Config, RunOptions, StopSignal, demo, logging, worker};

const HELP: &str = "\
ai-worker: proofreads and translates texts from MySQL/MariaDB with an LLM

USAGE:
  ai-worker [--task ID | --task-item ID] [--max-item N] [--dry-run] [--concurrency N] [--json]
  ai-worker init-db          create the database (DB_NAME) and its tables
  ai-worker serve [--bind ADDR]  HTTP trigger for the panel (default SERVE_BIND, 127.0.0.1:8080)
  ai-worker demo             sample run in database ai_worker_demo (offline without GEMINI_API_KEY)
  ai-worker model add --name N --provider gemini|openai|echo --model M
                      [--api-url URL] [--rpm N] [--api-key-env VAR | --key-stdin]
  ai-worker model list       models without their keys
  ai-worker model rekey --old-secret-env VAR | --old-secret-stdin
                             re-encrypt stored keys from the old secret to AI_KEY_SECRET

OPTIONS:
  --task ID          process only this task's pending items
  --task-item ID     process only this item (PENDING or ERROR)
  --max-item N       handle at most N items (default WORKER_MAX_ITEMS, 100)
  --dry-run          call the model and print results, write nothing to the database
  --concurrency N    parallel model calls (default WORKER_CONCURRENCY, 4)
  --json             print one JSON summary on stdout
  --env-file PATH    read configuration from PATH instead of .env
  --log-file PATH    also append log lines and errors to PATH; {date} in it becomes
                     today's date (UTC), e.g. --log-file logs/ai-worker-{date}.log
  -v, --verbose      debug log lines (with --dry-run: the prompts as sent)
  -q, --quiet        warnings and errors only
  -h, --help         this text
  -V, --version      the version

EXIT CODES:
  0 every handled item succeeded (or nothing to do)   1 an item or a task failed
  2 bad usage or configuration                        3 database unreachable
  130 stopped at once by a second Ctrl+C
";

/// The hint under every usage error.
const USAGE_HINT: &str = "run `ai-worker --help` for the flags";

/// What the user asked for.
#[derive(Debug, PartialEq)]
enum Command {
    Help,
    Version,
    Run(RunOptions),
    InitDb,
    Demo,
    Serve {
        bind: Option<String>,
    },
    ModelAdd {
        model: NewModel,
        key_env: Option<String>,
        key_stdin: bool,
    },
    ModelList,
    ModelRekey {
        old_secret_env: Option<String>,
    },
}

#[derive(Debug, PartialEq)]
struct Cli {
    command: Command,
    env_file: Option<PathBuf>,
    json: bool,
    /// `-v` / `-q`, which win over `RUST_LOG`.
    log_level: Option<&'static str>,
}

fn parse(mut args: pico_args::Arguments) -> Result<Cli, String> {
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
    })
}

fn parse_run(args: &mut pico_args::Arguments) -> Result<RunOptions, String> {
    let options = RunOptions {
        task: positive(args, "--task")?,
        task_item: positive(args, "--task-item")?,
        max_items: positive(args, "--max-item")?,
        dry_run: args.contains("--dry-run"),
        concurrency: positive(args, "--concurrency")?,
        trigger: "cli".into(),
        operation_uuid: None,
    };
    if options.task.is_some() && options.task_item.is_some() {
        return Err("--task and --task-item cannot be used together".into());
    }
    if options.concurrency.is_some_and(|c| c > 256) {
        return Err("--concurrency must be at most 256".into());
    }
    Ok(options)
}

fn parse_model(args: &mut pico_args::Arguments) -> Result<Command, String> {
    match args.subcommand().map_err(arg_error)?.as_deref() {
        Some("list") => Ok(Command::ModelList),
        Some("rekey") => {
            let old_secret_env: Option<String> = args
                .opt_value_from_str("--old-secret-env")
                .map_err(arg_error)?;
            let stdin = args.contains("--old-secret-stdin");
            if old_secret_env.is_some() == stdin {
                return Err(
                    "model rekey needs the old secret: --old-secret-env VAR or --old-secret-stdin"
                        .into(),
                );
            }
            Ok(Command::ModelRekey { old_secret_env })
        }
        Some("add") => {
            let required =
                |args: &mut pico_args::Arguments, key: &'static str| -> Result<String, String> {
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
            let api_url: Option<String> =
                args.opt_value_from_str("--api-url").map_err(arg_error)?;
            if let Some(url) = &api_url {
                ai_worker::ai::http::check_url(url).map_err(|why| format!("--api-url {why}"))?;
            }
            let rpm = positive(args, "--rpm")?;
            let key_env: Option<String> = args
                .opt_value_from_str("--api-key-env")
                .map_err(arg_error)?;
            let key_stdin = args.contains("--key-stdin");
            if args.contains("--api-key") || args.contains("--key") {
                return Err("keys are never given as flags (they end up in shell history); use --api-key-env VAR or --key-stdin".into());
            }
            Ok(Command::ModelAdd {
                model: NewModel {
                    name,
                    provider,
                    model_name,
                    api_url,
                    requests_per_minute: rpm,
                },
                key_env,
                key_stdin,
            })
        }
        Some(other) => Err(format!(
            "unknown model command '{other}' (use add, list or rekey)"
        )),
        None => Err("model needs a command: add, list or rekey".into()),
    }
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
fn split_log_file(args: Vec<OsString>) -> Result<(Option<PathBuf>, Vec<OsString>), String> {
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

/// An error for the user: on stderr, and in the log file if one is open.
fn print_error(message: &str, hint: Option<&str>) {
    eprintln!("error: {message}");
    logging::file_line("ERROR", message);
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
        logging::file_line("ERROR", &format!("hint: {hint}"));
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let shown = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let (log_file, args) = match split_log_file(args) {
        Ok(split) => split,
        Err(message) => {
            print_error(&message, Some(USAGE_HINT));
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &log_file
        && let Err(code) = start_log_file(path, &shown)
    {
        return ExitCode::from(code as u8);
    }
    let code = run_command(pico_args::Arguments::from_vec(args), &shown);
    if logging::has_file() {
        logging::file_line("INFO", &format!("Exit code {code}"));
    }
    ExitCode::from(code as u8)
}

/// Opens the log file (from `--log-file` or `LOG_FILE`) and notes the start of this
/// run in it. Returns the exit code when it cannot be opened.
fn start_log_file(path: &std::path::Path, shown_args: &str) -> Result<(), i32> {
    if let Err(err) = logging::open_log_file(path) {
        print_error(&err.to_string(), None);
        return Err(2);
    }
    logging::file_line(
        "INFO",
        &format!(
            "ai-worker {} started: {shown_args}",
            env!("CARGO_PKG_VERSION")
        ),
    );
    Ok(())
}

/// Parses the arguments and runs the command; returns the exit code.
fn run_command(args: pico_args::Arguments, shown_args: &str) -> i32 {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(message) => {
            print_error(&message, Some(USAGE_HINT));
            return 2;
        }
    };
    match cli.command {
        Command::Help => {
            print!("{HELP}");
            return 0;
        }
        Command::Version => {
            println!("ai-worker {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        _ => {}
    }
    let config = match Config::load(cli.env_file.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            print_error(
                &err.to_string(),
                Some("see .env.example for every key and its default"),
            );
            return 2;
        }
    };
    if !logging::has_file()
        && let Some(path) = &config.log_file
        && let Err(code) = start_log_file(std::path::Path::new(path), shown_args)
    {
        return code;
    }
    logging::init(
        cli.log_level
            .or(config.rust_log.as_deref())
            .unwrap_or("info"),
    );
    if !config.pii_redaction {
        log::warn!("PII_REDACTION=off: personal data in the texts is sent to the model as it is");
    }
    match cli.command {
        Command::Run(options) => run(&config, &options, cli.json),
        Command::InitDb => report(schema::init_db(&config.db).map(|()| {
            println!(
                "Database {} is ready at {}:{}",
                config.db.name, config.db.host, config.db.port
            );
        })),
        Command::Demo => {
            let stop = install_stop_handler();
            match demo::run(&config, &stop, &mut std::io::stdout()) {
                Ok(summary) => summary.exit_code(),
                Err(err) => report::<ai_worker::WorkerError>(Err(err)),
            }
        }
        Command::ModelList => report(model_list(&config)),
        Command::ModelRekey { old_secret_env } => model_rekey(&config, old_secret_env.as_deref()),
        Command::Serve { bind } => serve(&config, bind.as_deref().unwrap_or(&config.serve_bind)),
        Command::ModelAdd {
            model,
            key_env,
            key_stdin,
        } => model_add(&config, &model, key_env, key_stdin),
        Command::Help | Command::Version => 0,
    }
}

/// Ctrl+C / SIGTERM raise the stop signal; a second one exits at once.
fn install_stop_handler() -> Arc<StopSignal> {
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

fn serve(config: &Config, bind: &str) -> i32 {
    let stop = install_stop_handler();
    match ai_worker::serve::Server::bind(config, bind, stop) {
        Ok(server) => {
            server.run();
            0
        }
        Err(err) => {
            print_error(&err.to_string(), None);
            2
        }
    }
}

fn run(config: &Config, options: &RunOptions, json: bool) -> i32 {
    let stop = install_stop_handler();
    match worker::run(config, options, &stop) {
        Ok(summary) => {
            if json {
                println!("{}", summary.to_json());
            } else {
                for item in &summary.dry_run_items {
                    println!(
                        "[DRY-RUN] [TaskItem {}] (task {})",
                        item.id_task_item, item.id_task
                    );
                    match &item.error {
                        Some(e) => println!("  error: {e}"),
                        None => {
                            println!(
                                "  text_corrected: {}",
                                item.text_corrected.as_deref().unwrap_or("")
                            );
                            println!(
                                "  change_summary: {}",
                                item.change_summary.as_deref().unwrap_or("")
                            );
                            println!(
                                "  tokens: {} in / {} out",
                                item.tokens_input, item.tokens_output
                            );
                        }
                    }
                }
                println!("{} (operation {})", summary.message, summary.operation_uuid);
            }
            summary.exit_code()
        }
        Err(err) => {
            log::error!("{err}");
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": err.to_string(), "exit_code": err.exit_code()})
                );
            } else {
                eprintln!("error: {err}");
            }
            err.exit_code()
        }
    }
}

fn report<E: std::fmt::Display + ExitCoded>(result: Result<(), E>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(err) => {
            print_error(&err.to_string(), None);
            err.code()
        }
    }
}

trait ExitCoded {
    fn code(&self) -> i32;
}

impl ExitCoded for ai_worker::db::DbError {
    fn code(&self) -> i32 {
        self.exit_code()
    }
}

impl ExitCoded for ai_worker::WorkerError {
    fn code(&self) -> i32 {
        self.exit_code()
    }
}

fn model_list(config: &Config) -> Result<(), ai_worker::db::DbError> {
    let mut db = Db::connect(&config.db)?;
    println!(
        "{:<4} {:<24} {:<8} {:<24} {:<4} {:<6} api_url",
        "id", "name", "provider", "model", "key", "active"
    );
    for m in model_repository::list(&mut db)? {
        println!(
            "{:<4} {:<24} {:<8} {:<24} {:<4} {:<6} {}",
            m.id,
            m.name,
            m.provider,
            m.model_name,
            if m.has_key { "yes" } else { "no" },
            if m.is_active { "yes" } else { "no" },
            m.api_url.as_deref().unwrap_or("(provider default)")
        );
    }
    db.close();
    Ok(())
}

/// Re-encrypts the stored keys from the old secret (from an environment variable or
/// standard input, never a flag) to AI_KEY_SECRET. Prints model names, never keys.
fn model_rekey(config: &Config, old_secret_env: Option<&str>) -> i32 {
    let old = match old_secret_env {
        Some(var) => match std::env::var(var) {
            Ok(value) => value,
            Err(_) => {
                print_error(
                    &format!(
                        "the environment variable {var} (the old secret) is not set or not valid text"
                    ),
                    None,
                );
                return 2;
            }
        },
        None => match read_secret_from_stdin("the old AI_KEY_SECRET") {
            Ok(value) => value,
            Err(code) => return code,
        },
    };
    if config.ai_key_secret.is_empty() {
        print_error(
            "AI_KEY_SECRET is empty: put the new secret in .env first",
            None,
        );
        return 2;
    }
    if old == config.ai_key_secret {
        print_error(
            "the old secret is the same as AI_KEY_SECRET: nothing to re-encrypt",
            None,
        );
        return 2;
    }
    let result = Db::connect(&config.db)
        .and_then(|mut db| model_repository::rekey(&mut db, &old, &config.ai_key_secret));
    match result {
        Ok(outcome) if !outcome.undecryptable.is_empty() => {
            print_error(
                &format!(
                    "the keys of {} decrypt with neither the old secret nor AI_KEY_SECRET; nothing was changed",
                    outcome.undecryptable.join(", ")
                ),
                Some("check the old secret, or store those keys again with `ai-worker model add`"),
            );
            2
        }
        Ok(outcome) => {
            let names = |list: &[String]| {
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(", ")
                }
            };
            println!(
                "Re-encrypted with AI_KEY_SECRET: {}. Already using it: {}.",
                names(&outcome.changed),
                names(&outcome.already)
            );
            0
        }
        Err(err) => {
            print_error(&err.to_string(), None);
            err.exit_code()
        }
    }
}

/// Reads one secret from standard input (piped, or typed and ended with Ctrl+D /
/// Ctrl+Z Enter); an empty one is an error. Returns the exit code on failure.
fn read_secret_from_stdin(what: &str) -> Result<String, i32> {
    if std::io::stdin().is_terminal() {
        eprintln!("Paste {what} and press Enter, then Ctrl+D (Linux) or Ctrl+Z Enter (Windows):");
    }
    let mut value = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut value) {
        print_error(
            &format!("cannot read {what} from standard input: {e}"),
            None,
        );
        return Err(2);
    }
    let value = value.trim().to_string();
    if value.is_empty() {
        print_error(&format!("{what} read from standard input is empty"), None);
        return Err(2);
    }
    Ok(value)
}

fn model_add(config: &Config, model: &NewModel, key_env: Option<String>, key_stdin: bool) -> i32 {
    let default_env = match model.provider.as_str() {
        "gemini" => Some("GEMINI_API_KEY"),
        "openai" => Some("OPENAI_API_KEY"),
        _ => None,
    };
    let key = if key_stdin {
        match read_secret_from_stdin("the API key") {
            Ok(key) => Some(key),
            Err(code) => return code,
        }
    } else {
        let var = key_env.as_deref().or(default_env);
        var.and_then(|v| std::env::var(v).ok())
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    };
    if key.is_some() && config.ai_key_secret.is_empty() {
        print_error(
            "AI_KEY_SECRET is empty: set it in .env before storing an encrypted key",
            None,
        );
        return 2;
    }
    let result = (|| {
        let mut db = Db::connect(&config.db)?;
        let id = model_repository::add(&mut db, model, key.as_deref(), &config.ai_key_secret)?;
        db.close();
        Ok::<_, ai_worker::db::DbError>(id)
    })();
    match result {
        Ok(id) => {
            let key_note = if key.is_some() {
                "key stored encrypted"
            } else {
                "no key stored (the environment's key is used)"
            };
            println!("Model '{}' added with id {id} ({key_note})", model.name);
            0
        }
        Err(err) => {
            print_error(&err.to_string(), None);
            err.exit_code()
        }
    }
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
            (&["--task", "1", "--task-item", "2"][..], "together"),
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
