//! `Client::send`: one item's prompt to the task's model, through the run's rate gate
//! and retry rules, dispatched to Gemini, an OpenAI-compatible server, or echo.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use super::http::{Reply, check_url, classify_status, post_json, scrub};
use super::openai::{JsonMode, OutputLimit};
use super::prompt_builder::{Prompt, Shape, extract_text};
use super::retry::{Attempts, Breaker, RateGate, RetryPolicy, SharedPace};
use super::spec::{CallSettings, Generation, ModelSpec, Provider, Structured};
use super::{AiError, Completion, Usage, gemini, openai, parse_answer};
use crate::stop::StopSignal;

/// The temperature proofreading and translation go out with when the model row sets
/// none (and the model takes one).
const CORRECTION_TEMPERATURE: f64 = 0.2;
/// The `frequency_penalty` a server of one's own gets on a retry after its answer ran
/// into a loop: enough to break "więc więc więc…", mild enough for a text's own
/// repeated words (OpenAI's scale, -2 to 2, which llama.cpp, vLLM and Ollama share).
const LOOP_FREQUENCY_PENALTY: f64 = 0.5;

/// Summary the echo provider saves, so nobody mistakes it for a correction.
pub const ECHO_SUMMARY: &str = "echo provider: no model was called";

/// The echo provider's answer: the text itself (an analysis: the text as the answer,
/// an empty object for an output schema).
fn echo(prompt: &Prompt) -> Completion {
    let text = extract_text(&prompt.user).unwrap_or_default().to_string();
    match &prompt.shape {
        Shape::Correction | Shape::TextOnly => Completion {
            text_corrected: text,
            change_summary: ECHO_SUMMARY.to_string(),
            result: None,
        },
        Shape::Answer => Completion {
            text_corrected: text,
            change_summary: String::new(),
            result: None,
        },
        Shape::Object(_) => Completion {
            text_corrected: String::new(),
            change_summary: String::new(),
            result: Some(serde_json::json!({})),
        },
        Shape::Pack(inner) => {
            let items: Vec<serde_json::Value> = super::prompt_builder::extract_texts(&prompt.user)
                .into_iter()
                .map(|(id, text)| {
                    let mut entry = match inner.as_ref() {
                        Shape::Object(_) => serde_json::json!({"result": {}}),
                        Shape::Answer => serde_json::json!({"answer": text}),
                        _ => serde_json::json!({"text_corrected": text, "change_summary": ECHO_SUMMARY}),
                    };
                    entry["id"] = serde_json::json!(id);
                    entry
                })
                .collect();
            Completion {
                text_corrected: String::new(),
                change_summary: String::new(),
                result: Some(serde_json::Value::Array(items)),
            }
        }
    }
}

/// The output limit sent to a server of your own when the model sets none: the
/// answer repeats the text, so about twice its tokens plus room for the JSON and the
/// summary is plenty, and a rambling small model stops there instead of at its
/// context window.
fn default_output_cap(prompt: &Prompt) -> u32 {
    let text_chars = extract_text(&prompt.user).map_or(prompt.user.len(), |t| t.chars().count());
    (text_chars as u32 / 2).saturating_add(512)
}

/// A ready-to-use connection to one model, shared by every thread of a run.
pub struct Client {
    provider: Provider,
    model_name: String,
    url: String,
    key: Option<String>,
    generation: Generation,
    timeout: Duration,
    /// The JSON mode in use (`JsonMode` as a number) and whether it may step down.
    json_mode: AtomicU8,
    detect_json_mode: bool,
    stepped_down: AtomicBool,
    /// The model's address is a server of your own (not OpenAI's or Google's).
    own_server: bool,
    agent: ureq::Agent,
    policy: RetryPolicy,
    gate: RateGate,
    breaker: Breaker,
}

