//! Local files as media inputs: a file on disk sent inline as a `data:`
//! URI, as RunComfy's own nodes send images.
//!
//! A model's media fields are those whose published `format` says image,
//! video or audio (`image_uri`, `image_uris`, `video_uri(s)`,
//! `audio_uri(s)`). In such a field a value is told apart by its start:
//!
//! | value | sent as |
//! |---|---|
//! | `http://...`, `https://...` (any case) | is: RunComfy fetches it |
//! | `data:...` | is |
//! | anything else | a local file's path: the file is read and sent as `data:<type>;base64,...` |
//!
//! The type comes from the file's content, never its name, and must be
//! the field's kind (an image for an image field). Limits are checked
//! before anything is sent ([`MediaLimits`]): RunComfy's own partner nodes
//! refuse an image over 6 MiB ("the Model API request limit", they say)
//! or over 32 megapixels, and a request over 64 MiB; these are the
//! defaults. The docs' larger recommendations (50 MB images, 100 MB
//! videos) concern files behind a URL, which RunComfy fetches itself.
//!
//! A program that reads paths it did not choose (an MCP server reading
//! what an agent names) confines them to one folder with
//! [`ModelDescriptor::inline_local_media_from`](crate::ModelDescriptor::inline_local_media_from):
//! relative paths are taken from that folder, and a path that leads out
//! of it, by `..` or by a symbolic link, is refused
//! ([`MediaProblem::OutsideFolder`]) without telling whether the file
//! exists.
//!
//! ```no_run
//! use runcomfy::ModelDescriptor;
//! use runcomfy::media::MediaLimits;
//! use serde_json::json;
//!
//! # fn demo() -> Result<(), runcomfy::media::MediaError> {
//! let model = ModelDescriptor::find("acme/flux-edit/v1").expect("built with this model");
//! let mut body = json!({"prompt": "make it blue", "image_uri": "./cat.png"});
//! model.inline_local_media(&mut body, &MediaLimits::default())?;
//! assert!(body["image_uri"].as_str().unwrap().starts_with("data:image/png;base64,"));
//! # Ok(()) }
//! ```

use base64::Engine as _;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a media field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaKind {
    /// An image (`image_uri`, `image_uris`).
    Image,
    /// A video (`video_uri`, `video_uris`).
    Video,
    /// A sound (`audio_uri`, `audio_uris`).
    Audio,
}

impl MediaKind {
    /// The kind a published `format` names, and whether it is a list.
    pub fn of_format(format: &str) -> Option<(Self, bool)> {
        Some(match format {
            "image_uri" => (Self::Image, false),
            "image_uris" => (Self::Image, true),
            "video_uri" => (Self::Video, false),
            "video_uris" => (Self::Video, true),
            "audio_uri" => (Self::Audio, false),
            "audio_uris" => (Self::Audio, true),
            _ => return None,
        })
    }

    /// The MIME type family: `image`, `video`, `audio`.
    pub fn family(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Image => "an image",
            Self::Video => "a video",
            Self::Audio => "a sound file",
        })
    }
}

/// One media field of a model's input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaField {
    /// The property, e.g. `image_uri`.
    pub name: String,
    /// What it holds.
    pub kind: MediaKind,
    /// Whether it is a list (`image_uris`).
    pub list: bool,
}

impl MediaField {
    /// The values `body` gives this field: its one value (index `None`),
    /// or each item of its list (index `Some(i)`); none where it is absent.
    pub fn values_in<'a>(&self, body: &'a Value) -> Vec<(Option<usize>, &'a Value)> {
        match body.get(&self.name) {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Some(i), v))
                .collect(),
            Some(value) => vec![(None, value)],
            None => Vec::new(),
        }
    }
}

/// The media values of `body` that are local paths (neither an `http(s)`
/// URL nor a `data:` URI), named `field` or `field[i]` for a list's item
/// (see [`ModelDescriptor::local_media_paths`](crate::ModelDescriptor::local_media_paths)).
pub(crate) fn local_paths(fields: &[MediaField], body: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for field in fields {
        for (index, value) in field.values_in(body) {
            let Some(text) = value.as_str() else { continue };
            if matches!(MediaValue::of(text), MediaValue::LocalPath(_)) {
                found.push(match index {
                    Some(i) => format!("{}[{i}]", field.name),
                    None => field.name.clone(),
                });
            }
        }
    }
    found
}

/// Limits on media sent inline, checked before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct MediaLimits {
    max_image_bytes: u64,
    max_image_pixels: u64,
    max_request_bytes: u64,
}

