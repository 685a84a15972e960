//! One HTTP POST of JSON over `ureq`, and the status-code rules both providers share.

use std::time::Duration;

use super::retry::{parse_proto_duration, parse_retry_after, parse_retry_after_ms};
use super::{AiError, preview};

/// Largest response body read (a correction is at most a few hundred kilobytes).
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Largest batch job result read (50,000 answers of a few kilobytes each).
pub const MAX_BATCH_BODY: u64 = 1024 * 1024 * 1024;

/// Longest wait for a connection to the model's server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as the clients need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Wait named by `retry-after-ms` or `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// `x-should-retry`: the server says whether a retry can help (OpenAI's SDK
    /// honours it both ways).
    pub should_retry: Option<bool>,
    /// Body as text.
    pub body: String,
    /// `Location` of a redirect, if any.
    pub location: Option<String>,
    /// `X-Goog-Upload-URL`: where a Gemini resumable upload goes on.
    pub upload_url: Option<String>,
    /// `X-Goog-Upload-Status`: `final` once a Gemini upload is complete.
    pub upload_status: Option<String>,
}

/// Checks an API address (`ai_model.api_url`, or the endpoint built from it) before
/// any call, so that a typo stops its task with a clear message instead of failing
/// every item after retries. Returns why the address cannot be used.
pub fn check_url(url: &str) -> Result<(), String> {
    let shown = redact_url(url);
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(format!("'{shown}' must start with http:// or https://"));
    }
    if has_userinfo(url) {
        return Err(format!(
            "'{shown}' carries a user name or password before the host: a password in an address ends up in logs and messages; store the key encrypted instead (model update NAME --key-stdin)"
        ));
    }
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|_| format!("'{shown}' is not a valid address"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("'{shown}' has no host name"));
    }
    Ok(())
}

/// Whether an address names a user (and maybe a password) before its host.
pub fn has_userinfo(url: &str) -> bool {
    authority(url).contains('@')
}

/// The address with any user name and password before the host replaced by `***`,
/// so that it can be shown in a message or a log line.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("//") {
        Some((scheme, rest)) => (format!("{scheme}//"), rest),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, tail) = rest.split_at(end);
    match auth.rfind('@') {
        Some(at) => format!("{scheme}***{}{tail}", &auth[at..]),
        None => url.to_string(),
    }
}

/// The part of an address between `//` and the next `/`, `?` or `#`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("//").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

/// The shared HTTP agent: keep-alive connections, status codes returned as values,
/// and no redirects followed: a key is sent to the configured address and nowhere else.
pub fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("ai-worker/", env!("CARGO_PKG_VERSION")))
        // One kept-alive connection per call in flight: a run of thousands of calls
        // must not open a new connection (and leave a TIME_WAIT port) for each.
        .max_idle_connections(crate::config::MAX_CONCURRENCY)
        // Buffers per connection (ureq's default is 128 KiB each way): a request or an
        // answer streams through them, so thousands of connections stay light.
        .input_buffer_size(16 * 1024)
        .output_buffer_size(8 * 1024)
        .max_idle_connections_per_host(crate::config::MAX_CONCURRENCY)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        super::resolver::CachingResolver::default(),
    )
}

/// POSTs `body` as JSON with extra `headers`. Transport failures (timeouts, refused
/// or dropped connections) are transient; a URL that cannot work stops the task.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<Reply, AiError> {
    let payload = body.to_string();
    let body = Body {
        content_type: "application/json",
        bytes: payload.as_bytes(),
    };
    send(agent, "POST", url, headers, Some(body), timeout, MAX_BODY)
}

/// A request body and its content type.
#[derive(Clone, Copy, Debug)]
pub struct Body<'a> {
    /// `Content-Type` header.
    pub content_type: &'a str,
    /// The bytes sent.
    pub bytes: &'a [u8],
}