impl Client {
    /// Prepares a client for a model. An error here (an unusable address, a missing
    /// key) stops the task with that message.
    pub fn new(
        spec: &ModelSpec,
        settings: CallSettings,
        agent: ureq::Agent,
    ) -> Result<Client, String> {
        let url = endpoint(spec)?;
        if let (Provider::Gemini, Some(budget)) = (spec.provider, spec.generation.thinking_budget) {
            gemini::check_thinking_budget(&spec.model_name, budget).map_err(|why| {
                format!("model '{}': {why} (ai_model.thinking_budget)", spec.name)
            })?;
        }
        let needs_key = match spec.provider {
            Provider::Gemini => true,
            // A self-hosted OpenAI-compatible server (Ollama, vLLM) usually has no key.
            Provider::OpenAi => custom_url(spec).is_none(),
            Provider::Echo => false,
        };
        if spec.key.is_none() && needs_key {
            return Err(format!(
                "no API key for model '{}': store one with `ai-worker model update {} --key-stdin` or set {} in .env",
                spec.name,
                spec.name,
                spec.provider.key_env().unwrap_or_default()
            ));
        }
        let (json_mode, detect_json_mode) = match spec.structured {
            Structured::Schema => (JsonMode::Schema, false),
            Structured::Object => (JsonMode::Object, false),
            Structured::Plain => (JsonMode::Plain, false),
            Structured::Detect => (JsonMode::Schema, true),
        };
        let own_server = spec.is_local_server();
        let mut generation = spec.generation.clone();
        generation.own_server = own_server;
        Ok(Client {
            provider: spec.provider,
            model_name: spec.model_name.clone(),
            url,
            key: spec.key.clone(),
            generation,
            timeout: timeout_for(spec, settings.timeout),
            json_mode: AtomicU8::new(mode_number(json_mode)),
            detect_json_mode,
            stepped_down: AtomicBool::new(false),
            own_server,
            agent,
            policy: settings.retry,
            gate: RateGate::new(spec.requests_per_minute),
            breaker: Breaker::default(),
        })
    }

    /// Takes request slots shared with other worker processes (see [`SharedPace`]).
    pub fn share_pace(&mut self, shared: Box<dyn SharedPace>) {
        self.gate.share(shared);
    }

    /// Sends one prompt, retrying what is worth retrying; an answer that `check`
    /// rejects (for example one that lost a personal-data placeholder) is retried like
    /// any other bad answer. Errors are `Item` (this item failed), `Task` (stop the
    /// task) or `Stopped` (the run is stopping).
    /// `keep_alive` runs before every wait and retry (the engine renews the item's
    /// claim there); false means the item was taken over and no more calls are made.
    /// Every call's tokens are added to `spent`, whether its answer is accepted or not.
    /// An answer that cannot be used is asked again with a note saying why (and, where
    /// the model allows it, a little more temperature), so a retry is not a repeat.
    pub fn send<T>(
        &self,
        prompt: &Prompt,
        stop: &StopSignal,
        keep_alive: &mut dyn FnMut() -> bool,
        spent: &mut Usage,
        accept: impl Fn(Completion) -> Result<T, String>,
    ) -> Result<T, AiError> {
        let label = self.provider.label();
        let attempts = Attempts {
            policy: &self.policy,
            gate: &self.gate,
            breaker: &self.breaker,
            stop,
            label,
        };
        let mut repair: Option<String> = None;
        attempts.run(keep_alive, || {
            let asked = match &repair {
                Some(why) => prompt.with_repair_note(why),
                None => prompt.clone(),
            };
            log::info!("[{label}] Sent prompt: {} chars", asked.chars());
            let answer = self
                .call_once(&asked, spent, repair.as_deref())
                .and_then(|completion| {
                    let leaked = repair.as_deref().and_then(|why| {
                        prompt.repeated_note(why, &completion.text_corrected)
                    });
                    match leaked {
                        Some(clause) => Err(format!(
                            "the answer repeats the worker's note to the model (\"{}\") instead of being the text",
                            crate::ai::preview_of(clause, 60)
                        )),
                        None => accept(completion),
                    }
                    .map_err(AiError::BadAnswer)
                });
            if let Err(AiError::BadAnswer(why)) = &answer {
                repair = Some(why.clone());
            }
            answer
        })
    }

    /// The JSON mode this client stepped down to, if it did: worth remembering for
    /// the model (`ai_model.structured_output`), so later runs do not probe again.
    pub fn detected_json_mode(&self) -> Option<Structured> {
        if !self.stepped_down.load(Ordering::Relaxed) {
            return None;
        }
        Some(match self.json_mode() {
            JsonMode::Schema => Structured::Schema,
            JsonMode::Object => Structured::Object,
            JsonMode::Plain => Structured::Plain,
        })
    }

