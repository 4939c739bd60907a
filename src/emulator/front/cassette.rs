//! A recorded session on disk (a "cassette"): one JSON file per exchange,
//! in the format of the conformance corpus (`tests/fixtures/recorded/`),
//! and the files results pointed at, stored once by content hash under
//! `files/`.
//!
//! ```text
//! DIR/0001_submit_323b27e1.json   {source, kind, method, path, query,
//! DIR/0002_status_323b27e1.json    request_body_sha256, authorization,
//! ...                              at_ms, http_status, headers, body}
//! DIR/files/<sha256>              a downloaded file's bytes
//! ```
//!
//! Nothing secret is ever written: no `Authorization` header (only
//! whether one was sent), and every form of every token seen in a request
//! is scrubbed from bodies, headers, paths and queries before writing.

use super::super::LockOrRecover;
use super::super::hashing::sha256_hex;
use crate::wire::answer::Scrubber;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Where the files of a cassette live, under its folder.
pub(crate) const FILES_DIR: &str = "files";

/// Answer headers worth keeping: what a client reads.
const KEPT_HEADERS: [&str; 5] = [
    "content-type",
    "retry-after",
    "content-range",
    "accept-ranges",
    "location",
];

/// Where an exchange came from (the corpus's `source` note).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Source {
    /// What wrote it.
    pub(crate) recorded_by: String,
    /// The upstream the request was forwarded to.
    pub(crate) upstream: String,
    /// The call, e.g. `GET /v1/requests/{id}/status`.
    pub(crate) what: String,
    /// When (UTC, RFC 3339).
    pub(crate) recorded_at: String,
}

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Exchange {
    pub(crate) source: Source,
    pub(crate) kind: String,
    pub(crate) method: String,
    /// The request path as sent (a model id's slashes literal).
    pub(crate) path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) query: Option<String>,
    /// The SHA-256 of the request body in canonical JSON (keys sorted, no
    /// spaces), where there was a body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_body_sha256: Option<String>,
    /// `bearer` or `none`: whether the request carried a token (never the
    /// token).
    pub(crate) authorization: String,
    /// Milliseconds since the session started.
    pub(crate) at_ms: u64,
    pub(crate) http_status: u16,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// A JSON answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<Value>,
    /// Any other text answer (a gateway's HTML page, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body_text: Option<String>,
    /// A downloaded file: `files/<sha256>` under the cassette.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body_file: Option<String>,
    /// A download's original URL (the CDN's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
}

impl Exchange {
    /// True for an answer that refused the token (401, 403).
    pub(crate) fn refused_token(&self) -> bool {
        matches!(self.http_status, 401 | 403)
    }

    /// The answer's bytes (a file's from the store under `dir`).
    pub(crate) fn answer_bytes(&self, dir: &Path) -> std::io::Result<Vec<u8>> {
        if let Some(file) = &self.body_file {
            return std::fs::read(dir.join(file));
        }
        Ok(match (&self.body, &self.body_text) {
            (Some(json), _) => serde_json::to_vec(json).unwrap_or_default(),
            (None, Some(text)) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        })
    }
}

/// A request body's hash for matching: of its canonical JSON (keys
/// sorted) when it is JSON, of its bytes otherwise; `None` when empty.
pub(crate) fn body_hash(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    Some(match serde_json::from_slice::<Value>(body) {
        Ok(json) => sha256_hex(canonical(&json).as_bytes()),
        Err(_) => sha256_hex(body),
    })
}

/// `value` as JSON text with every object's keys sorted and no spaces.
pub(crate) fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The headers of an answer a client reads, lower-cased.
pub(crate) fn kept_headers(headers: &http::HeaderMap) -> BTreeMap<String, String> {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// What a test or a user sees of a cassette folder.
#[derive(Debug)]
pub(crate) struct Cassette {
    pub(crate) dir: PathBuf,
    /// Every exchange, in recorded order.
    pub(crate) exchanges: Vec<Exchange>,
}

impl Cassette {
    /// Reads every `*.json` exchange of `dir`, in file-name order (the
    /// recorder numbers them).
    ///
    /// # Errors
    ///
    /// The file that cannot be read or is not an exchange, named.
    pub(crate) fn load(dir: &Path) -> std::io::Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| named(dir, e))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let exchanges = files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).map_err(|e| named(file, e))?;
                serde_json::from_str::<Exchange>(&text).map_err(|e| {
                    named(
                        file,
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    )
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            exchanges,
        })
    }
}

fn named(path: &Path, error: std::io::Error) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// Writes a session as it happens: each exchange as soon as it is
/// answered (so a killed emulator loses nothing it answered), numbered in
/// order, every token it has seen scrubbed out.
#[derive(Debug)]
pub(crate) struct Recorder {
    dir: PathBuf,
    upstream: String,
    started: Instant,
    next: AtomicU64,
    /// One scrubber per token seen in a request.
    tokens: Mutex<Vec<(String, Scrubber)>>,
}