/// Sends one request (`GET`, or `POST` with or without a body) and reads the reply, as
/// [`post_json`] does: any status is a reply, transport failures are errors.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Body<'_>>,
    timeout: Duration,
    max_body: u64,
) -> Result<Reply, AiError> {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Accept", "application/json");
    if let Some(body) = &body {
        builder = builder.header("Content-Type", body.content_type);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let bytes: &[u8] = body.map_or(&[], |b| b.bytes);
    let request = builder
        .body(bytes)
        .map_err(|e| AiError::Task(format!("cannot build a request to {}: {e}", host_of(url))))?;
    let config = agent
        .configure_request(request)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(CONNECT_TIMEOUT)));
    let response = agent
        .run(config.build())
        .map_err(|e| transport_error(e, url))?;
    read_reply(response, url, max_body)
}

/// The status, the headers the clients use and the body (bounded) of a response.
fn read_reply(
    mut response: ureq::http::Response<ureq::Body>,
    url: &str,
    max_body: u64,
) -> Result<Reply, AiError> {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let retry_after = header("retry-after-ms")
        .and_then(|v| parse_retry_after_ms(&v))
        .or_else(|| header("retry-after").and_then(|v| parse_retry_after(&v, now)));
    let should_retry = match header("x-should-retry").as_deref().map(str::trim) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let location = header("location");
    let upload_url = header("x-goog-upload-url");
    let upload_status = header("x-goog-upload-status");
    let bytes = response
        .body_mut()
        .with_config()
        .limit(max_body)
        .read_to_vec()
        .map_err(|e| transport_error(e, url))?;
    let body = String::from_utf8(bytes).map_err(|_| {
        AiError::transient(format!(
            "the model server answered {status} with a body that is not UTF-8 text"
        ))
    })?;
    Ok(Reply {
        status,
        retry_after,
        should_retry,
        body,
        location,
        upload_url,
        upload_status,
    })
}

