//! Quoting outside text (answer bodies, ids, values) in messages: never
//! more than a bounded excerpt.

/// How many characters of a response body or an id a message quotes.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// At most `limit` characters of `text`, trimmed, with `...` where cut.
pub(crate) fn excerpt(text: &str, limit: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(limit) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}...", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_cut_on_characters() {
        assert_eq!(excerpt("  short  ", 10), "short");
        assert_eq!(excerpt("你好世界", 2), "你好...");
        assert_eq!(excerpt(&"x".repeat(10_000), 200).len(), 203);
    }
}
