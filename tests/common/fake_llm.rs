//! A fake LLM HTTP server on 127.0.0.1 speaking the Gemini and OpenAI wire formats.
//! Each test gives it a handler that decides the reply to every request; the server
//! records every request so tests can check exactly what left the worker.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Request {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The item text between `<text>` markers of the user message (Gemini or OpenAI).
    pub fn item_text(&self) -> String {
        ai_worker::internals::extract_text(&self.user())
            .unwrap_or_default()
            .to_string()
    }

    /// The user message (Gemini or OpenAI).
    pub fn user(&self) -> String {
        let v = self.json();
        v.pointer("/contents/0/parts/0/text")
            .or_else(|| v.pointer("/messages/1/content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// The texts of a packed request, by id (empty for a single text).
    pub fn packed_texts(&self) -> Vec<(String, String)> {
        ai_worker::internals::extract_texts(&self.user())
            .into_iter()
            .map(|(id, text)| (id, text.to_string()))
            .collect()
    }
}

/// What the server answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (to provoke client timeouts).
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }
}

/// A successful Gemini answer.
pub fn gemini_ok(
    text_corrected: &str,
    summary: &str,
    tokens_in: u64,
    tokens_out: u64,
    thoughts: u64,
) -> Reply {
    let answer = json!({"text_corrected": text_corrected, "change_summary": summary}).to_string();
    Reply::new(
        200,
        json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": tokens_in, "candidatesTokenCount": tokens_out,
                              "thoughtsTokenCount": thoughts, "totalTokenCount": tokens_in + tokens_out + thoughts},
            "modelVersion": "gemini-2.5-pro"
        })
        .to_string(),
    )
}

/// A Gemini error body.
pub fn gemini_error(code: u16, status: &str, message: &str) -> Reply {
    Reply::new(
        code,
        json!({"error": {"code": code, "message": message, "status": status}}).to_string(),
    )
}

/// A successful OpenAI Chat Completions answer.
pub fn openai_ok(text_corrected: &str, summary: &str, tokens_in: u64, tokens_out: u64) -> Reply {
    let answer = json!({"text_corrected": text_corrected, "change_summary": summary}).to_string();
    Reply::new(
        200,
        json!({
            "id": "chatcmpl-test", "object": "chat.completion", "model": "gpt-5",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": null}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out,
                      "completion_tokens_details": {"reasoning_tokens": tokens_out / 2}}
        })
        .to_string(),
    )
}

/// An OpenAI error body.
pub fn openai_error(code: u16, kind: &str, message: &str) -> Reply {
    Reply::new(
        code,
        json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})
            .to_string(),
    )
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// The running server; stops when dropped.
pub struct FakeLlm {
    pub base_url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FakeLlm {
    /// A Gemini fake that bills like the providers do, about a token per 4 characters:
    /// the request's prompt in, the answer out (packed requests answered entry by entry).
    pub fn gemini_billing() -> FakeLlm {
        FakeLlm::start(|req, _| {
            let body = req.json();
            let prompt_chars = body["systemInstruction"].to_string().chars().count()
                + body["contents"].to_string().chars().count()
                + body["generationConfig"]["responseSchema"]
                    .to_string()
                    .chars()
                    .count();
            let asks_summary = body["generationConfig"]["responseSchema"]
                .to_string()
                .contains("change_summary");
            let fix = |text: &str| {
                let mut entry = serde_json::json!({"text_corrected": text.replace("bład", "błąd")});
                if asks_summary {
                    entry["change_summary"] =
                        "Poprawiono jeden błąd ortograficzny w słowie bład na błąd.".into();
                }
                entry
            };
            let packed = req.packed_texts();
            let answer = if packed.is_empty() {
                fix(&req.item_text())
            } else {
                let items: Vec<serde_json::Value> = packed
                    .iter()
                    .map(|(id, text)| {
                        let mut entry = fix(text);
                        entry["id"] = id.clone().into();
                        entry
                    })
                    .collect();
                serde_json::json!({ "items": items })
            }
            .to_string();
            Reply::new(
                200,
                serde_json::json!({
                    "candidates": [{"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP"}],
                    "usageMetadata": {"promptTokenCount": prompt_chars / 4, "candidatesTokenCount": answer.chars().count() / 4}
                })
                .to_string(),
            )
        })
    }

    /// Starts a server whose `handler` gets each request and its 0-based call number.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> FakeLlm {
        FakeLlm::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), handler)
    }

    /// Starts a server on `listener` (a port chosen by the test, for example one that
    /// was closed a moment ago).
    pub fn start_on(
        listener: TcpListener,
        handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> FakeLlm {
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (requests, stop) = (requests.clone(), stop.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, handler) = (requests.clone(), handler.clone());
                    thread::spawn(move || serve_connection(stream, &requests, &*handler));
                }
            });
        }
        FakeLlm {
            base_url: format!("http://127.0.0.1:{port}/v1beta"),
            requests,
            stop,
            port,
        }
    }

    /// A Gemini server answering every item with its own text plus a fixed summary.
    pub fn gemini_echo() -> FakeLlm {
        FakeLlm::start(|req, _| gemini_ok(&req.item_text(), "Poprawiono interpunkcję.", 100, 20, 5))
    }

    /// A Gemini server that answers every item after `delay` (to keep a run busy) and
    /// reports each request on the returned channel as it arrives.
    pub fn gemini_slow(delay: Duration) -> (FakeLlm, std::sync::mpsc::Receiver<()>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let llm = FakeLlm::start(move |req, _| {
            let _ = tx.lock().unwrap().send(());
            gemini_ok(&req.item_text(), "ok", 3, 2, 1).delayed(delay)
        });
        (llm, rx)
    }

    /// The base URL for an OpenAI-style model row.
    pub fn openai_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests carried each item text.
    pub fn calls_per_text(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.requests() {
            *counts.entry(r.item_text()).or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_connection(stream: TcpStream, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    // Answers go out at once on a kept-alive connection (no Nagle delay).
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Request {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let index = {
            let mut all = requests.lock().unwrap();
            all.push(request.clone());
            all.len() - 1
        };
        let reply = handler(&request, index);
        if let Some(delay) = reply.delay {
            thread::sleep(delay);
        }
        let mut out = format!(
            "HTTP/1.1 {} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply.body);
        if writer.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}
