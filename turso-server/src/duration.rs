//! Durations as operators write them: `90s`, `30m`, `1h`, `168h`, `30d`,
//! `500ms`, compounds such as `1h30m`, and a bare number meaning seconds
//! (`2`, `0.5`). `0` is zero. At most [`MAX`] (100 years): a larger value
//! is refused, since no clock adds it to "now" without overflowing.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The longest duration a setting takes: 100 years (36,500 days).
pub(crate) const MAX: Duration = Duration::from_secs(36_500 * 86_400);

/// `now + d`, never panicking: a sum the clock cannot hold saturates at
/// [`MAX`] from now (settings are capped there anyway).
pub(crate) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(MAX))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// A parsed duration setting; see the module docs for the syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: use e.g. 90s, 30m, 1h, 168h, 30d or 500ms",
            self.0
        )
    }
}

impl std::error::Error for DurationError {}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_duration(self.0, f)
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Self {
        d.0
    }
}

/// Parses a duration; see the module docs.
///
/// # Errors
///
/// [`DurationError`] for an empty string, an unknown unit, a negative or
/// non-finite number, or a value above [`MAX`].
pub(crate) fn parse(input: &str) -> Result<Duration, DurationError> {
    let parsed = parse_any(input)?;
    if parsed > MAX {
        return Err(DurationError(input.to_owned()));
    }
    Ok(parsed)
}

/// [`parse`] with no upper bound.
fn parse_any(input: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(input.to_owned());
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Duration::try_from_secs_f64(secs).map_err(|_| err())
        } else {
            Err(err())
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if digits == 0 {
            return Err(err());
        }
        let number: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_secs = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        let part = Duration::try_from_secs_f64(number * unit_secs).map_err(|_| err())?;
        total = total.checked_add(part).ok_or_else(err)?;
    }
    Ok(total)
}

/// Writes `d` in the largest whole unit that fits (`30d`, `1h`, `90s`,
/// `500ms`).
fn format_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ms = d.as_millis();
    if ms == 0 {
        return f.write_str("0s");
    }
    if ms / 1000 * 1000 != ms {
        return write!(f, "{ms}ms");
    }
    let secs = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs / size * size == secs {
            return write!(f, "{}{unit}", secs / size);
        }
    }
    write!(f, "{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_servers_spellings_parse() {
        for (text, secs) in [
            ("90s", 90),
            ("30m", 1800),
            ("1h", 3600),
            ("168h", 168 * 3600),
            ("30d", 30 * 86_400),
            ("1h30m", 5400),
            ("0", 0),
            ("2", 2),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn values_no_clock_can_add_are_refused_and_deadlines_never_panic() {
        for text in ["1e19", "1e12", "36501d", "3153600001", "876601h"] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert_eq!(parse("36500d"), Ok(MAX));
        assert!(after(Duration::MAX) > Instant::now());
        assert!(after(MAX) > Instant::now());
        let soon = after(Duration::from_millis(5));
        assert!(soon <= Instant::now() + Duration::from_secs(1));
    }

    #[test]
    fn nonsense_is_refused() {
        for text in ["", "h", "10x", "-1", "1h-", "inf", "NaN", "1e400"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_print_in_their_largest_unit() {
        for (secs, text) in [(30 * 86_400, "30d"), (3600, "1h"), (90, "90s"), (0, "0s")] {
            assert_eq!(HumanDuration(Duration::from_secs(secs)).to_string(), text);
        }
        assert_eq!(
            HumanDuration(Duration::from_millis(250)).to_string(),
            "250ms"
        );
    }
}
