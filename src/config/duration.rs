//! Durations as operators write them in the config: `40m`, `1h30m`, `90s`, `250ms`, `7d`.
//!
//! Part of configuration loading (raw text → validated values); pure.

use std::time::Duration;

/// Parses a sequence of `<whole number><unit>` with units `ms`, `s`, `m`, `h`, `d`.
/// Returns a sentence saying what is wrong, for the caller to put beside the key.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty; write a duration such as \"40m\", \"1h30m\" or \"90s\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "\"{text}\" is not a duration: expected a number at \"{rest}\" (units: ms, s, m, h, d)"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("\"{text}\" has a number too large to be a duration"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "\"{text}\" needs a unit after {number}: ms, s, m, h or d (\"40m\")"
                ));
            }
            other => {
                return Err(format!(
                    "\"{text}\" has the unknown unit \"{other}\"; use ms, s, m, h or d"
                ));
            }
        };
        let part = number
            .checked_mul(millis_per_unit)
            .ok_or_else(|| format!("\"{text}\" is too long a duration"))?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(|| format!("\"{text}\" is too long a duration"))?;
    }
    Ok(total)
}

/// Writes a duration the way the config does (`40m`, `1h30m`, `90s`), to whole seconds; under a
/// second, in milliseconds.
pub fn format(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            text.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_as_they_are_read() {
        for text in ["40m", "1h30m", "90ms", "1d2h3m4s", "45s"] {
            let parsed = parse_duration(text).expect(text);
            let written = format(parsed);
            assert_eq!(parse_duration(&written), Ok(parsed), "{text} → {written}");
        }
        assert_eq!(format(Duration::from_secs(2400)), "40m");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
    }

    #[test]
    fn reads_what_operators_write() {
        let table = [
            ("40m", 2_400_000),
            ("1h30m", 5_400_000),
            ("1h 30m", 5_400_000),
            ("90s", 90_000),
            ("250ms", 250),
            ("7d", 604_800_000),
            (" 2h ", 7_200_000),
        ];
        for (text, millis) in table {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for (text, says) in [
            ("", "is empty"),
            ("40", "needs a unit"),
            ("40 minutes", "unknown unit"),
            ("m40", "expected a number"),
            ("5w", "unknown unit"),
            ("99999999999999999999s", "too large"),
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