/// A failure before any answer, sorted by what it says about the server: one that
/// cannot be reached (refused, reset, no route, a name that does not resolve) is not
/// the item's fault; a model that accepted the request but is slow is.
fn transport_error(err: ureq::Error, url: &str) -> AiError {
    use ureq::Timeout as T;
    let host = host_of(url);
    match err {
        ureq::Error::HostNotFound | ureq::Error::Timeout(T::Resolve) => {
            AiError::Unreachable(format!(
                "the host name {host} cannot be resolved (DNS): check the network, the proxy settings and ai_model.api_url"
            ))
        }
        ureq::Error::Timeout(T::Connect) => {
            AiError::Offline(format!("no answer from {host} while connecting (timeout)"))
        }
        ureq::Error::Timeout(_) => AiError::transient("Timeout"),
        ureq::Error::ConnectionFailed => AiError::Offline(format!("cannot connect to {host}")),
        ureq::Error::Io(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof
                && url.to_ascii_lowercase().starts_with("https://") =>
        {
            AiError::Offline(format!(
                "{host} closed the connection during the TLS handshake (a server that speaks plain HTTP does that: then use http:// in ai_model.api_url)"
            ))
        }
        ureq::Error::Io(e)
            if url.to_ascii_lowercase().starts_with("https://")
                && plain_signs(&format!("{e:?} {e}")) =>
        {
            AiError::Unreachable(format!(
                "{host} answered in plain HTTP, not HTTPS: the server speaks plain HTTP, so use http:// in ai_model.api_url"
            ))
        }
        ureq::Error::Io(e) => io_error(&e, &host),
        ureq::Error::BodyExceedsLimit(_) => AiError::Item("response body too large".into()),
        ureq::Error::BadUri(e) => {
            AiError::Task(format!("ai_model.api_url is not a valid URL: {e}"))
        }
        other if url.to_ascii_lowercase().starts_with("https://") && speaks_plain(&other) => {
            AiError::Unreachable(format!(
                "{host} answered in plain HTTP, not HTTPS: the server speaks plain HTTP, so use http:// in ai_model.api_url"
            ))
        }
        other => AiError::transient(format!("HTTP error: {other}")),
    }
}

/// Whether a TLS failure looks like a plain HTTP answer to a TLS hello.
fn speaks_plain(err: &ureq::Error) -> bool {
    plain_signs(&format!("{err:?} {err}"))
}

fn plain_signs(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "invalidcontenttype",
        "corrupt message",
        "wrong version number",
        "invalidmessage",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

fn io_error(e: &std::io::Error, host: &str) -> AiError {
    use std::io::ErrorKind as K;
    let text = e.to_string().to_ascii_lowercase();
    let dns = [
        "lookup address",
        "name or service not known",
        "no such host",
        "nodename nor servname",
    ];
    if dns.iter().any(|sign| text.contains(sign)) {
        return AiError::Unreachable(format!(
            "the host name {host} cannot be resolved (DNS): check the network, the proxy settings and ai_model.api_url"
        ));
    }
    match e.kind() {
        K::ConnectionRefused => AiError::Offline(format!(
            "{host} refused the connection (is the model server running?)"
        )),
        K::ConnectionReset | K::ConnectionAborted | K::NotConnected | K::BrokenPipe => {
            AiError::Offline(format!("{host} dropped the connection ({e})"))
        }
        K::TimedOut => AiError::Offline(format!("no answer from {host} (timeout)")),
        K::InvalidData => AiError::transient(format!(
            "the model server at {host} sent something that is not valid HTTP or text (if it speaks HTTPS, use https:// in ai_model.api_url)"
        )),
        _ => AiError::Offline(format!("network error talking to {host}: {e}")),
    }
}

/// `host:port` of a URL, for messages (never its path or query).
fn host_of(url: &str) -> String {
    url.parse::<ureq::http::Uri>()
        .ok()
        .and_then(|uri| uri.authority().map(|a| a.as_str().to_string()))
        .unwrap_or_else(|| "the model server".into())
}

/// The `error.message` (and `error.status`/`error.code`) of a Gemini or OpenAI error
/// body, or the body itself when it is not JSON: one readable line, bounded (a Python
/// traceback gives its last line, the exception; its file paths stay out).
pub fn error_message(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return one_line(body);
    };
    let error = value.get("error").unwrap_or(&value);
    let message = error
        .get("message")
        .and_then(|m| m.as_str())
        .map(one_line)
        .unwrap_or_else(|| one_line(body));
    let kind = error
        .get("status")
        .or_else(|| error.get("code"))
        .and_then(|s| s.as_str());
    match kind {
        Some(kind) => format!("{kind}: {message}"),
        None => message,
    }
}

/// The line of a message worth storing: the exception of a traceback, else the first.
fn one_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = if text.contains("Traceback (most recent call last)") {
        lines.next_back()
    } else {
        lines.next()
    };
    preview(line.unwrap_or_default())
}

/// A Gemini `google.rpc.RetryInfo` `retryDelay` in an error body, if any.
pub fn body_retry_delay(body: &str) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value
        .get("error")?
        .get("details")?
        .as_array()?
        .iter()
        .find_map(|d| d.get("retryDelay").and_then(|r| r.as_str()))
        .and_then(parse_proto_duration)
}

/// Removes anything that looks like an API key from a message that will be logged or
/// stored (OpenAI echoes part of a wrong key back in its 401 message).
pub fn scrub(message: &str, key: Option<&str>) -> String {
    let mut out = message.to_string();
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        out = out.replace(key, "[key]");
    }
    let words: Vec<String> = out
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            let looks_like_key = (bare.starts_with("sk-") && bare.len() > 8)
                || (bare.starts_with("AIza") && bare.len() > 20);
            if looks_like_key {
                word.replace(bare, "[key]")
            } else {
                word.to_string()
            }
        })
        .collect();
    words.join(" ")
}

