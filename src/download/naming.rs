//! Local file names for downloaded URLs.

use reqwest::Url;

/// A safe local file name for a URL: its last path segment with anything
/// but `[A-Za-z0-9._-]` replaced, no leading dots, at most 100 characters.
pub(crate) fn file_name_for(url: &Url) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let cleaned: String = segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

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