impl Recorder {
    /// Records into `dir` (created if missing), numbering after any
    /// exchange already there.
    pub(crate) fn new(dir: &Path, upstream: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join(FILES_DIR)).map_err(|e| named(dir, e))?;
        let already = std::fs::read_dir(dir)
            .map_err(|e| named(dir, e))?
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count() as u64;
        Ok(Self {
            dir: dir.to_path_buf(),
            upstream: upstream.to_string(),
            started: Instant::now(),
            next: AtomicU64::new(already + 1),
            tokens: Mutex::default(),
        })
    }

    /// Remembers a token sent by a caller, to scrub it from everything
    /// written.
    pub(crate) fn saw_token(&self, token: &str) {
        if token.is_empty() {
            return;
        }
        let mut tokens = self.tokens.lock_or_recover();
        if !tokens.iter().any(|(seen, _)| seen == token) {
            let secret = secrecy::SecretString::from(token.to_string());
            tokens.push((token.to_string(), Scrubber::new(&secret)));
        }
    }

    /// Text with every form of every token seen replaced.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let tokens = self.tokens.lock_or_recover();
        let bytes = tokens
            .iter()
            .fold(text.as_bytes().to_vec(), |bytes, (_, scrubber)| {
                scrubber.scrub(bytes)
            });
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Milliseconds since the session started.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The source note of a new exchange.
    pub(crate) fn source(&self, what: String) -> Source {
        Source {
            recorded_by: "runcomfy emulator --record".into(),
            upstream: self.upstream.clone(),
            what,
            recorded_at: super::super::clock::timestamp(std::time::SystemTime::now()),
        }
    }

    /// Stores a downloaded file once by its content hash; returns its path
    /// under the cassette (`files/<sha256>`).
    pub(crate) fn store_file(&self, bytes: &[u8]) -> std::io::Result<String> {
        let name = format!("{FILES_DIR}/{}", sha256_hex(bytes));
        let path = self.dir.join(&name);
        if !path.exists() {
            let temp = tempfile::NamedTempFile::new_in(self.dir.join(FILES_DIR))?;
            std::fs::write(temp.path(), bytes)?;
            temp.persist(&path).map_err(|e| e.error)?;
        }
        Ok(name)
    }

    /// Writes `exchange` (scrubbed) as the next numbered file, named after
    /// its call and the job or model it is about.
    pub(crate) fn write(&self, exchange: &Exchange) -> std::io::Result<PathBuf> {
        let text = serde_json::to_string_pretty(exchange).map_err(std::io::Error::other)?;
        let text = self.scrub(&text);
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join(format!("{number:04}_{}.json", file_label(exchange)));
        let temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::fs::write(temp.path(), text + "\n")?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }
}

/// `submit_323b27e1`, `status_323b27e1`, `file_0a1b2c3d`, `model`: the
/// call, then the first part of the request id (or of the file's hash).
fn file_label(exchange: &Exchange) -> String {
    let path = exchange.path.as_str();
    let short = |id: &str| {
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(8)
            .collect::<String>()
    };
    if let Some(rest) = path.strip_prefix("/v1/requests/") {
        let mut parts = rest.split('/');
        let id = parts.next().unwrap_or_default();
        let call = parts.next().unwrap_or("request");
        return format!("{}_{}", short(call), short(id));
    }
    if path.starts_with("/files/") {
        let hash = exchange
            .body_file
            .as_deref()
            .and_then(|f| f.strip_prefix("files/"))
            .unwrap_or("none");
        return format!("file_{}", short(hash));
    }
    match (exchange.method.as_str(), path) {
        ("GET", "/v1/models") => "catalog_list".into(),
        ("GET", "/v1/models/categories") => "catalog_categories".into(),
        ("POST", _) => {
            let id = exchange
                .body
                .as_ref()
                .and_then(|b| b["request_id"].as_str())
                .map(short)
                .unwrap_or_else(|| format!("http{}", exchange.http_status));
            format!("submit_{id}")
        }
        _ => "catalog_model".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = json!({"b": 1, "a": {"d": [1, {"y": 2, "x": 1}], "c": "s"}});
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":"s","d":[1,{"x":1,"y":2}]},"b":1}"#
        );
        let reordered: Value =
            serde_json::from_str(r#"{"a": {"d": [1, {"x": 1, "y": 2}], "c": "s"}, "b": 1}"#)
                .expect("JSON");
        assert_eq!(
            body_hash(reordered.to_string().as_bytes()),
            body_hash(a.to_string().as_bytes())
        );
        assert_eq!(body_hash(b""), None);
    }

    #[test]
    fn exchanges_are_named_after_their_call_and_job() {
        let exchange = |method: &str, path: &str, body: Option<Value>| Exchange {
            source: Source::default(),
            kind: String::new(),
            method: method.into(),
            path: path.into(),
            query: None,
            request_body_sha256: None,
            authorization: "bearer".into(),
            at_ms: 0,
            http_status: 200,
            headers: BTreeMap::new(),
            body,
            body_text: None,
            body_file: None,
            url: None,
        };
        let id = "323b27e1-2de2-41b1-bf6e-a4b4602e1a75";
        assert_eq!(
            file_label(&exchange("GET", &format!("/v1/requests/{id}/status"), None)),
            "status_323b27e1"
        );
        assert_eq!(
            file_label(&exchange(
                "POST",
                "/v1/models/kling/x",
                Some(json!({"request_id": id}))
            )),
            "submit_323b27e1"
        );
        assert_eq!(
            file_label(&exchange("POST", "/v1/models/kling/x", None)),
            "submit_http200"
        );
        assert_eq!(
            file_label(&exchange("GET", "/v1/models/kling/x", None)),
            "catalog_model"
        );
    }
}