impl Default for MediaLimits {
    /// RunComfy's partner nodes' limits: an image up to 6 MiB and 32
    /// megapixels, a request up to 64 MiB.
    fn default() -> Self {
        Self {
            max_image_bytes: 6 * 1024 * 1024,
            max_image_pixels: 32_000_000,
            max_request_bytes: 64 * 1024 * 1024,
        }
    }
}

impl MediaLimits {
    /// The largest image file (bytes, before encoding).
    pub fn max_image_bytes(mut self, bytes: u64) -> Self {
        self.max_image_bytes = bytes;
        self
    }

    /// The most pixels in an image (width × height).
    pub fn max_image_pixels(mut self, pixels: u64) -> Self {
        self.max_image_pixels = pixels;
        self
    }

    /// The largest request body, media inline (bytes of JSON).
    pub fn max_request_bytes(mut self, bytes: u64) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// The largest request body.
    pub fn request_bytes(&self) -> u64 {
        self.max_request_bytes
    }
}

/// Why a media value cannot be sent; nothing was sent.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", field.as_deref().map_or_else(|| path.display().to_string(), |f| format!("{f} ({})", path.display())))]
#[non_exhaustive]
pub struct MediaError {
    /// The field, where the value was in one (`None` for
    /// [`data_uri_from_file`] alone, or the whole request).
    pub field: Option<String>,
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    #[source]
    pub problem: MediaProblem,
}

/// What is wrong with a media file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaProblem {
    /// The file cannot be read.
    #[error("cannot read the file: {0}")]
    Unreadable(#[source] std::io::Error),
    /// Its content is not of the field's kind.
    #[error("not {expected}: its content is {found}")]
    WrongKind {
        /// What the field takes.
        expected: MediaKind,
        /// What the content is (a MIME type, or `of no known type`).
        found: String,
    },
    /// The file is over its size limit.
    #[error("{bytes} bytes is over the {limit}-byte limit for {kind} sent inline")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
        /// What it is.
        kind: MediaKind,
    },
    /// The image has too many pixels.
    #[error("{width}×{height} is over the limit of {limit} pixels")]
    TooManyPixels {
        /// Its width.
        width: u64,
        /// Its height.
        height: u64,
        /// The limit (width × height).
        limit: u64,
    },
    /// The whole request would be too large with the files inline.
    #[error(
        "the request would be {bytes} bytes with its files inline, over the {limit}-byte limit: give large files as URLs"
    )]
    RequestTooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// An image whose size cannot be read from its header.
    #[error("cannot read the image's size: {0}")]
    UnreadableImage(String),
    /// A path that leads out of the one folder files may be read from.
    #[error("outside {}, the only folder files are read from", folder.display())]
    OutsideFolder {
        /// The folder.
        folder: PathBuf,
    },
}