/// A transport error with anything that looks like a key taken out of its message.
pub fn scrub_error(err: AiError, key: Option<&str>) -> AiError {
    match err {
        AiError::Transient {
            message,
            retry_after,
            rate_limited,
        } => AiError::Transient {
            message: scrub(&message, key),
            retry_after,
            rate_limited,
        },
        AiError::Offline(m) => AiError::Offline(scrub(&m, key)),
        AiError::Unreachable(m) => AiError::Unreachable(scrub(&m, key)),
        other => other,
    }
}

/// The host (and scheme) a redirect points to, never its path or query.
fn redirect_target(location: Option<&str>) -> String {
    let Some(location) = location else {
        return "an address it did not name".into();
    };
    match location.parse::<ureq::http::Uri>() {
        Ok(uri) if uri.host().is_some() => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str())
        ),
        _ => "another path on the same server".into(),
    }
}

/// Turns a non-200 reply into the error the worker acts on. `label` names the provider.
pub fn classify_status(label: &str, reply: &Reply, key: Option<&str>) -> AiError {
    let message = scrub(&error_message(&reply.body), key);
    match (
        reply.should_retry,
        classify_by_status(label, reply, &message),
    ) {
        (Some(false), AiError::Transient { message, .. }) => AiError::Item(format!(
            "{message} (the server said not to retry: x-should-retry: false)"
        )),
        (Some(true), AiError::Item(message)) => AiError::Transient {
            message: format!("{message} (the server asked for a retry: x-should-retry: true)"),
            retry_after: reply.retry_after,
            rate_limited: false,
        },
        (_, error) => error,
    }
}

