//! The help text `ai-worker --help` prints.

/// Flags, commands and exit codes.
pub const HELP: &str = "\
ai-worker: proofreads and translates texts from MySQL/MariaDB with an LLM

USAGE:
  ai-worker [--task ID | --task-item ID] [--max-item N] [--dry-run] [--retry-failed]
            [--concurrency N] [--json]
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
  --retry-failed     put the failed (ERROR) items of --task ID, or of every task, back
                     to pending first, with their attempts reset
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
