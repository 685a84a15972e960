//! The one error type the doors see, and the one place that maps it to an exit code
//! (the CLI) and to an HTTP status (serve).

use std::fmt;

use crate::config::ConfigError;
use crate::db::DbError;
use crate::logging::LogFileError;
use crate::serve::ServeError;
use crate::worker::WorkerError;

/// Why a command could not be carried out.
#[derive(Debug)]
pub enum AppError {
    /// Flags or fields that are wrong or contradict each other.
    Usage(String),
    /// `.env` or the environment holds a bad value.
    Config(ConfigError),
    /// The log file cannot be opened.
    LogFile(LogFileError),
    /// The database failed.
    Db(DbError),
    /// A task, item or run named by the user does not exist.
    NotFound(String),
    /// `serve` cannot listen.
    Serve(ServeError),
    /// A bug: something panicked (the log has the place); exit code 1.
    Internal,
    /// The command was understood but cannot be done as asked (the message says why,
    /// the hint what to do).
    Refused {
        /// What is wrong.
        message: String,
        /// What to do about it, if there is something to say.
        hint: Option<String>,
    },
}

impl AppError {
    /// A refusal without a hint.
    pub fn refused(message: impl Into<String>) -> AppError {
        AppError::Refused {
            message: message.into(),
            hint: None,
        }
    }

    /// The process exit code (README.txt section 5): 1 a failed statement, 2 usage or
    /// configuration, 3 the database unreachable.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Db(
                DbError::Unreachable { .. } | DbError::Lost(_) | DbError::TooManyConnections { .. },
            ) => 3,
            AppError::Db(DbError::Query(_) | DbError::Deadlock(_)) | AppError::Internal => 1,
            _ => 2,
        }
    }

    /// The HTTP status `serve` answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            AppError::Usage(_) | AppError::Refused { .. } => 400,
            AppError::NotFound(_) => 404,
            AppError::Db(
                DbError::Unreachable { .. } | DbError::Lost(_) | DbError::TooManyConnections { .. },
            ) => 503,
            _ => 500,
        }
    }

    /// What the user can do about it, shown under the message.
    pub fn hint(&self) -> Option<&str> {
        match self {
            AppError::Usage(_) => Some("run `ai-worker --help` for the flags"),
            AppError::Config(_) => Some("see .env.example for every key and its default"),
            AppError::Refused { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Usage(m) | AppError::NotFound(m) => f.write_str(m),
            AppError::Refused { message, .. } => f.write_str(message),
            AppError::Config(e) => e.fmt(f),
            AppError::LogFile(e) => e.fmt(f),
            AppError::Db(e) => e.fmt(f),
            AppError::Serve(e) => e.fmt(f),
            AppError::Internal => f.write_str(
                "internal error: ai-worker stopped on a bug (the log line above names the place); please report it",
            ),
        }
    }
}

impl std::error::Error for AppError {}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError::Db(e)
    }
}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        AppError::Config(e)
    }
}

impl From<LogFileError> for AppError {
    fn from(e: LogFileError) -> Self {
        AppError::LogFile(e)
    }
}

impl From<ServeError> for AppError {
    fn from(e: ServeError) -> Self {
        AppError::Serve(e)
    }
}

impl From<WorkerError> for AppError {
    fn from(e: WorkerError) -> Self {
        match e {
            WorkerError::Db(e) => AppError::Db(e),
            WorkerError::NotFound(m) => AppError::NotFound(m),
            WorkerError::Usage(m) => AppError::Usage(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_of_exit_codes_and_statuses() {
        let unreachable = AppError::Db(DbError::Unreachable {
            host: "h".into(),
            port: 1,
            reason: "r".into(),
        });
        let refused = AppError::Db(DbError::Refused {
            host: "h".into(),
            port: 1,
            reason: "r".into(),
        });
        let cases = [
            (unreachable, 3, 503),
            (AppError::Db(DbError::Lost("x".into())), 3, 503),
            (refused, 2, 500),
            (AppError::Db(DbError::Schema("x".into())), 2, 500),
            (AppError::Db(DbError::Query("x".into())), 1, 500),
            (AppError::Usage("x".into()), 2, 400),
            (AppError::NotFound("x".into()), 2, 404),
            (AppError::refused("x"), 2, 400),
            (AppError::Internal, 1, 500),
        ];
        for (err, code, status) in cases {
            assert_eq!(
                (err.exit_code(), err.http_status()),
                (code, status),
                "{err:?}"
            );
        }
    }
}
