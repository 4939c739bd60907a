//! The videos the emulator serves: small, real, playable MP4s (H.264 and
//! AAC, 2 s), one per aspect ratio, and `Range` handling for them.

/// A checked-in MP4 fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fixture {
    /// 256x144.
    Landscape,
    /// 144x256.
    Portrait,
    /// 192x192.
    Square,
}

impl Fixture {
    /// The MP4 bytes.
    pub(crate) fn bytes(self) -> &'static [u8] {
        match self {
            Self::Landscape => include_bytes!("fixtures/ratio-16x9.mp4"),
            Self::Portrait => include_bytes!("fixtures/ratio-9x16.mp4"),
            Self::Square => include_bytes!("fixtures/ratio-1x1.mp4"),
        }
    }

    /// The fixture closest to a requested `W:H` aspect ratio; landscape for
    /// anything else.
    pub(crate) fn for_aspect_ratio(ratio: Option<&str>) -> Self {
        let parsed = ratio.and_then(|r| {
            let (w, h) = r.split_once(':')?;
            Some(w.trim().parse::<f64>().ok()? / h.trim().parse::<f64>().ok()?)
        });
        match parsed {
            Some(r) if r < 0.8 => Self::Portrait,
            Some(r) if r <= 1.25 => Self::Square,
            _ => Self::Landscape,
        }
    }
}

/// The byte range a `Range` header asks for, clamped to `len`; `None` for
/// no header, or one this server answers with the whole file (several
/// ranges, or not `bytes=`). `Err` for an unsatisfiable range.
pub(crate) fn requested_range(header: Option<&str>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        // A suffix: the last N bytes.
        let n: u64 = end.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len.checked_sub(1)?)
    } else {
        let start: u64 = start.parse().ok()?;
        let end = if end.is_empty() {
            len.saturating_sub(1)
        } else {
            end.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    Some(if range.0 >= len || range.0 > range.1 {
        Err(())
    } else {
        Ok(range)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_rfc_9110() {
        assert_eq!(requested_range(None, 100), None);
        assert_eq!(requested_range(Some("bytes=0-9"), 100), Some(Ok((0, 9))));
        assert_eq!(requested_range(Some("bytes=50-"), 100), Some(Ok((50, 99))));
        assert_eq!(requested_range(Some("bytes=-10"), 100), Some(Ok((90, 99))));
        assert_eq!(
            requested_range(Some("bytes=90-500"), 100),
            Some(Ok((90, 99)))
        );
        assert_eq!(requested_range(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(requested_range(Some("bytes=0-1,5-6"), 100), None);
        assert_eq!(requested_range(Some("items=0-1"), 100), None);
    }

    #[test]
    fn aspect_ratios_pick_fixtures() {
        assert_eq!(Fixture::for_aspect_ratio(Some("16:9")), Fixture::Landscape);
        assert_eq!(Fixture::for_aspect_ratio(Some("9:16")), Fixture::Portrait);
        assert_eq!(Fixture::for_aspect_ratio(Some("1:1")), Fixture::Square);
        assert_eq!(Fixture::for_aspect_ratio(None), Fixture::Landscape);
        assert!(Fixture::Square.bytes().len() > 1000);
    }
}