    fn call_once(
        &self,
        prompt: &Prompt,
        spent: &mut Usage,
        repair: Option<&str>,
    ) -> Result<Completion, AiError> {
        let settings = self.settings_for(prompt, repair);
        match self.provider {
            Provider::Echo => Ok(echo(prompt)),
            Provider::Gemini => {
                let body = gemini::request_body(prompt, &settings);
                let headers: Vec<(&str, &str)> = self
                    .key
                    .iter()
                    .map(|k| ("x-goog-api-key", k.as_str()))
                    .collect();
                let reply = self.post(&body, &headers)?;
                spent.add(gemini::usage(&reply.body));
                parse_answer(&gemini::parse_response(&reply.body)?, &prompt.shape)
            }
            Provider::OpenAi => self.call_openai(prompt, &settings, spent),
        }
    }

    /// The request settings for one call: a default output cap for servers of your own,
    /// and on a retry after a bad answer (`repair` says why) a temperature step (not
    /// for OpenAI's reasoning models, which refuse any but the default); after a loop,
    /// a server of one's own also gets a frequency penalty.
    fn settings_for(&self, prompt: &Prompt, repair: Option<&str>) -> Generation {
        let retrying = repair.is_some();
        let mut settings = self.generation.clone();
        if self.own_server && repair.is_some_and(super::runaway::is_loop) {
            settings.frequency_penalty = Some(LOOP_FREQUENCY_PENALTY);
        }
        if self.own_server && settings.max_output_tokens.is_none() {
            settings.max_output_tokens = Some(default_output_cap(prompt));
        }
        let fixed_temperature = self.temperature_is_fixed();
        if settings.temperature.is_none()
            && !fixed_temperature
            && matches!(prompt.shape, Shape::Correction | Shape::TextOnly)
        {
            // Proofreading and translation want the likeliest wording, not variety.
            settings.temperature = Some(CORRECTION_TEMPERATURE);
        }
        if retrying && !fixed_temperature {
            let t = settings.temperature.unwrap_or(CORRECTION_TEMPERATURE);
            // Tenths, so the request says 0.4, not 0.30000000000000004.
            settings.temperature = Some(((t + 0.2).min(1.0) * 10.0).round() / 10.0);
        }
        settings
    }

    /// Models whose temperature is better left alone: OpenAI's reasoning models refuse
    /// any but the default, and Google asks to keep Gemini 3 at its default (1.0),
    /// below which it tends to loop.
    fn temperature_is_fixed(&self) -> bool {
        let name = self.model_name.trim().to_ascii_lowercase();
        match self.provider {
            Provider::OpenAi => openai::is_reasoning_model(&name),
            Provider::Gemini => name.starts_with("gemini-3") || name.contains("/gemini-3"),
            Provider::Echo => false,
        }
    }

    /// Which output limit a request with `settings` carries.
    fn output_limit(&self, settings: &Generation) -> OutputLimit {
        match (
            self.generation.max_output_tokens,
            settings.max_output_tokens,
        ) {
            (Some(n), _) => OutputLimit::Model(n),
            (None, Some(n)) => OutputLimit::DefaultCap(n),
            (None, None) => OutputLimit::Server,
        }
    }

    fn json_mode(&self) -> JsonMode {
        match self.json_mode.load(Ordering::Relaxed) {
            1 => JsonMode::Schema,
            2 => JsonMode::Object,
            _ => JsonMode::Plain,
        }
    }