/// How a media field's value is to be sent (see the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaValue<'a> {
    /// An `http(s)` URL, sent as is.
    Url(&'a str),
    /// A `data:` URI, sent as is.
    DataUri(&'a str),
    /// A local file's path, read and sent inline.
    LocalPath(&'a Path),
}

impl<'a> MediaValue<'a> {
    /// Tells a value apart by its start.
    pub fn of(value: &'a str) -> Self {
        let starts = |prefix: &str| {
            value
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if starts("http://") || starts("https://") {
            Self::Url(value)
        } else if starts("data:") {
            Self::DataUri(value)
        } else {
            Self::LocalPath(Path::new(value))
        }
    }
}

/// The file at `path` as a `data:` URI of its content's type, checked to be
/// `kind` and within `limits`.
///
/// # Errors
///
/// [`MediaError`] for a file that cannot be read, is not `kind`, or is
/// over a limit.
pub fn data_uri_from_file(
    path: impl AsRef<Path>,
    kind: MediaKind,
    limits: &MediaLimits,
) -> Result<String, MediaError> {
    let path = path.as_ref();
    let failed = |problem| MediaError {
        field: None,
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| failed(MediaProblem::Unreadable(e)))?;
    data_uri_of(&bytes, kind, limits).map_err(failed)
}

/// `bytes` as a `data:` URI of their content's type, checked to be `kind`
/// and within `limits`.
fn data_uri_of(
    bytes: &[u8],
    kind: MediaKind,
    limits: &MediaLimits,
) -> Result<String, MediaProblem> {
    let mime = checked_mime(bytes, kind, limits)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(format!("data:{mime};base64,{encoded}"))
}

/// The MIME type of `bytes` if they are `kind` within `limits`.
pub(crate) fn checked_mime(
    bytes: &[u8],
    kind: MediaKind,
    limits: &MediaLimits,
) -> Result<&'static str, MediaProblem> {
    let found = infer::get(bytes);
    let mime = match found {
        Some(found) if found.mime_type().starts_with(kind.family()) => found.mime_type(),
        Some(found) => {
            return Err(MediaProblem::WrongKind {
                expected: kind,
                found: found.mime_type().to_string(),
            });
        }
        None => {
            return Err(MediaProblem::WrongKind {
                expected: kind,
                found: "of no known type".into(),
            });
        }
    };
    let size = bytes.len() as u64;
    if kind == MediaKind::Image {
        if size > limits.max_image_bytes {
            return Err(MediaProblem::TooLarge {
                bytes: size,
                limit: limits.max_image_bytes,
                kind,
            });
        }
        let dimensions = imagesize::blob_size(bytes)
            .map_err(|e| MediaProblem::UnreadableImage(e.to_string()))?;
        let (width, height) = (dimensions.width as u64, dimensions.height as u64);
        if width.saturating_mul(height) > limits.max_image_pixels {
            return Err(MediaProblem::TooManyPixels {
                width,
                height,
                limit: limits.max_image_pixels,
            });
        }
    }
    // Whatever the kind, one file cannot be over the whole request's cap.
    if size > limits.max_request_bytes {
        return Err(MediaProblem::TooLarge {
            bytes: size,
            limit: limits.max_request_bytes,
            kind,
        });
    }
    Ok(mime)
}

/// The media fields of a normalised input schema: the properties whose
/// published `format` (kept as `x-runcomfy-format`) says image, video or
/// audio.
pub(crate) fn fields_of(schema: &Value) -> Vec<MediaField> {
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .filter_map(|(name, property)| {
            let format = property["x-runcomfy-format"].as_str()?;
            let (kind, list) = MediaKind::of_format(format)?;
            Some(MediaField {
                name: name.clone(),
                kind,
                list,
            })
        })
        .collect()
}

/// Every local path in `body`'s media `fields` replaced with the file as a
/// `data:` URI, then the whole request checked against `limits` (see
/// [`ModelDescriptor::inline_local_media`](crate::ModelDescriptor::inline_local_media)).
/// With a `folder`, files are read only from inside it (see
/// [`read_confined`]).
pub(crate) fn inline(
    fields: &[MediaField],
    body: &mut Value,
    limits: &MediaLimits,
    folder: Option<&Path>,
) -> Result<(), MediaError> {
    let mut inlined = false;
    for field in fields {
        let Some(value) = body.get_mut(&field.name) else {
            continue;
        };
        let values: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            other => vec![other],
        };
        for value in values {
            let Some(text) = value.as_str() else { continue };
            if let MediaValue::LocalPath(path) = MediaValue::of(text) {
                let uri = match folder {
                    Some(folder) => read_confined(folder, path)
                        .and_then(|bytes| data_uri_of(&bytes, field.kind, limits))
                        .map_err(|problem| MediaError {
                            field: None,
                            path: path.to_path_buf(),
                            problem,
                        }),
                    None => data_uri_from_file(path, field.kind, limits),
                }
                .map_err(|mut e| {
                    e.field = Some(field.name.clone());
                    e
                })?;
                *value = Value::String(uri);
                inlined = true;
            }
        }
    }
    let bytes = serde_json::to_vec(body).map_or(0, |b| b.len() as u64);
    if inlined && bytes > limits.max_request_bytes {
        return Err(MediaError {
            field: None,
            path: PathBuf::from("(the request)"),
            problem: MediaProblem::RequestTooLarge {
                bytes,
                limit: limits.max_request_bytes,
            },
        });
    }
    Ok(())
}

/// The file at `path`, read from inside `folder` only: relative paths are
/// taken from `folder`, absolute ones must lie in it, and neither `..` nor
/// a symbolic link may lead out of it.
///
/// A path whose `..` alone leave the folder is refused before the file
/// system is asked, so the refusal says nothing about what exists
/// outside. The read itself is confined by `cap-std` (`openat2` with
/// `RESOLVE_BENEATH` where Linux has it), so a symbolic link swapped in
/// after any check cannot lead out either.
fn read_confined(folder: &Path, path: &Path) -> Result<Vec<u8>, MediaProblem> {
    let root = folder.canonicalize().map_err(MediaProblem::Unreadable)?;
    let outside = || MediaProblem::OutsideFolder {
        folder: root.clone(),
    };
    let relative = if path.is_absolute() {
        lexically_normal(path)
            .strip_prefix(&root)
            .map(Path::to_path_buf)
            .map_err(|_| outside())?
    } else {
        path.to_path_buf()
    };
    if !stays_inside(&relative) {
        return Err(outside());
    }
    let dir = cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority())
        .map_err(MediaProblem::Unreadable)?;
    dir.read(&relative).map_err(|e| {
        // cap-std's refusal of an escape is the one permission error that
        // does not come from the operating system.
        if e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none() {
            outside()
        } else {
            MediaProblem::Unreadable(e)
        }
    })
}

