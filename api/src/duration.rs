//! Durations as people write them in manifests: `500ms`, `30s`, `1m30s`, `2h`.

use std::time::Duration;

/// The pattern the CRD schema enforces; [`parse_duration`] accepts exactly this language.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (write it like 500ms, 30s, 1m30s or 2h)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a sequence of `<number><unit>` terms (units `ms`, `s`, `m`, `h`) and adds them up.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    if input.is_empty() {
        return Err(fail("it is empty"));
    }
    if input.starts_with('-') {
        return Err(fail("it is negative"));
    }
    let mut total = Duration::ZERO;
    let mut rest = input;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| fail("a number has no unit"))?;
        if number_len == 0 {
            return Err(fail("a unit has no number before it"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| fail("a number is malformed"))?;
        rest = &rest[number_len..];
        let (unit_seconds, unit_len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else {
            return Err(fail("the unit is not one of ms, s, m, h"));
        };
        rest = &rest[unit_len..];
        // Checked: terms that each fit can still add up past `Duration::MAX`.
        let term = Duration::try_from_secs_f64(number * unit_seconds)
            .map_err(|_| fail("it is too large"))?;
        total = total
            .checked_add(term)
            .ok_or_else(|| fail("it is too large"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn negative_unitless_and_unknown_units_are_rejected_with_a_reason() {
        assert_eq!(parse_duration("-5s").unwrap_err().reason, "it is negative");
        assert_eq!(
            parse_duration("10").unwrap_err().reason,
            "a number has no unit"
        );
        assert_eq!(
            parse_duration("10d").unwrap_err().reason,
            "the unit is not one of ms, s, m, h"
        );
        assert_eq!(parse_duration("").unwrap_err().reason, "it is empty");
        assert_eq!(
            parse_duration("s").unwrap_err().reason,
            "a unit has no number before it"
        );
    }

    #[test]
    fn terms_that_add_up_past_the_largest_duration_are_an_error_not_a_panic() {
        let error = parse_duration("10000000000000000000s10000000000000000000s").unwrap_err();
        assert_eq!(error.reason, "it is too large");
    }

    #[test]
    fn the_error_message_says_how_to_write_a_duration() {
        let message = parse_duration("soon").unwrap_err().to_string();
        assert!(
            message.contains("\"soon\"") && message.contains("1m30s"),
            "{message}"
        );
    }
}
