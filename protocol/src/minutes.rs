//! Time-bank amounts: whole minutes, written like `1h30m`, `90m`, `1.5h`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A positive or zero amount of time in whole minutes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Minutes(pub u32);

/// The longest single duration accepted in text (about 41 days): bounds arithmetic and typos.
pub const MAX_DURATION_MINUTES: u32 = 1_000 * 60;

impl Minutes {
    pub fn from_hours(hours: u32) -> Self {
        Minutes(hours.saturating_mul(60))
    }
}

impl fmt::Debug for Minutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Minutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_signed_minutes(i64::from(self.0)))
    }
}

/// Writes a signed number of minutes the way people read it: `0h`, `45m`, `2h`, `1h30m`, `-12h`.
pub fn format_signed_minutes(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let total = minutes.unsigned_abs();
    let (hours, rest) = (total / 60, total % 60);
    match (hours, rest) {
        (0, 0) => "0h".to_string(),
        (h, 0) => format!("{sign}{h}h"),
        (0, m) => format!("{sign}{m}m"),
        (h, m) => format!("{sign}{h}h{m}m"),
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("no duration given; write it like 1h, 90m, 1h30m or 1.5h")]
    Empty,
    #[error("`{0}` is not a duration; write it like 1h, 90m, 1h30m or 1.5h")]
    Malformed(String),
    #[error("a duration must be more than zero")]
    Zero,
    #[error("`{0}` is longer than the longest duration accepted (1000h)")]
    TooLong(String),
    #[error("`{0}` is not a whole number of minutes")]
    NotWholeMinutes(String),
}

impl FromStr for Minutes {
    type Err = DurationError;

    /// Accepts `1h`, `90m`, `1h30m`, `1.5h`, `0.25h`; case-insensitive; no sign, no spaces inside.
    fn from_str(text: &str) -> Result<Self, DurationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        let malformed = || DurationError::Malformed(text.to_string());
        let lower = text.to_ascii_lowercase();
        let (hours_part, minutes_part) = match lower.split_once('h') {
            Some((h, rest)) => (Some(h), if rest.is_empty() { None } else { Some(rest) }),
            None => (None, Some(lower.as_str())),
        };
        // Hundredths of a minute, so "1.5h" and "0.25h" stay exact.
        let mut hundredths: u64 = 0;
        if let Some(hours) = hours_part {
            hundredths += parse_decimal_hundredths(hours).ok_or_else(malformed)? * 60;
        }
        if let Some(minutes) = minutes_part {
            let digits = minutes.strip_suffix('m').ok_or_else(malformed)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 7 {
                return Err(malformed());
            }
            let value: u64 = digits.parse().map_err(|_| malformed())?;
            hundredths += value * 100;
        }
        if !hundredths.is_multiple_of(100) {
            return Err(DurationError::NotWholeMinutes(text.to_string()));
        }
        let minutes = hundredths / 100;
        if minutes == 0 {
            return Err(DurationError::Zero);
        }
        if minutes > u64::from(MAX_DURATION_MINUTES) {
            return Err(DurationError::TooLong(text.to_string()));
        }
        Ok(Minutes(minutes as u32))
    }
}

/// `"1"` → 100, `"1.5"` → 150, `"0.25"` → 25; at most two decimals and seven integer digits.
fn parse_decimal_hundredths(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !digits_only(whole) || !digits_only(fraction) || fraction.len() > 2 || whole.len() > 7 {
        return None;
    }
    if text.contains('.') && fraction.is_empty() {
        return None;
    }
    let whole_value: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let fraction_value: u64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    Some(whole_value * 100 + fraction_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_people_write() {
        for (text, minutes) in
            [("1h", 60), ("90m", 90), ("1h30m", 90), ("1.5h", 90), ("0.25h", 15), ("2H", 120), ("45m", 45)]
        {
            assert_eq!(text.parse::<Minutes>(), Ok(Minutes(minutes)), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        assert_eq!("".parse::<Minutes>(), Err(DurationError::Empty));
        assert!(matches!("abc".parse::<Minutes>(), Err(DurationError::Malformed(_))));
        assert!(matches!("-1h".parse::<Minutes>(), Err(DurationError::Malformed(_))));
        assert!(matches!("1h 30m".parse::<Minutes>(), Err(DurationError::Malformed(_))));
        assert!(matches!("1.h".parse::<Minutes>(), Err(DurationError::Malformed(_))));
        assert_eq!("0m".parse::<Minutes>(), Err(DurationError::Zero));
        assert!(matches!("0.01h".parse::<Minutes>(), Err(DurationError::NotWholeMinutes(_))));
        assert!(matches!("2000h".parse::<Minutes>(), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn writes_durations_plainly() {
        assert_eq!(Minutes(90).to_string(), "1h30m");
        assert_eq!(Minutes(0).to_string(), "0h");
        assert_eq!(format_signed_minutes(-720), "-12h");
        assert_eq!(format_signed_minutes(-45), "-45m");
    }
}
