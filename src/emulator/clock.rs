//! Times as RunComfy's live API writes them. A leaf.

use std::time::SystemTime;

/// A time as the live API writes it: microseconds and `+00:00`
/// (`2025-12-14T08:47:11.089103+00:00`).
pub(crate) fn timestamp(at: SystemTime) -> String {
    let utc = humantime::format_rfc3339_micros(at).to_string();
    match utc.strip_suffix('Z') {
        Some(bare) => format!("{bare}+00:00"),
        None => utc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_the_live_api_writes_them() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_765_701_561_009_655);
        assert_eq!(timestamp(at), "2025-12-14T08:39:21.009655+00:00");
    }
}