/// What a status says, before `x-should-retry` has its word.
fn classify_by_status(label: &str, reply: &Reply, message: &str) -> AiError {
    let status = reply.status;
    match status {
        300..=399 => AiError::Task(format!(
            "{label} API answered with a redirect ({status}) to {}; ai-worker never follows redirects, so the key is sent to the configured address only (set ai_model.api_url to the final address)",
            redirect_target(reply.location.as_deref())
        )),
        401 | 403 => AiError::Task(format!(
            "{label} API rejected the request ({status}): {message} (check the model's API key)"
        )),
        404 => AiError::Task(format!(
            "{label} API: model or endpoint not found (404): {message} (check ai_model.model_name and api_url)"
        )),
        429 if reply.body.contains("insufficient_quota") => AiError::Task(format!(
            "{label} API: account has no credit left (429): {message}"
        )),
        429 => AiError::Transient {
            message: format!("{label} API rate limit (429): {message}"),
            retry_after: reply.retry_after.or_else(|| body_retry_delay(&reply.body)),
            rate_limited: true,
        },
        408 | 409 | 500..=599 => AiError::Transient {
            message: format!("{label} API error ({status}): {message}"),
            retry_after: reply.retry_after,
            rate_limited: false,
        },
        _ => AiError::Item(format!(
            "{label} API refused the request ({status}): {message}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_an_address_is_never_shown() {
        let url = "http://user:s3cret@proxy.local:8080/v1?x=1";
        assert!(has_userinfo(url));
        assert_eq!(redact_url(url), "http://***@proxy.local:8080/v1?x=1");
        let err = check_url(url).unwrap_err();
        assert!(
            !err.contains("s3cret") && err.contains("***@proxy.local"),
            "{err}"
        );
        assert_eq!(
            redact_url("https://api.openai.com/v1"),
            "https://api.openai.com/v1"
        );
        assert!(!has_userinfo("http://127.0.0.1:11434/v1?user=a@b"));
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            retry_after: None,
            should_retry: None,
            body: body.into(),
            location: None,
            upload_url: None,
            upload_status: None,
        }
    }

    #[test]
    fn statuses_map_to_actions() {
        let gemini_err = r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
        assert!(
            matches!(classify_status("Gemini", &reply(400, gemini_err), None), AiError::Item(m) if m.contains("INVALID_ARGUMENT: bad"))
        );
        assert!(matches!(
            classify_status("Gemini", &reply(401, "{}"), None),
            AiError::Task(_)
        ));
        assert!(matches!(
            classify_status("Gemini", &reply(403, "{}"), None),
            AiError::Task(_)
        ));
        assert!(matches!(
            classify_status("Gemini", &reply(404, "{}"), None),
            AiError::Task(_)
        ));
        for s in [429, 500, 503, 504] {
            assert!(
                matches!(
                    classify_status("Gemini", &reply(s, "{}"), None),
                    AiError::Transient { .. }
                ),
                "{s}"
            );
        }
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert!(matches!(
            classify_status("OpenAI", &reply(429, quota), None),
            AiError::Task(_)
        ));
    }

    #[test]
    fn gemini_retry_delay_in_the_body_is_honoured() {
        let body = r#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"34s"}]}}"#;
        match classify_status("Gemini", &reply(429, body), None) {
            AiError::Transient {
                retry_after,
                rate_limited,
                ..
            } => {
                assert_eq!(retry_after, Some(Duration::from_secs(34)));
                assert!(rate_limited);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_are_scrubbed_from_messages() {
        let msg = "Incorrect API key provided: sk-proj-abcdef123456. You can find your key";
        assert!(!scrub(msg, None).contains("abcdef123456"));
        assert_eq!(
            scrub("key SECRET123 bad", Some("SECRET123")),
            "key [key] bad"
        );
        let e = classify_status(
            "OpenAI",
            &reply(
                401,
                r#"{"error":{"message":"Incorrect API key provided: sk-live-XYZXYZXYZ1."}}"#,
            ),
            Some("sk-live-XYZXYZXYZ1"),
        );
        assert!(!e.to_string().contains("XYZXYZ"), "{e}");
    }

    #[test]
    fn unreachable_servers_are_named_and_dns_is_not_retried() {
        let url = "http://llm.internal:8000/v1/chat/completions";
        match transport_error(ureq::Error::HostNotFound, url) {
            AiError::Unreachable(m) => {
                assert!(
                    m.contains("llm.internal:8000") && m.contains("proxy"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        match transport_error(ureq::Error::Io(refused), url) {
            AiError::Offline(m) => assert!(m.contains("llm.internal:8000 refused"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            transport_error(ureq::Error::Timeout(ureq::Timeout::Global), url),
            AiError::Transient { .. }
        ));
    }

    #[test]
    fn tracebacks_give_their_last_line_and_no_paths() {
        let body = "Traceback (most recent call last):\n  File \"/usr/lib/python3/site-packages/llama_cpp/server/app.py\", line 380, in create_chat_completion\n    raise ValueError(x)\nValueError: Input should be 'text' or 'json_object'\n";
        let message = error_message(body);
        assert_eq!(
            message,
            "ValueError: Input should be 'text' or 'json_object'"
        );
        let json = serde_json::json!({"error": {"message": body, "code": "500"}}).to_string();
        let message = error_message(&json);
        assert!(
            !message.contains("/usr/lib") && message.contains("ValueError"),
            "{message}"
        );
        assert!(error_message(&"x".repeat(5000)).chars().count() <= 201);
    }

    #[test]
    fn non_json_error_bodies_are_previewed() {
        assert_eq!(
            error_message("<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
    }

    #[test]
    fn api_addresses_are_checked_before_any_call() {
        for good in [
            "http://127.0.0.1:11434/v1/chat/completions",
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent",
            "http://[::1]:8000/v1",
            "http://ollama.local/v1",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("not a url", "http://"),
            ("127.0.0.1:11434/v1", "http://"),
            ("ftp://host/v1", "http://"),
            ("http:///v1", "not a valid address"),
            (
                "https://host/models/gemini 2.5:generateContent",
                "not a valid address",
            ),
        ] {
            let err = check_url(bad).unwrap_err();
            assert!(err.contains(why) && err.contains(bad), "{bad}: {err}");
        }
    }
}