/// Whether a relative path's `..` never climb above where it starts.
fn stays_inside(path: &Path) -> bool {
    use std::path::Component;
    let mut depth = 0_usize;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// An absolute `path` with its `.` and `..` components folded away by its
/// text alone (symbolic links are not followed).
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// A `data:` URI's type and bytes, if it is a well-formed base64 one (the
/// emulator's check of what it receives).
#[cfg(any(feature = "emulator", test))]
pub(crate) fn decode_data_uri(uri: &str) -> Result<(String, Vec<u8>), String> {
    let rest = uri
        .get(..5)
        .filter(|head| head.eq_ignore_ascii_case("data:"))
        .map(|_| &uri[5..])
        .ok_or("not a data: URI")?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or("a data: URI needs a comma before its data")?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or("only base64 data: URIs are taken (data:<type>;base64,...)")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| format!("its base64 is malformed: {e}"))?;
    Ok((mime.to_ascii_lowercase(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 2×1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7B,
        0x40, 0xE8, 0xDD, 0x00, 0x00, 0x00, 0x0E, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8,
        0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn values_are_told_apart_by_their_start() {
        assert_eq!(
            MediaValue::of("https://x/a.png"),
            MediaValue::Url("https://x/a.png")
        );
        assert_eq!(
            MediaValue::of("HTTP://x/a.png"),
            MediaValue::Url("HTTP://x/a.png")
        );
        assert!(matches!(
            MediaValue::of("data:image/png;base64,AA=="),
            MediaValue::DataUri(_)
        ));
        assert!(matches!(
            MediaValue::of("./cat.png"),
            MediaValue::LocalPath(_)
        ));
        assert!(matches!(
            MediaValue::of("cat.png"),
            MediaValue::LocalPath(_)
        ));
        assert!(matches!(
            MediaValue::of("httpx.png"),
            MediaValue::LocalPath(_)
        ));
        assert!(matches!(MediaValue::of("é"), MediaValue::LocalPath(_)));
    }

    #[test]
    fn files_become_data_uris_of_their_content_type() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Named .jpg, but a PNG: the content decides.
        let path = dir.path().join("cat.jpg");
        std::fs::write(&path, PNG).expect("write");
        let uri = data_uri_from_file(&path, MediaKind::Image, &MediaLimits::default())
            .expect("a small image");
        assert!(uri.starts_with("data:image/png;base64,"), "{uri}");
        let (mime, bytes) = decode_data_uri(&uri).expect("well formed");
        assert_eq!((mime.as_str(), bytes.as_slice()), ("image/png", PNG));
    }

    #[test]
    fn wrong_kinds_and_limits_are_refused_with_their_reason() {
        let limits = MediaLimits::default();
        let refused = |bytes: &[u8], kind, limits: &MediaLimits| {
            checked_mime(bytes, kind, limits)
                .expect_err("refused")
                .to_string()
        };
        assert!(refused(b"just some text", MediaKind::Image, &limits).contains("of no known type"));
        assert!(
            refused(PNG, MediaKind::Video, &limits)
                .contains("not a video: its content is image/png")
        );
        let small = limits.max_image_bytes(10);
        assert!(refused(PNG, MediaKind::Image, &small).contains("over the 10-byte limit"));
        let few = MediaLimits::default().max_image_pixels(1);
        assert!(refused(PNG, MediaKind::Image, &few).contains("2×1 is over the limit of 1 pixels"));
        assert_eq!(
            checked_mime(PNG, MediaKind::Image, &limits).expect("fine"),
            "image/png"
        );
    }

    #[test]
    fn malformed_data_uris_are_told_apart() {
        assert!(decode_data_uri("data:image/png;base64,iVBORw0KGgo=").is_ok());
        assert!(decode_data_uri("data:image/png,raw").is_err());
        assert!(decode_data_uri("data:image/png;base64,@@@").is_err());
        assert!(decode_data_uri("data:image/png;base64").is_err());
        assert!(decode_data_uri("https://x").is_err());
    }

    #[test]
    fn local_paths_are_named_field_by_field_and_item_by_item() {
        let fields = fields_of(&json!({"properties": {
            "image_uri": {"x-runcomfy-format": "image_uri"},
            "image_uris": {"x-runcomfy-format": "image_uris"},
            "mask_uri": {"x-runcomfy-format": "image_uri"},
            "absent_uri": {"x-runcomfy-format": "image_uri"},
            "prompt": {"type": "string"},
        }}));
        let input = json!({
            "image_uri": "./cat.png",
            "image_uris": ["https://x/a.png", "/home/me/b.png", "data:image/png;base64,AA=="],
            "mask_uri": "HTTPS://x/mask.png",
            "prompt": "./not-a-media-field",
        });
        assert_eq!(local_paths(&fields, &input), ["image_uri", "image_uris[1]"]);
        assert!(local_paths(&fields, &json!({"image_uris": []})).is_empty());
    }

    /// A folder with `inside/cat.png` and `inside/sub/`, `secret.png` beside `inside`, and
    /// (on unix) `inside/link.png` leading to the secret and
    /// `inside/alias.png` to the cat.
    fn a_folder_and_a_secret() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let inside = dir.path().join("inside");
        std::fs::create_dir_all(inside.join("sub")).expect("mkdir");
        std::fs::write(inside.join("cat.png"), PNG).expect("write");
        std::fs::write(dir.path().join("secret.png"), PNG).expect("write");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.png"), inside.join("link.png"))
                .expect("symlink");
            std::os::unix::fs::symlink("cat.png", inside.join("alias.png")).expect("symlink");
        }
        (dir, inside)
    }

    fn inline_from(folder: &Path, value: &str) -> Result<Value, MediaError> {
        let fields = fields_of(&json!({"properties": {
            "image_uri": {"x-runcomfy-format": "image_uri"},
        }}));
        let mut body = json!({"image_uri": value});
        inline(&fields, &mut body, &MediaLimits::default(), Some(folder)).map(|()| body)
    }

    #[test]
    fn a_folder_confines_the_files_read_to_itself() {
        let (dir, inside) = a_folder_and_a_secret();
        let mut fine = vec![
            "cat.png".to_string(),
            "./cat.png".to_string(),
            "sub/../cat.png".to_string(),
            inside.join("cat.png").display().to_string(),
            inside.join("sub/../cat.png").display().to_string(),
        ];
        if cfg!(unix) {
            fine.push("alias.png".to_string());
        }
        for fine in fine {
            let body = inline_from(&inside, &fine).unwrap_or_else(|e| panic!("{fine}: {e}"));
            assert!(
                body["image_uri"]
                    .as_str()
                    .is_some_and(|uri| uri.starts_with("data:image/png;base64,")),
                "{fine}"
            );
        }
        let mut refused = vec![
            "../secret.png".to_string(),
            "../inside/../secret.png".to_string(),
            "sub/../../secret.png".to_string(),
            inside.join("../secret.png").display().to_string(),
            dir.path().join("secret.png").display().to_string(),
            "/etc/passwd".to_string(),
        ];
        if cfg!(unix) {
            refused.push("link.png".to_string());
        }
        for path in refused {
            let error = inline_from(&inside, &path).expect_err(&path);
            assert!(
                matches!(error.problem, MediaProblem::OutsideFolder { .. }),
                "{path}: {error}"
            );
            assert_eq!(error.field.as_deref(), Some("image_uri"));
            assert!(
                error
                    .to_string()
                    .contains("the only folder files are read from"),
                "{error}"
            );
        }
    }

    #[test]
    fn outside_the_folder_existing_and_missing_files_are_refused_alike() {
        let (_dir, inside) = a_folder_and_a_secret();
        let there = inline_from(&inside, "../secret.png").expect_err("outside");
        let not_there = inline_from(&inside, "../no-such-file.png").expect_err("outside");
        assert_eq!(there.problem.to_string(), not_there.problem.to_string());
        let missing_inside = inline_from(&inside, "no-such-file.png").expect_err("missing");
        assert!(
            matches!(missing_inside.problem, MediaProblem::Unreadable(_)),
            "{missing_inside}"
        );
    }
}
