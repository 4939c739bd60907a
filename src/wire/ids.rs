//! Request ids and model ids: what may go into a URL path.

use crate::error::{HandleError, InvalidModelId, MAX_REQUEST_ID_LEN};

/// The longest model id this client sends.
const MAX_MODEL_ID_LEN: usize = 256;

/// Request ids go into URL paths: refuse anything that could change the
/// path (`.`, `..`, `/`, `%`, `?`, `#`, spaces) and anything longer than
/// [`MAX_REQUEST_ID_LEN`] characters.
pub(crate) fn validate_request_id(id: &str) -> Result<String, HandleError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(HandleError::InvalidRequestId { id: id.to_string() })
    }
}

/// Model ids go into URL paths with their slashes literal: each segment
/// must be non-empty, not `.` or `..`, and made of letters, digits, `-`,
/// `_` and `.`.
pub(crate) fn validate_model_id(id: &str) -> Result<&str, InvalidModelId> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if id.len() <= MAX_MODEL_ID_LEN && id.split('/').all(segment_ok) {
        Ok(id)
    } else {
        Err(InvalidModelId { id: id.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_that_would_change_the_path_are_refused() {
        for bad in ["", ".", "..", "a/b", "a%2Fb", "a?b", "a#b", "a b", "ä"] {
            assert!(validate_request_id(bad).is_err(), "{bad:?}");
        }
        assert!(validate_request_id(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).is_err());
        for good in ["81926f29-71b2-916c-25d4-1200fb337e94", "abc.def", "x_y~z"] {
            assert_eq!(validate_request_id(good).expect("valid"), good);
        }
    }

    #[test]
    fn model_ids_are_path_segments() {
        for good in [
            "kling/kling-3.0/standard/text-to-video",
            "acme/flux-edit/v1",
            "a",
        ] {
            assert_eq!(validate_model_id(good).expect("valid"), good);
        }
        for bad in [
            "", "/a", "a/", "a//b", "../etc", "a/./b", "a b", "a%2Fb", "a?b", "ä/b",
        ] {
            assert!(validate_model_id(bad).is_err(), "{bad:?}");
        }
    }
}