    /// Sends an OpenAI-style request; a server that rejects the `response_format` it
    /// was sent (with any status: llama-cpp-python answers 500) is offered the next
    /// plainer one at once, without using up a retry.
    fn call_openai(
        &self,
        prompt: &Prompt,
        settings: &Generation,
        spent: &mut Usage,
    ) -> Result<Completion, AiError> {
        let bearer = self.key.as_ref().map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("Authorization", b.as_str()))
            .collect();
        loop {
            let mode = self.json_mode();
            let body = openai::request_body(&self.model_name, prompt, settings, mode);
            let reply = self.post_any(&body, &headers)?;
            if reply.status == 200 {
                spent.add(openai::usage(&reply.body));
                let text = openai::parse_response(&reply.body, &self.output_limit(settings))?;
                return parse_answer(&text, &prompt.shape);
            }
            let rejected = self.detect_json_mode && openai::rejects_response_format(&reply.body);
            match mode.step_down().filter(|_| rejected) {
                Some(next) => self.step_down(mode, next),
                None => return Err(self.status_error(&reply)),
            }
        }
    }

    /// Moves from `from` to `next` (once, however many threads saw the rejection).
    fn step_down(&self, from: JsonMode, next: JsonMode) {
        let moved = self.json_mode.compare_exchange(
            mode_number(from),
            mode_number(next),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        if moved.is_ok() {
            self.stepped_down.store(true, Ordering::Relaxed);
            log::warn!(
                "[OpenAI] The server rejected response_format {from:?} for model {}; using {next:?} from now on (remembered in ai_model.structured_output)",
                self.model_name
            );
        }
    }

    /// POSTs and turns any status but 200 into an error.
    fn post(&self, body: &serde_json::Value, headers: &[(&str, &str)]) -> Result<Reply, AiError> {
        let reply = self.post_any(body, headers)?;
        if reply.status == 200 {
            Ok(reply)
        } else {
            Err(self.status_error(&reply))
        }
    }

    /// POSTs; transport failures are errors (without the key), any status is a reply.
    fn post_any(
        &self,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Result<Reply, AiError> {
        let key = self.key.as_deref();
        let label = self.provider.label();
        let reply = post_json(&self.agent, &self.url, headers, body, self.timeout);
        match &reply {
            Ok(r) => crate::metrics::request(label, &r.status.to_string()),
            Err(_) => crate::metrics::request(label, "error"),
        }
        reply.map_err(|e| super::http::scrub_error(e, key))
    }

    /// The error a reply that is not 200 means; its full body goes to the debug log.
    fn status_error(&self, reply: &Reply) -> AiError {
        let key = self.key.as_deref();
        log::debug!(
            "[{}] HTTP {} body: {}",
            self.provider.label(),
            reply.status,
            scrub(&reply.body, key)
        );
        classify_status(self.provider.label(), reply, key)
    }
}

fn mode_number(mode: JsonMode) -> u8 {
    match mode {
        JsonMode::Schema => 1,
        JsonMode::Object => 2,
        JsonMode::Plain => 0,
    }
}

/// The model's address stripped of blanks, when `api_url` sets one.
fn custom_url(spec: &ModelSpec) -> Option<&str> {
    spec.api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
}

/// The full endpoint of a model, checked before any call so that a typo stops its
/// task with a clear message instead of failing every item after retries.
fn endpoint(spec: &ModelSpec) -> Result<String, String> {
    let custom = custom_url(spec);
    let name = spec.model_name.trim();
    if spec.provider != Provider::Echo
        && (name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(format!(
            "model '{}' cannot be called: a model name is one word without spaces (check ai_model.model_name '{}')",
            spec.name, spec.model_name
        ));
    }
    let url = match spec.provider {
        Provider::Gemini => {
            gemini::endpoint(custom.unwrap_or(gemini::DEFAULT_BASE_URL), &spec.model_name)
        }
        Provider::OpenAi => openai::endpoint(custom.unwrap_or(openai::DEFAULT_BASE_URL)),
        Provider::Echo => return Ok(String::new()),
    };
    if let Some(custom) = custom {
        check_url(custom).map_err(|why| {
            format!(
                "model '{}' has an unusable ai_model.api_url: {why} (for example http://127.0.0.1:11434/v1)",
                spec.name
            )
        })?;
    }
    check_url(&url).map_err(|why| {
        format!(
            "model '{}' cannot be called: {why} (check ai_model.model_name '{}')",
            spec.name, spec.model_name
        )
    })?;
    Ok(url)
}

/// A call's timeout: the model's, else the configured one; OpenAI's flex tier answers
/// slowly and gets three times as long.
fn timeout_for(spec: &ModelSpec, default: Duration) -> Duration {
    let timeout = spec.timeout.unwrap_or(default);
    match spec.generation.service_tier.as_deref() {
        Some(tier) if tier.eq_ignore_ascii_case("flex") => timeout * 3,
        _ => timeout,
    }
}
