//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

/// Checks that `bytes` is an MP4 a player can open: an H.264 video track
/// with frames and a duration. Returns the frame size.
pub fn assert_playable_mp4(bytes: &[u8]) -> (u16, u16) {
    let reader = mp4::Mp4Reader::read_header(std::io::Cursor::new(bytes), bytes.len() as u64)
        .expect("an MP4 header");
    assert!(
        reader.duration() > Duration::ZERO,
        "the movie has a duration"
    );
    let (id, track) = reader
        .tracks()
        .iter()
        .find(|(_, t)| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .map(|(id, t)| (*id, t))
        .expect("a video track");
    assert!(
        matches!(track.media_type(), Ok(mp4::MediaType::H264)),
        "H.264 video"
    );
    assert!(track.sample_count() > 0, "the video track has frames");
    let size = (track.width(), track.height());
    let mut reader = reader;
    let first = reader
        .read_sample(id, 1)
        .expect("readable")
        .expect("a first frame");
    assert!(!first.bytes.is_empty(), "the first frame has data");
    size
}

/// Polls `check` (every 5 ms, at most `limit`) until it returns `Some`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// This process's resident memory in bytes (Linux), for bounded-memory
/// checks.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
