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
  ai-worker model update NAME [--api-url URL] [--active 1|0] [--key-stdin] ...
  ai-worker model list       models without their keys
  ai-worker rework [--task ID]             rejected results back to pending, with notes
  ai-worker export [--task ID] [--dry-run] [--retry]  accepted results back to the source
  ai-worker pause|resume|cancel --task ID  set a task aside, take it up again, call it off
  ai-worker model rekey --old-secret-env VAR | --old-secret-stdin
                             re-encrypt stored keys from the old secret to AI_KEY_SECRET

OPTIONS:
  --task ID          process only this task's pending items
  --task-item ID     process only this item (PENDING or ERROR)
  --max-item N       handle at most N items (default WORKER_MAX_ITEMS, 100)
  --dry-run          call the model and print results, write nothing to the database
  --retry-failed     put the failed (ERROR) items of --task ID, or of every task, back
                     to pending first, with their attempts reset
  --estimate         print what the pending items of --task ID (or of every task) would
                     cost, without calling a model or writing anything
  --batch-status     list open batch jobs (tasks with task.batch = 1), or --task ID's jobs
  --cancel-batch ID  cancel a batch job (ID from --batch-status, or the provider's id);
                     what it finished is saved, the rest goes back to pending
  --concurrency N    calls in flight, 1-4096 (default WORKER_CONCURRENCY, 4); the run
                     uses DB_POOL_SIZE + 1 database connections whatever this is
  --json             print one JSON summary on stdout
  --metrics-file PATH  write the run's metrics there (Prometheus textfile format)
  --env-file PATH    read configuration from PATH instead of .env
  --log-file PATH    also append log lines and errors to PATH; {date} in it becomes
                     today's date (UTC), e.g. --log-file logs/ai-worker-{date}.log
  -v, --verbose      debug log lines (with --dry-run: the prompts as sent)
  -q, --quiet        warnings and errors only
  -h, --help         this text; `ai-worker COMMAND --help` for a command
  -V, --version      the version

EXIT CODES:
  0 every handled item succeeded (or nothing to do)   1 an item or a task failed
  2 bad usage or configuration                        3 database unreachable
  4 stopped early by Ctrl+C or SIGTERM (what was done is saved, the rest waits)
  130 stopped at once by a second Ctrl+C
";

const INIT_DB: &str = "\
ai-worker init-db: create the database DB_NAME (if missing) and every table, index and
status dictionary. Safe to run again: it changes nothing that is there, and adds what
a newer ai-worker needs.

USAGE:
  ai-worker init-db [--env-file PATH] [--log-file PATH]
";

const DEMO: &str = "\
ai-worker demo: a sample run in its own database, ai_worker_demo. Loads a few Polish
and English texts with typos, processes them and prints each before and after. Without
GEMINI_API_KEY it uses the offline echo model (the texts come back unchanged). Running
it again replaces the demo's tasks.

USAGE:
  ai-worker demo [--env-file PATH]
";

const SERVE: &str = "\
ai-worker serve: the HTTP trigger for the panel (README.txt section 8).

USAGE:
  ai-worker serve [--bind ADDR] [--env-file PATH] [--log-file PATH]

OPTIONS:
  --bind ADDR   address to listen on (default SERVE_BIND, 127.0.0.1:8080); anything but
                a loopback address needs SERVE_TOKEN

ENDPOINTS:
  POST /task/run    {\"task\",\"task_item\",\"max_item\",\"dry_run\",\"concurrency\",
                     \"retry_failed\",\"wait\"}, every field optional
  GET /task/{id}    a task's status and counters
  GET /run/{uuid}   a run's task_run row
  GET /health       200 when the database answers
";

const MODEL: &str = "\
ai-worker model: the models in table ai_model.

USAGE:
  ai-worker model add --name N --provider gemini|openai|echo --model M [options]
  ai-worker model update NAME [changes]
  ai-worker model list
  ai-worker model rekey --old-secret-env VAR | --old-secret-stdin

`ai-worker model add --help` (and update, list, rekey) tells more.
";

const MODEL_ADD: &str = "\
ai-worker model add: add a model. The key is read from an environment variable or
standard input, never from a flag, and stored encrypted with AI_KEY_SECRET.

USAGE:
  ai-worker model add --name N --provider gemini|openai|echo --model M
                      [--api-url URL] [--rpm N] [--api-key-env VAR | --key-stdin]

OPTIONS:
  --name N           a unique label (the panel shows it)
  --provider P       gemini, openai (also Ollama, vLLM, llama.cpp, LM Studio) or echo
  --model M          the provider's model name, e.g. gemini-2.5-pro, gpt-5, llama3.1
  --api-url URL      base URL up to the API version, e.g. http://127.0.0.1:11434/v1
                     (default: the provider's)
  --rpm N            requests per minute, for every worker process together
  --api-key-env VAR  read the key from VAR (default GEMINI_API_KEY / OPENAI_API_KEY)
  --key-stdin        read the key from standard input
It also takes every setting of `model update` (prices, budgets, levers, ...).
";

const MODEL_UPDATE: &str = "\
ai-worker model update: change a model. Give only what changes; `none` sets a setting
back to the provider's default.

USAGE:
  ai-worker model update NAME [changes]

CHANGES:
  --model M                  the provider's model name
  --api-url URL|none         base URL up to the API version
  --active 1|0               whether tasks may use it
  --temperature T|none       0 to 2
  --max-output-tokens N|none output token limit
  --timeout S|none           seconds one call may take (default AI_TIMEOUT_S)
  --rpm N|none               requests per minute, for every worker process together
  --structured-output schema|object|plain|auto
                             how JSON answers are asked for: a JSON schema, JSON mode
                             (json_object), a plain request for JSON, or auto (found
                             out and remembered)
  --api-key-env VAR          store the key found in VAR, encrypted
  --key-stdin                store the key read from standard input, encrypted
  --no-key                   remove the stored key (the environment's is used)
  --price-input P|none       price per 1 million input tokens
  --price-cached-input P|none  per 1 million cached input tokens (default: price-input)
  --price-output P|none      per 1 million output tokens (thinking included)
  --currency CUR             USD, EUR, PLN, ... (default USD)
  --daily-budget B|none      the most the model may spend per UTC day, all workers
  --thinking-budget N|none   Gemini: 0 off, -1 dynamic, or tokens (checked by model)
  --reasoning-effort E|none  OpenAI: minimal, low, medium or high
  --service-tier T|none      OpenAI: flex (half price, slower), auto, default, priority
  --max-chunk-chars N|none   texts longer than this go out in parts (default 8000)
  --fallback NAME|none       the model that takes this one's items while it cannot be
                             reached, stays rate limited, or its daily budget is spent
  --max-concurrency N|none   calls in flight to this model per run at most (default:
                             the run's concurrency); other models' tasks go on beside it
  --pack-max-items N|none    short texts one request to this model carries at most
                             (none: the task's, PACK_MAX_ITEMS); the worker sets 1 by
                             itself when the model's packed answers keep missing texts
  --local-server yes|no|auto whether api_url is a server of your own (Ollama, vLLM,
                             llama.cpp: max_tokens, a default output cap, no Batch API)
                             or a gateway to OpenAI/Gemini (their own rules); auto
                             (default): localhost, private addresses and one-word hosts
                             are your own
";

const MODEL_LIST: &str = "\
ai-worker model list: every model with its provider, model name, address and whether a
key is stored (never the key).

USAGE:
  ai-worker model list
";

const MODEL_REKEY: &str = "\
ai-worker model rekey: re-encrypt every stored key from the old AI_KEY_SECRET to the
one in .env, in one transaction (all or nothing; safe to run again).

USAGE:
  ai-worker model rekey --old-secret-env VAR | --old-secret-stdin
";

const REWORK: &str = "\
ai-worker rework: results a reviewer REJECTED (task_item.review_status = 2) go back to
pending; the next run sends each with the original text, the rejected version and the
reviewer's reason (task_item.review_comment), and its new result replaces the old one.

USAGE:
  ai-worker rework [--task ID] [--json]
";

const EXPORT: &str = "\
ai-worker export: results a reviewer ACCEPTED (task_item.review_status = 1) are written
back to their source rows (source_table, source_column, source_id), only where the
source still holds text_original: a row changed since is never overwritten (conflict).
Only EXPORT_ALLOW targets are written; SOURCE_DB_* names the source database.

USAGE:
  ai-worker export [--task ID] [--dry-run] [--retry] [--json]

OPTIONS:
  --dry-run   check every item against its source row, write nothing
  --retry     first put items whose export ended in a conflict or an error back to be
              tried again (after you fixed the cause: EXPORT_ALLOW, the source row)
";

const PAUSE: &str = "\
ai-worker pause|resume|cancel: the panel's hand on a task from the command line.
  pause   PAUSED (4): no item is claimed until the task is resumed
  resume  a PAUSED or CANCELLED task becomes IN_PROGRESS (NEW if never started)
  cancel  CANCELLED (5): no item is claimed; its pending items stay pending
Running workers see the change within a few seconds: calls already in flight finish
and are saved, nothing more is sent, and the status is never written over.

USAGE:
  ai-worker pause --task ID [--json]
  ai-worker resume --task ID [--json]
  ai-worker cancel --task ID [--json]
";

/// The help text for a command (`model add`), or the program's for anything else.
/// Every help text: where the flags are documented, and so the one list the
/// suggestions for a mistyped flag come from.
const ALL: &[&str] = &[
    HELP,
    INIT_DB,
    DEMO,
    SERVE,
    MODEL,
    MODEL_ADD,
    MODEL_UPDATE,
    MODEL_LIST,
    MODEL_REKEY,
    REWORK,
    EXPORT,
    PAUSE,
];

/// Every flag some help text documents (`--task`, `--dry-run`, ...).
pub fn documented_flags() -> Vec<&'static str> {
    let mut flags: Vec<&'static str> = ALL
        .iter()
        .flat_map(|text| text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')))
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| word.trim_end_matches('-'))
        .collect();
    flags.sort_unstable();
    flags.dedup();
    flags
}

pub fn for_topic(topic: &str) -> &'static str {
    match topic {
        "init-db" => INIT_DB,
        "demo" => DEMO,
        "serve" => SERVE,
        "model" => MODEL,
        "model add" => MODEL_ADD,
        "model update" => MODEL_UPDATE,
        "model list" => MODEL_LIST,
        "model rekey" => MODEL_REKEY,
        "rework" => REWORK,
        "export" => EXPORT,
        "pause" => PAUSE,
        _ => HELP,
    }
}
