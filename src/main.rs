//! The `ai-worker` command line: parse → run through the application layer → render
//! → exit code. Every error becomes its exit code in one place, [`AppError::exit_code`].

mod cli;

use std::process::ExitCode;

use ai_worker::app::models::KeyChange;
use ai_worker::app::{self, models, setup};
use ai_worker::{AppError, Config, RunOptions, Server};
use cli::{Cli, Command, render};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    // Asked for JSON: errors come as JSON on stdout too, even a usage error found
    // before the arguments could be read.
    let json = args.iter().any(|a| a == "--json");
    // A bug must still end with a documented exit code (the hook has logged it).
    let outcome = std::panic::catch_unwind(|| cli::start(args).and_then(run))
        .unwrap_or(Err(AppError::Internal));
    let code = match outcome {
        Ok(code) => code,
        Err(err) => {
            if json {
                render::json_error(&err);
            }
            render::error(&err);
            err.exit_code()
        }
    };
    cli::finish(code)
}

/// Runs one command; returns the exit code of a command that ran.
fn run(cli: Cli) -> Result<u8, AppError> {
    match &cli.command {
        Command::Help(topic) => print!("{}", cli::help::for_topic(topic)),
        Command::Version => println!("ai-worker {}", env!("CARGO_PKG_VERSION")),
        _ => return run_configured(&cli),
    }
    Ok(0)
}

fn run_configured(cli: &Cli) -> Result<u8, AppError> {
    let config = cli::configure(cli)?;
    match &cli.command {
        Command::Run {
            options,
            metrics_file,
        } => {
            let code = run_engine(&config, options, cli.json);
            let path = metrics_file
                .clone()
                .or(config.metrics_file.clone().map(Into::into));
            cli::write_metrics(path.as_deref());
            return code;
        }
        Command::InitDb => {
            setup::init_db(&config.db)?;
            render::database_ready(&config.db);
        }
        Command::Demo if cli.json => {
            return Err(AppError::Usage(
                "--json is not available for demo, whose report is for reading; `ai-worker --json` gives a run's summary as JSON".into(),
            ));
        }
        Command::Demo => return run_demo(&config),
        Command::Serve { bind } => {
            let bind = bind.as_deref().unwrap_or(&config.serve_bind);
            Server::bind(&config, bind, cli::stop_on_ctrl_c())?.run();
        }
        Command::Rework { task } => {
            render::reworked(&app::review::rework(&config, *task)?, cli.json);
        }
        Command::Export {
            task,
            dry_run,
            retry,
        } => {
            let exported = app::review::export_with(&config, *task, *dry_run, *retry)?;
            render::exported(&exported, cli.json);
            return Ok(exported.exit_code());
        }
        Command::TaskControl { task, action } => {
            let applied = app::control::apply(&config, *task, *action)?;
            render::task_control(&applied, cli.json);
        }
        Command::Estimate { task } => {
            render::estimate(&app::estimate::estimate(&config, *task)?, cli.json);
        }
        Command::BatchStatus { task } => {
            render::batch_jobs(&app::batch::jobs(&config, *task)?, cli.json);
        }
        Command::CancelBatch { job } => {
            let cancelled = app::batch::cancel(&config, job, &cli::stop_on_ctrl_c())?;
            render::batch_cancelled(&cancelled, cli.json);
        }
        Command::ModelAdd { .. }
        | Command::ModelUpdate { .. }
        | Command::ModelList
        | Command::ModelRekey { .. } => run_model_command(&config, &cli.command, cli.json)?,
        Command::Help(_) | Command::Version => {}
    }
    Ok(0)
}

/// The demo: its results, then its exit code.
fn run_demo(config: &Config) -> Result<u8, AppError> {
    let report = setup::demo(config, &cli::stop_on_ctrl_c())?;
    render::demo(&report);
    Ok(report.summary.exit_code())
}

/// The `model` commands.
fn run_model_command(config: &Config, command: &Command, json: bool) -> Result<(), AppError> {
    match command {
        Command::ModelAdd {
            model,
            changes,
            key,
        } => {
            let key = cli::read_key(key, &model.provider)?;
            let added = models::add(config, model, changes, key.as_deref())?;
            render::model_added(&model.name, &added);
        }
        Command::ModelUpdate {
            name,
            changes,
            key,
            remove_key,
            fallback,
        } => {
            let key = match (key, remove_key) {
                (Some(source), _) => KeyChange::Set(cli::read_new_key(source)?),
                (None, true) => KeyChange::Remove,
                (None, false) => KeyChange::Keep,
            };
            let fallback = fallback.as_ref().map(Option::as_deref);
            models::update_with_fallback(config, name, changes, &key, fallback)?;
            render::model_updated(name);
        }
        Command::ModelList => render::model_list(&models::list(config)?, json),
        Command::ModelRekey { old_secret_env } => {
            let old = cli::read_old_secret(old_secret_env.as_deref())?;
            render::rekeyed(&models::rekey(config, &old)?);
        }
        _ => {}
    }
    Ok(())
}

/// A run of the engine; with `--json`, its failure is a JSON document too.
fn run_engine(config: &Config, options: &RunOptions, json: bool) -> Result<u8, AppError> {
    let stop = cli::stop_on_ctrl_c();
    let result = app::plan(config, options).and_then(|plan| app::run(config, &plan, &stop));
    match result {
        Ok(summary) => {
            render::summary(&summary, json);
            Ok(summary.exit_code())
        }
        Err(err) if json => {
            render::json_error(&err);
            Err(err)
        }
        Err(err) => Err(err),
    }
}
