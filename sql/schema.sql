-- ai-worker database schema: the contract between the Yii2 panel and the worker.
-- Idempotent: safe to run any number of times (ai-worker init-db applies it).
-- Works on MySQL 5.7+/8.x and MariaDB 10.3+; InnoDB, utf8mb4.
-- Statements end with a semicolon at the end of a line; comments are whole lines.

CREATE TABLE IF NOT EXISTS task_status (
  id_task_status TINYINT UNSIGNED NOT NULL,
  name VARCHAR(32) NOT NULL,
  description VARCHAR(255) NOT NULL,
  PRIMARY KEY (id_task_status),
  UNIQUE KEY uq_task_status_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO task_status (id_task_status, name, description) VALUES
  (0, 'NEW', 'Created by the panel, not started yet'),
  (1, 'IN_PROGRESS', 'A worker has started processing its items'),
  (2, 'COMPLETED', 'Every item was processed successfully'),
  (3, 'ERROR', 'The task stopped or some items failed; see error_message');

CREATE TABLE IF NOT EXISTS task_item_status (
  id_task_item_status TINYINT UNSIGNED NOT NULL,
  name VARCHAR(32) NOT NULL,
  description VARCHAR(255) NOT NULL,
  PRIMARY KEY (id_task_item_status),
  UNIQUE KEY uq_task_item_status_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO task_item_status (id_task_item_status, name, description) VALUES
  (0, 'PENDING', 'Waiting to be processed'),
  (1, 'PROCESSED', 'The model answered; text_corrected and change_summary are filled in'),
  (2, 'PROCESSING', 'Claimed by a worker until claimed_until'),
  (3, 'ERROR', 'Processing failed; see error_message');

CREATE TABLE IF NOT EXISTS review_status (
  id_review_status TINYINT UNSIGNED NOT NULL,
  name VARCHAR(32) NOT NULL,
  description VARCHAR(255) NOT NULL,
  PRIMARY KEY (id_review_status),
  UNIQUE KEY uq_review_status_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO review_status (id_review_status, name, description) VALUES
  (0, 'UNREVIEWED', 'Nobody has looked at the result yet'),
  (1, 'ACCEPTED', 'A person accepted the result; the panel may export it'),
  (2, 'REJECTED', 'A person rejected the result');

CREATE TABLE IF NOT EXISTS ai_model (
  id_ai_model INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  provider VARCHAR(20) NOT NULL,
  model_name VARCHAR(100) NOT NULL,
  api_url VARCHAR(255) NULL,
  api_key_encrypted VARBINARY(512) NULL,
  temperature DECIMAL(3,2) NULL,
  max_output_tokens INT UNSIGNED NULL,
  timeout_s INT UNSIGNED NULL,
  requests_per_minute INT UNSIGNED NULL,
  structured_output TINYINT(1) NULL,
  is_active TINYINT(1) NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id_ai_model),
  UNIQUE KEY uq_ai_model_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS task (
  id_task INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id_ai_model INT UNSIGNED NOT NULL,
  name VARCHAR(255) NOT NULL,
  description TEXT NOT NULL,
  status_id TINYINT UNSIGNED NOT NULL DEFAULT 0,
  records_total INT UNSIGNED NOT NULL DEFAULT 0,
  records_processed INT UNSIGNED NOT NULL DEFAULT 0,
  records_error INT UNSIGNED NOT NULL DEFAULT 0,
  tokens_input BIGINT UNSIGNED NOT NULL DEFAULT 0,
  tokens_output BIGINT UNSIGNED NOT NULL DEFAULT 0,
  error_message TEXT NULL,
  operation_uuid CHAR(36) NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  started_at DATETIME NULL,
  finished_at DATETIME NULL,
  updated_at DATETIME NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id_task),
  KEY idx_task_status (status_id, id_task),
  KEY idx_task_model (id_ai_model),
  CONSTRAINT fk_task_model FOREIGN KEY (id_ai_model) REFERENCES ai_model (id_ai_model),
  CONSTRAINT fk_task_status FOREIGN KEY (status_id) REFERENCES task_status (id_task_status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS task_item (
  id_task_item INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id_task INT UNSIGNED NOT NULL,
  source_table VARCHAR(64) NULL,
  source_column VARCHAR(64) NULL,
  source_id VARCHAR(64) NULL,
  text_original MEDIUMTEXT NOT NULL,
  text_corrected MEDIUMTEXT NULL,
  change_summary TEXT NULL,
  tokens_input INT UNSIGNED NOT NULL DEFAULT 0,
  tokens_output INT UNSIGNED NOT NULL DEFAULT 0,
  status_id TINYINT UNSIGNED NOT NULL DEFAULT 0,
  review_status TINYINT UNSIGNED NOT NULL DEFAULT 0,
  attempts SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  error_message TEXT NULL,
  claim_token CHAR(36) NULL,
  claimed_until DATETIME NULL,
  operation_uuid CHAR(36) NULL,
  processed_at DATETIME NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id_task_item),
  KEY idx_task_item_task_status (id_task, status_id, id_task_item),
  KEY idx_task_item_claim (claim_token),
  CONSTRAINT fk_task_item_task FOREIGN KEY (id_task) REFERENCES task (id_task) ON DELETE CASCADE,
  CONSTRAINT fk_task_item_status FOREIGN KEY (status_id) REFERENCES task_item_status (id_task_item_status),
  CONSTRAINT fk_task_item_review FOREIGN KEY (review_status) REFERENCES review_status (id_review_status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS task_run (
  operation_uuid CHAR(36) NOT NULL,
  started_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  finished_at DATETIME NULL,
  `trigger` VARCHAR(10) NOT NULL DEFAULT 'cli',
  host VARCHAR(255) NULL,
  pid INT UNSIGNED NULL,
  dry_run TINYINT(1) NOT NULL DEFAULT 0,
  items_ok INT UNSIGNED NOT NULL DEFAULT 0,
  items_error INT UNSIGNED NOT NULL DEFAULT 0,
  message TEXT NULL,
  PRIMARY KEY (operation_uuid),
  KEY idx_task_run_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Request slots of a model shared by every worker process, so that
-- ai_model.requests_per_minute holds however many workers run at once. Times are
-- microseconds since 1970 by the database server's clock. Written only by the worker.
CREATE TABLE IF NOT EXISTS ai_model_pace (
  id_ai_model INT UNSIGNED NOT NULL,
  next_slot_us BIGINT UNSIGNED NOT NULL DEFAULT 0,
  paused_until_us BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id_ai_model),
  CONSTRAINT fk_ai_model_pace_model FOREIGN KEY (id_ai_model) REFERENCES ai_model (id_ai_model) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Cost: prices, levers and budgets (second round). Columns added to an existing
-- database by `ai-worker init-db`: each ALTER TABLE ... ADD COLUMN below runs only
-- when its column is missing (MySQL 5.7 has no ADD COLUMN IF NOT EXISTS).
-- Prices per 1 million tokens in the model's currency; NULL = unknown.
ALTER TABLE ai_model ADD COLUMN price_input DECIMAL(12,6) NULL;
ALTER TABLE ai_model ADD COLUMN price_cached_input DECIMAL(12,6) NULL;
ALTER TABLE ai_model ADD COLUMN price_output DECIMAL(12,6) NULL;
ALTER TABLE ai_model ADD COLUMN currency CHAR(3) NOT NULL DEFAULT 'USD';
-- Levers: Gemini thinkingConfig.thinkingBudget; OpenAI reasoning_effort, service_tier.
ALTER TABLE ai_model ADD COLUMN thinking_budget INT NULL;
ALTER TABLE ai_model ADD COLUMN reasoning_effort VARCHAR(16) NULL;
ALTER TABLE ai_model ADD COLUMN service_tier VARCHAR(16) NULL;
-- The most this model may spend per UTC day, all worker processes together.
ALTER TABLE ai_model ADD COLUMN daily_budget DECIMAL(12,4) NULL;
-- Cached input and thinking/reasoning tokens are part of tokens_input / tokens_output.
ALTER TABLE task ADD COLUMN tokens_cached BIGINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task ADD COLUMN tokens_thinking BIGINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task ADD COLUMN cost DECIMAL(16,6) NULL;
-- The task's budget (set by the panel), and what calls in flight have reserved of it.
ALTER TABLE task ADD COLUMN max_cost DECIMAL(12,4) NULL;
ALTER TABLE task ADD COLUMN cost_reserved DECIMAL(16,6) NOT NULL DEFAULT 0;
ALTER TABLE task_item ADD COLUMN tokens_cached INT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task_item ADD COLUMN tokens_thinking INT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task_item ADD COLUMN cost DECIMAL(16,6) NULL;
ALTER TABLE task_item ADD COLUMN cost_reserved DECIMAL(16,6) NOT NULL DEFAULT 0;
ALTER TABLE task_run ADD COLUMN tokens_input BIGINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task_run ADD COLUMN tokens_output BIGINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task_run ADD COLUMN cost DECIMAL(16,6) NULL;

-- What each model spent per UTC day, and what calls in flight have reserved, so that
-- ai_model.daily_budget holds across worker processes. Written only by the worker.
CREATE TABLE IF NOT EXISTS ai_model_spend (
  id_ai_model INT UNSIGNED NOT NULL,
  day DATE NOT NULL,
  spent DECIMAL(16,6) NOT NULL DEFAULT 0,
  reserved DECIMAL(16,6) NOT NULL DEFAULT 0,
  PRIMARY KEY (id_ai_model, day),
  CONSTRAINT fk_ai_model_spend_model FOREIGN KEY (id_ai_model) REFERENCES ai_model (id_ai_model) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The review loop (second round): the panel writes review_status and review_comment;
-- `ai-worker rework` sends REJECTED items again with the comment, `ai-worker export`
-- writes ACCEPTED results back to their source and records how that went.
ALTER TABLE task_item ADD COLUMN review_comment TEXT NULL;
ALTER TABLE task_item ADD COLUMN export_status TINYINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE task_item ADD COLUMN exported_at DATETIME NULL;
ALTER TABLE task_item ADD COLUMN export_error TEXT NULL;
ALTER TABLE task_item ADD INDEX idx_task_item_review (review_status, export_status, id_task);

-- Long texts and markup (second round).
-- The longest text sent in one call; a longer one is split at paragraph, then sentence
-- boundaries and its parts sent as separate calls. NULL = 8000 characters.
ALTER TABLE ai_model ADD COLUMN max_chunk_chars INT UNSIGNED NULL;
-- Guards a task switches off, comma separated: markup (no masking, no check), length
-- (a translation into a much wordier language). NULL = every guard on.
ALTER TABLE task ADD COLUMN skip_guards VARCHAR(255) NULL;

-- Batch mode (second round): a task's items sent through the provider's Batch API
-- (Gemini batchGenerateContent, OpenAI /v1/batches), billed at a share of the price
-- and answered within 24 h. task.batch: 0 = direct calls, 1 = batch jobs (the items
-- of a job stuck too long wait for the next job), 2 = batch jobs, falling back to
-- direct calls once a job of the task got stuck.
ALTER TABLE task ADD COLUMN batch TINYINT UNSIGNED NOT NULL DEFAULT 0;
-- The share of the normal prices a batch job is billed at; NULL = 0.5 (half price).
ALTER TABLE ai_model ADD COLUMN batch_price_factor DECIMAL(5,4) NULL;
-- One row per provider job. Written only by the worker. state: SUBMITTING (items
-- claimed, the job being created: job_key names it at the provider, so a crash
-- before provider_job_id is stored never creates a second job), RUNNING, CANCELLING,
-- COLLECTED, FAILED, EXPIRED, CANCELLED, ABANDONED (never reached the provider).
CREATE TABLE IF NOT EXISTS ai_batch (
  id_ai_batch INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id_task INT UNSIGNED NOT NULL,
  id_ai_model INT UNSIGNED NOT NULL,
  job_key CHAR(36) NOT NULL,
  provider_job_id VARCHAR(255) NULL,
  state VARCHAR(16) NOT NULL,
  provider_state VARCHAR(40) NULL,
  item_count INT UNSIGNED NOT NULL DEFAULT 0,
  items_ok INT UNSIGNED NOT NULL DEFAULT 0,
  items_error INT UNSIGNED NOT NULL DEFAULT 0,
  items_returned INT UNSIGNED NOT NULL DEFAULT 0,
  cost DECIMAL(16,6) NULL,
  daily_reserved DECIMAL(16,6) NOT NULL DEFAULT 0,
  daily_reserved_day DATE NULL,
  stuck TINYINT(1) NOT NULL DEFAULT 0,
  error_message TEXT NULL,
  operation_uuid CHAR(36) NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  submitted_at DATETIME NULL,
  checked_at DATETIME NULL,
  finished_at DATETIME NULL,
  claimed_until DATETIME NULL,
  PRIMARY KEY (id_ai_batch),
  UNIQUE KEY uq_ai_batch_job_key (job_key),
  KEY idx_ai_batch_state (state, id_task),
  KEY idx_ai_batch_task (id_task, id_ai_batch),
  CONSTRAINT fk_ai_batch_task FOREIGN KEY (id_task) REFERENCES task (id_task) ON DELETE CASCADE,
  CONSTRAINT fk_ai_batch_model FOREIGN KEY (id_ai_model) REFERENCES ai_model (id_ai_model)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- The job an item was last sent in; while the item is PROCESSING it is in that job.
ALTER TABLE task_item ADD COLUMN id_ai_batch INT UNSIGNED NULL;
ALTER TABLE task_item ADD INDEX idx_task_item_batch (id_ai_batch, status_id);

-- Third round: every task at once. The panel (or `ai-worker pause|resume|cancel`)
-- pauses or cancels a task; higher priority runs first, equal priorities share a
-- run's capacity; a model may cap its own calls in flight per process.
INSERT IGNORE INTO task_status (id_task_status, name, description) VALUES
  (4, 'PAUSED', 'Set aside by the panel: nothing is claimed until it is NEW or IN_PROGRESS again'),
  (5, 'CANCELLED', 'Called off by the panel: nothing is claimed; pending items stay pending');
ALTER TABLE task ADD COLUMN priority INT NOT NULL DEFAULT 0;
ALTER TABLE task ADD INDEX idx_task_schedule (status_id, priority, id_task);
ALTER TABLE ai_model ADD COLUMN max_concurrency INT UNSIGNED NULL;

-- Third round: privacy per task: all (the default), identifiers (all but names of
-- people), off. PII_REDACTION=off still turns it off for the whole process.
ALTER TABLE task ADD COLUMN privacy VARCHAR(16) NULL;

-- Third round: kinds of work. kind: proofread, translate, analyze (NULL = inferred
-- from the instruction); output_schema: the JSON Schema of an analysis answer, whose
-- object is saved in task_item.result_json.
ALTER TABLE task ADD COLUMN kind VARCHAR(16) NULL;
ALTER TABLE task ADD COLUMN output_schema TEXT NULL;
ALTER TABLE task_item ADD COLUMN result_json MEDIUMTEXT NULL;

-- Third round: fallback models. A model's fallback (another ai_model row) takes the
-- task's items while the model is unreachable, rate limited past the run's wait, or
-- out of its daily budget; task_item.id_ai_model records the model that made each
-- result.
ALTER TABLE ai_model ADD COLUMN id_fallback_model INT UNSIGNED NULL;
ALTER TABLE task_item ADD COLUMN id_ai_model INT UNSIGNED NULL;

-- Third round: a run's heartbeat, so that a run that died (kill -9, a second Ctrl+C)
-- is shown as ended: the next run closes task_run rows silent for 5 minutes.
ALTER TABLE task_run ADD COLUMN heartbeat_at DATETIME NULL;

-- Third round: cost per item. An item whose text is byte-identical to one already
-- PROCESSED for the same model, kind, instruction and schema is not sent again: it
-- gets that result, 0 tokens and 0 cost, and reused_from names the item it came
-- from. text_hash (SHA-256 of text_original, hex) is written by the worker with each
-- result; a REJECTED result is never reused; task.reuse_results = 0 turns reuse off.
-- task.change_summary: 'model' (NULL, the default: the model writes the summary) or
-- 'diff' (the model is asked for the text only; the worker writes the summary from
-- a word-level diff).
ALTER TABLE task ADD COLUMN reuse_results TINYINT NULL;
ALTER TABLE task ADD COLUMN change_summary VARCHAR(8) NULL;
ALTER TABLE task_item ADD COLUMN text_hash CHAR(64) NULL;
ALTER TABLE task_item ADD COLUMN reused_from INT UNSIGNED NULL;
ALTER TABLE task_item ADD INDEX idx_task_item_text_hash (text_hash);
-- task.pack_max_items: short texts of the task sent together in one request at most
-- (NULL = PACK_MAX_ITEMS of the worker, default 20; 1 = one text per request).
ALTER TABLE task ADD COLUMN pack_max_items INT NULL;

-- Third round: whether api_url is a server of your own (Ollama, vLLM, llama.cpp): 1
-- yes, 0 no (a gateway to OpenAI or Gemini, such as a LiteLLM proxy), NULL = from the
-- address (localhost, a private IP or a one-word host name is one's own).
ALTER TABLE ai_model ADD COLUMN local_server TINYINT NULL;
-- ai_model.pack_max_items: short texts one request to this model carries at most (NULL =
-- the task's pack_max_items or PACK_MAX_ITEMS; 1 = one text per request). The worker
-- sets 1 when the model's packed answers keep missing texts, so later runs do not try.
ALTER TABLE ai_model ADD COLUMN pack_max_items INT NULL;
