//! Reading one HTTP request from a socket, with hard limits: the head is parsed by
//! `httparse`, at most 8 KiB; the body at most 64 KiB, with a Content-Length; the
//! whole request must arrive before a deadline, so a slow client cannot hold a thread.

use std::io::Read;
use std::time::{Duration, Instant};

/// Largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Most headers accepted.
const MAX_HEADERS: usize = 32;

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string, without its `?` (empty without one).
    pub query: String,
    /// `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body (empty without one).
    pub body: Vec<u8>,
}

/// Why a request could not be read; each maps to a status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The connection closed before a whole request arrived (nothing is answered).
    Closed,
    /// Not HTTP/1.x, or a malformed head (400).
    Malformed(String),
    /// Head larger than 8 KiB (431).
    HeadTooLarge,
    /// A chunked body (411: a Content-Length is required).
    LengthRequired,
    /// Body larger than 64 KiB (413).
    BodyTooLarge,
    /// The request did not arrive in time (408).
    Timeout,
}

impl RequestError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Closed | RequestError::Malformed(_) => 400,
            RequestError::HeadTooLarge => 431,
            RequestError::LengthRequired => 411,
            RequestError::BodyTooLarge => 413,
            RequestError::Timeout => 408,
        }
    }

    /// A message for the JSON error body.
    pub fn message(&self) -> String {
        match self {
            RequestError::Closed => "connection closed".into(),
            RequestError::Malformed(m) => format!("malformed request: {m}"),
            RequestError::HeadTooLarge => format!("request head larger than {MAX_HEAD} bytes"),
            RequestError::LengthRequired => {
                "a request body needs a Content-Length header (chunked bodies are not accepted)"
                    .into()
            }
            RequestError::BodyTooLarge => format!("request body larger than {MAX_BODY} bytes"),
            RequestError::Timeout => "the request did not arrive in time".into(),
        }
    }
}

/// What parsing the bytes received so far found.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// More bytes are needed.
    Partial,
    /// A whole head of `len` bytes; the body has `content_length` bytes.
    Complete {
        /// Method.
        method: String,
        /// Path without query.
        path: String,
        /// The query string without its `?`.
        query: String,
        /// Authorization header.
        authorization: Option<String>,
        /// Declared body length (None if absent).
        content_length: Option<usize>,
        /// Bytes of the head.
        len: usize,
    },
}

/// Parses a request head from `buf`. Never panics, whatever the bytes.
pub fn parse_head(buf: &[u8]) -> Result<Head, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req
        .parse(buf)
        .map_err(|e| RequestError::Malformed(e.to_string()))?;
    let len = match status {
        httparse::Status::Partial => {
            return if buf.len() >= MAX_HEAD {
                Err(RequestError::HeadTooLarge)
            } else {
                Ok(Head::Partial)
            };
        }
        httparse::Status::Complete(len) => len,
    };
    if len > MAX_HEAD {
        return Err(RequestError::HeadTooLarge);
    }
    let method = req.method.unwrap_or_default().to_string();
    let target = req.path.unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_string(), query.to_string());
    let mut authorization = None;
    let mut content_length = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("authorization") {
            authorization = Some(String::from_utf8_lossy(h.value).trim().to_string());
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| RequestError::Malformed("invalid Content-Length".into()))?;
            content_length = Some(value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::LengthRequired);
        }
    }
    Ok(Head::Complete {
        method,
        path,
        query,
        authorization,
        content_length,
        len,
    })
}

/// Reads one request from `stream`: the head by `head_deadline` (then `head_done` is
/// called), the whole request by `deadline`.
pub fn read_request(
    stream: &mut impl Read,
    head_deadline: Instant,
    deadline: Instant,
    set_timeout: &mut dyn FnMut(Duration),
    head_done: &mut dyn FnMut(Option<&str>) -> bool,
) -> Result<Request, RequestError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let (method, (path, query), authorization, content_length, head_len) = loop {
        if let Head::Complete {
            method,
            path,
            query,
            authorization,
            content_length,
            len,
        } = parse_head(&buf)?
        {
            break (method, (path, query), authorization, content_length, len);
        }
        let n = read_some(stream, &mut chunk, head_deadline.min(deadline), set_timeout)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    // A request without the right token is answered (401) without reading its body:
    // a client that opens connections and trickles bodies holds no slot for long.
    if !head_done(authorization.as_deref()) {
        return Ok(Request {
            method,
            path,
            query,
            authorization,
            body: Vec::new(),
        });
    }
    // No Content-Length (and no Transfer-Encoding, refused above) means no body.
    let body_len = match content_length {
        Some(n) if n > MAX_BODY => return Err(RequestError::BodyTooLarge),
        Some(n) => n,
        None => 0,
    };
    let mut body = buf.split_off(head_len.min(buf.len()));
    while body.len() < body_len {
        let n = read_some(stream, &mut chunk, deadline, set_timeout)?;
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(body_len);
    Ok(Request {
        method,
        path,
        query,
        authorization,
        body,
    })
}

fn read_some(
    stream: &mut impl Read,
    chunk: &mut [u8],
    deadline: Instant,
    set_timeout: &mut dyn FnMut(Duration),
) -> Result<usize, RequestError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(RequestError::Timeout);
    }
    set_timeout(left);
    match stream.read(chunk) {
        Ok(0) => Err(RequestError::Closed),
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(RequestError::Timeout)
        }
        Err(_) => Err(RequestError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Request, RequestError> {
        let mut cursor = std::io::Cursor::new(bytes.to_vec());
        let deadline = Instant::now() + Duration::from_secs(5);
        read_request(&mut cursor, deadline, deadline, &mut |_| {}, &mut |_| true)
    }

    #[test]
    fn reads_a_post_with_body() {
        let r = read(b"POST /task/run?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.body.as_slice()),
            ("POST", "/task/run", &b"{}"[..])
        );
        assert_eq!(r.query, "x=1");
        assert_eq!(r.authorization.as_deref(), Some("Bearer t"));
    }

    #[test]
    fn limits_and_malformed_heads() {
        let empty = read(b"POST /task/run HTTP/1.1\r\n\r\n").unwrap();
        assert!(empty.body.is_empty(), "no Content-Length: an empty body");
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n"),
            Err(RequestError::BodyTooLarge)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(RequestError::LengthRequired)
        );
        assert!(matches!(
            read(b"\x00\x01garbage\r\n\r\n"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
            Err(RequestError::Malformed(_))
        ));
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        assert_eq!(read(&big), Err(RequestError::HeadTooLarge));
        assert_eq!(
            read(b"GET / HTTP/1.1\r\nHost: a\r\n"),
            Err(RequestError::Closed)
        );
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
            Err(RequestError::Closed)
        );
    }

    #[test]
    fn random_heads_never_panic() {
        // A small deterministic generator: random bytes, and valid heads with bytes
        // flipped, cut or duplicated.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = b"POST /task/run HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nAuthorization: Bearer abc\r\n\r\nhello";
        for round in 0..20_000 {
            let len = (next() % 600) as usize;
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut v = valid.to_vec();
                for _ in 0..(next() % 6) {
                    let i = (next() as usize) % v.len();
                    match next() % 3 {
                        0 => v[i] = next() as u8,
                        1 => v.truncate(i.max(1)),
                        _ => v.insert(i, next() as u8),
                    }
                }
                v
            };
            let _ = parse_head(&bytes);
            let _ = read(&bytes);
        }
    }
}
