//! Local file names for downloaded URLs.

use reqwest::Url;
use std::path::{Path, PathBuf};

/// A safe local file name for a URL: its last path segment with anything
/// but `[A-Za-z0-9._-]` replaced, no leading dots, at most 100 characters.
pub(crate) fn file_name_for(url: &Url) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let cleaned = safe_chars(segment);
    // The last 100 characters (the extension is at the end), then no
    // leading dots: cutting can expose one, and a hidden file is no answer.
    let skip = cleaned.chars().count().saturating_sub(100);
    let cut: String = cleaned.chars().skip(skip).collect();
    let name = cut.trim_start_matches('.');
    if name.is_empty() || name.chars().all(|c| c == '_') {
        "output".to_string()
    } else {
        name.to_string()
    }
}

/// `text` with every character but `[A-Za-z0-9._-]` replaced by `_`: no
/// separator, no control character, nothing a shell or a file system
/// reads specially (a leading dot aside, which callers trim).
pub(crate) fn safe_chars(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Local names for files downloaded together into one folder: each URL's
/// [`file_name_for`], with `-2`, `-3`, ... before the extension where an
/// earlier URL already took the name. Unparsable URLs keep a placeholder
/// name (their download fails on the URL anyway).
pub(crate) fn distinct_file_names(urls: &[String]) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    urls.iter()
        .map(|url| {
            let name = Url::parse(url)
                .map(|url| file_name_for(&url))
                .unwrap_or_else(|_| "output".into());
            let (stem, extension) = match name.rsplit_once('.') {
                Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
                _ => (name.as_str(), String::new()),
            };
            let mut candidate = name.clone();
            let mut n = 1;
            while !taken.insert(candidate.clone()) {
                n += 1;
                candidate = format!("{stem}-{n}{extension}");
            }
            candidate
        })
        .collect()
}

/// The path of a result's file number `index` (from 0) saved at `path`
/// (see [`Client::save_result_files`](crate::Client::save_result_files)):
/// `path` itself first if it has an extension, else `path` plus the URL's
/// extension; later files numbered `-2`, `-3`, ... before the extension.
pub(crate) fn numbered_path(path: &Path, index: usize, url: &str) -> PathBuf {
    let own_extension = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()));
    if index == 0 && own_extension.is_some() {
        return path.to_path_buf();
    }
    let suffix = if index == 0 {
        String::new()
    } else {
        format!("-{}", index + 1)
    };
    let (stem, extension) = match own_extension {
        Some(extension) => (path.with_extension(""), extension),
        None => (path.to_path_buf(), url_extension(url)),
    };
    let name = format!(
        "{}{suffix}{extension}",
        stem.file_name().unwrap_or_default().to_string_lossy()
    );
    stem.with_file_name(name)
}

/// `.mp4` from `https://.../clip.mp4?sig=...`; nothing for anything odd
/// (an extension longer than 8 characters or not alphanumeric).
fn url_extension(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && (1..=8).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_files_are_numbered_after_the_path_or_the_url() {
        let url = "https://cdn.runcomfy.net/x/clip.MP4?sig=1";
        let at = |path: &str, index| numbered_path(Path::new(path), index, url);
        assert_eq!(at("fox.mp4", 0), PathBuf::from("fox.mp4"));
        assert_eq!(at("out/fox.mp4", 1), PathBuf::from("out/fox-2.mp4"));
        assert_eq!(at("videos/0001", 0), PathBuf::from("videos/0001.mp4"));
        assert_eq!(at("videos/0001", 2), PathBuf::from("videos/0001-3.mp4"));
        assert_eq!(
            numbered_path(Path::new("v/0002"), 0, "https://x/download?id=7"),
            PathBuf::from("v/0002")
        );
    }

    #[test]
    fn extensions_come_from_the_url_path() {
        assert_eq!(url_extension("https://x/a/clip.MP4?sig=1"), ".mp4");
        assert_eq!(url_extension("https://x/a/clip"), "");
        assert_eq!(url_extension("https://x/a/.hidden"), "");
        assert_eq!(url_extension("https://x/a/b.tar.gz"), ".gz");
        assert_eq!(url_extension("https://x/a/b.verylongext"), "");
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("URL")
    }

    #[test]
    fn names_of_files_downloaded_together_do_not_collide() {
        let urls = [
            "https://cdn.runcomfy.net/a/output.mp4",
            "https://cdn.runcomfy.net/b/output.mp4",
            "https://cdn.runcomfy.net/c/output.mp4",
            "https://cdn.runcomfy.net/c/poster.png",
            "https://cdn.runcomfy.net/d/",
            "https://cdn.runcomfy.net/e/",
        ]
        .map(String::from);
        assert_eq!(
            distinct_file_names(&urls),
            [
                "output.mp4",
                "output-2.mp4",
                "output-3.mp4",
                "poster.png",
                "output",
                "output-2"
            ]
        );
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(file_name_for(&url("https://x/a/b/video.mp4")), "video.mp4");
        assert_eq!(
            file_name_for(&url("https://x/a/..%2F..%2Fetc%2Fpasswd")),
            "_2F.._2Fetc_2Fpasswd"
        );
        assert_eq!(file_name_for(&url("https://x/.hidden")), "hidden");
        assert_eq!(file_name_for(&url("https://x/")), "output");
        assert_eq!(
            file_name_for(&url("https://x/%E4%BD%A0.mp4")),
            "_E4_BD_A0.mp4"
        );
        assert!(file_name_for(&url(&format!("https://x/{}.mp4", "a".repeat(300)))).len() <= 100);
        // Cut to 100 characters, this would start with a dot.
        let dotted = format!("https://x/{}.{}", "a".repeat(50), "b".repeat(99));
        let name = file_name_for(&url(&dotted));
        assert!(!name.starts_with('.'), "{name}");
        assert_eq!(name, "b".repeat(99));
        assert_eq!(file_name_for(&url("https://x/...")), "output");
    }
}
