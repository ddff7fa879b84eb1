//! `--timeout` values: `500ms`, `2s`, `1.5` (bare seconds), `5m`, `1h`.

use std::time::Duration;

/// The longest timeout taken: a year. Anything longer is surely a slip, and a year added to
/// the clock is far from where `Instant + Duration` overflows (and panics).
pub(crate) const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// A timeout from the command line: a positive number with `ms`, `s`, `m` or `h`, or none
/// for seconds; fractions and exponents as Rust reads floats (`1.5`, `1e3ms`). Not
/// infinite, not NaN, not zero or below, not more than [`MAX`].
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    // `ms` before `m` and `s`: "5ms" also ends with "s".
    let (number, unit) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
        .into_iter()
        .find_map(|(suffix, unit)| t.strip_suffix(suffix).map(|n| (n, unit)))
        .unwrap_or((t, 1.0));
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 2s, 1.5, 5m or 1h)"))?;
    if !value.is_finite() {
        return Err(format!("`{text}` is not a finite duration"));
    }
    if value <= 0.0 {
        return Err(format!("`{text}`: the timeout must be more than zero"));
    }
    let seconds = value * unit;
    if seconds > MAX.as_secs_f64() {
        return Err(format!(
            "`{text}` is too long: the longest timeout is a year (8760h)"
        ));
    }
    // Finite, positive and at most a year: `from_secs_f64` cannot panic here.
    match Duration::from_secs_f64(seconds) {
        d if d.is_zero() => Err(format!("`{text}` is shorter than a nanosecond")),
        d => Ok(d),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        let ok = [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            ("1.5", Duration::from_millis(1500)),
            ("3", Duration::from_secs(3)),
            ("1m", Duration::from_secs(60)),
            ("1.5m", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("1e3ms", Duration::from_secs(1)),
            (" 2s ", Duration::from_secs(2)),
            ("8760h", MAX),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let bad = [
            ("", "not a duration"),
            ("fast", "not a duration"),
            ("5 min", "not a duration"),
            ("1d", "not a duration"),
            ("ms", "not a duration"),
            ("inf", "not a finite"),
            ("infs", "not a finite"),
            ("NaN", "not a finite"),
            ("0", "more than zero"),
            ("0ms", "more than zero"),
            ("-1s", "more than zero"),
            ("-0", "more than zero"),
            ("1e20", "too long"),
            ("1e300h", "too long"),
            ("8761h", "too long"),
            ("366d", "not a duration"),
            ("1e-12", "shorter than a nanosecond"),
        ];
        for (text, want) in bad {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
