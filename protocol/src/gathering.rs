//! Gatherings people come to: a gathering's schedule (start, end, repetition, last date,
//! capacity), the calendar arithmetic of its dates, and who is coming (each member's latest
//! answer). Pure: dates are civil days counted from 1970-01-01 in the author's time zone as it
//! was when they wrote the gathering (`offset_minutes`), so every node finds the same dates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::EntryError;
use crate::identity::MemberId;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Most people a gathering may say it has room for.
pub const MAX_CAPACITY: u32 = 10_000;
/// Largest distance from UTC a time zone has (UTC+14), in minutes.
pub const MAX_OFFSET_MINUTES: i16 = 14 * 60;
/// Latest a gathering may start: the last moment of the year 9999.
pub const MAX_STARTS_AT: u64 = 253_402_300_799_999;
/// Longest a single gathering may last: two days.
pub const MAX_LENGTH_MS: u64 = 2 * DAY_MS as u64;

/// How a gathering repeats: every week, every other week, or monthly on the same weekday
/// ("the first Thursday"; a gathering on a fifth weekday repeats on the month's last one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Repeat {
    Weekly,
    Fortnightly,
    Monthly,
}

impl Repeat {
    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::Weekly => "weekly",
            Repeat::Fortnightly => "fortnightly",
            Repeat::Monthly => "monthly",
        }
    }

    pub fn parse(text: &str) -> Option<Repeat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "weekly" => Some(Repeat::Weekly),
            "fortnightly" => Some(Repeat::Fortnightly),
            "monthly" => Some(Repeat::Monthly),
            _ => None,
        }
    }
}

/// When a gathering happens, as its author wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    /// The first (or only) start, ms since the epoch.
    pub starts_at: u64,
    /// When the first one ends, ms since the epoch (after `starts_at`).
    pub ends_at: Option<u64>,
    /// The author's distance from UTC at `starts_at`, in minutes: it fixes the local date and
    /// weekday the repetition counts from.
    pub offset_minutes: i16,
    pub repeat: Option<Repeat>,
    /// The last date it may repeat on (a civil day, in the author's time zone).
    pub until: Option<u32>,
    /// How many people it has room for.
    pub capacity: Option<u32>,
}

impl Schedule {
    /// The local civil day of the first start.
    pub fn first_day(&self) -> u32 {
        let local = self.starts_at as i64 + i64::from(self.offset_minutes) * 60_000;
        u32::try_from(local.div_euclid(DAY_MS)).unwrap_or(0)
    }

    /// Milliseconds after local midnight at which each occurrence starts.
    pub fn local_start_ms(&self) -> u64 {
        let local = self.starts_at as i64 + i64::from(self.offset_minutes) * 60_000;
        local.rem_euclid(DAY_MS) as u64
    }

    /// Checks the schedule's own bounds.
    pub fn check(&self) -> Result<(), EntryError> {
        let bad = |reason: &str| Err(EntryError::BadSchedule(reason.to_string()));
        if self.starts_at > MAX_STARTS_AT {
            return bad("it starts after the year 9999");
        }
        if self.offset_minutes.abs() > MAX_OFFSET_MINUTES {
            return bad("its time zone is more than 14 hours from UTC");
        }
        if let Some(ends_at) = self.ends_at {
            if ends_at <= self.starts_at {
                return bad("it ends before it starts");
            }
            if ends_at - self.starts_at > MAX_LENGTH_MS {
                return bad("it lasts more than two days");
            }
        }
        if self.capacity.is_some_and(|c| c == 0 || c > MAX_CAPACITY) {
            return bad("its capacity must be between 1 and 10000 people");
        }
        match (self.repeat, self.until) {
            (None, Some(_)) => bad("a last date is only for a gathering that repeats"),
            (Some(_), Some(until)) if until < self.first_day() => bad("its last date is before its first"),
            _ => Ok(()),
        }
    }

    /// Whether the gathering takes place on this civil day (its first day, or a repetition).
    pub fn happens_on(&self, day: u32) -> bool {
        let first = self.first_day();
        if day < first || self.until.is_some_and(|until| day > until) {
            return false;
        }
        let Some(repeat) = self.repeat else { return day == first };
        let apart = day - first;
        match repeat {
            Repeat::Weekly => apart.is_multiple_of(7),
            Repeat::Fortnightly => apart.is_multiple_of(14),
            Repeat::Monthly => weekday(day) == weekday(first) && same_week_of_month(first, day),
        }
    }

    /// The dates it takes place on, from `from` on (inclusive), at most `limit` of them.
    pub fn days_from(&self, from: u32, limit: usize) -> Vec<u32> {
        let first = self.first_day();
        let mut day = from.max(first);
        let last = match (self.repeat, self.until) {
            (None, _) => first,
            (Some(_), Some(until)) => until,
            // Unbounded: look no further than ten years ahead.
            (Some(_), None) => day.saturating_add(3660),
        };
        // Step to the first day with the right weekday, then a week at a time.
        while day <= last && weekday(day) != weekday(first) {
            day += 1;
        }
        let mut out = Vec::new();
        while day <= last && out.len() < limit {
            if self.happens_on(day) {
                out.push(day);
            }
            day += 7;
        }
        out
    }
}

/// Day of the week of a civil day: 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: u32) -> u32 {
    (day + 3) % 7
}

/// (year, month 1-12, day of month 1-31) of a civil day (Howard Hinnant's algorithm).
pub fn civil(day: u32) -> (i32, u32, u32) {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// The civil day of a date, or `None` before 1970 or for a date that does not exist.
pub fn day_of(year: i32, month: u32, day: u32) -> Option<u32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u32::try_from(era * 146_097 + doe - 719_468).ok()
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Which week of its month a day falls in: 1 for days 1–7, … 5 for days 29–31.
fn week_of_month(day: u32) -> u32 {
    (civil(day).2 - 1) / 7 + 1
}

/// Whether `day` is the same weekday-of-the-month as `first`: the same week number, or — when
/// `first` was in a fifth week — the month's last such weekday.
fn same_week_of_month(first: u32, day: u32) -> bool {
    let week = week_of_month(first);
    if week == 5 {
        let (year, month, date) = civil(day);
        return date + 7 > days_in_month(year, month);
    }
    week_of_month(day) == week
}

/// One member's answers to one gathering: for every date (`all`) and for single dates. The
/// latest answer counts: an answer for every date replaces the single-date ones before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answers {
    pub all: Option<bool>,
    pub dates: BTreeMap<u32, bool>,
    /// The latest answering entry and its date (ms), for the author's inbox.
    pub latest: Option<(crate::entry::EntryHash, u64)>,
}

impl Answers {
    /// Records an answer; the reducer calls it in the member's log order.
    pub fn answer(&mut self, date: Option<u32>, coming: bool) {
        match date {
            None => {
                self.all = Some(coming);
                self.dates.clear();
            }
            Some(day) => {
                self.dates.insert(day, coming);
            }
        }
    }

    /// Whether they are coming on a date (`None`: the gathering as a whole, or its next date
    /// when the caller does not name one).
    pub fn coming_on(&self, date: Option<u32>) -> bool {
        match date {
            Some(day) => self.dates.get(&day).copied().or(self.all).unwrap_or(false),
            None => self.all.unwrap_or(false) || self.dates.values().any(|c| *c),
        }
    }
}

/// Who answered a gathering, by member.
pub type Attendance = BTreeMap<MemberId, Answers>;

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(starts_at: u64, repeat: Option<Repeat>, until: Option<u32>) -> Schedule {
        Schedule { starts_at, ends_at: None, offset_minutes: 0, repeat, until, capacity: None }
    }

    /// Thursday 3 December 2026, 14:00 UTC.
    fn thursday() -> u64 {
        u64::from(day_of(2026, 12, 3).unwrap_or(0)) * DAY_MS as u64 + 14 * 3600 * 1000
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(day_of(1970, 1, 1), Some(0));
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        for day in [0, 59, 365, 11_016, 20_426, 20_791, 40_000] {
            let (y, m, d) = civil(day);
            assert_eq!(day_of(y, m, d), Some(day));
        }
        assert_eq!(day_of(2026, 2, 29), None);
        assert_eq!(day_of(2028, 2, 29).map(civil), Some((2028, 2, 29)));
    }

    #[test]
    fn the_first_day_is_local() {
        // 23:30 UTC on the 2nd is 00:30 on the 3rd an hour east.
        let late = thursday() - 14 * 3600 * 1000 - 30 * 60 * 1000;
        let mut s = schedule(late, None, None);
        assert_eq!(civil(s.first_day()), (2026, 12, 2));
        s.offset_minutes = 60;
        assert_eq!(civil(s.first_day()), (2026, 12, 3));
        assert_eq!(s.local_start_ms(), 30 * 60 * 1000);
    }

    #[test]
    fn weekly_fortnightly_and_monthly_dates() {
        let first = day_of(2026, 12, 3).unwrap_or(0);
        assert_eq!(weekday(first), 3, "a Thursday");
        let weekly = schedule(thursday(), Some(Repeat::Weekly), day_of(2026, 12, 30));
        let dates: Vec<_> = weekly.days_from(0, 10).into_iter().map(civil).collect();
        assert_eq!(dates, vec![(2026, 12, 3), (2026, 12, 10), (2026, 12, 17), (2026, 12, 24)]);
        assert!(!weekly.happens_on(first + 1));
        let fortnightly = schedule(thursday(), Some(Repeat::Fortnightly), None);
        assert!(fortnightly.happens_on(first + 14) && !fortnightly.happens_on(first + 7));
        // The first Thursday of the month.
        let monthly = schedule(thursday(), Some(Repeat::Monthly), None);
        let dates: Vec<_> = monthly.days_from(first + 1, 3).into_iter().map(civil).collect();
        assert_eq!(dates, vec![(2027, 1, 7), (2027, 2, 4), (2027, 3, 4)]);
        // A fifth Thursday (29 October 2026) repeats on the last Thursday.
        let fifth = u64::from(day_of(2026, 10, 29).unwrap_or(0)) * DAY_MS as u64;
        let last = schedule(fifth, Some(Repeat::Monthly), None);
        let dates: Vec<_> = last.days_from(0, 3).into_iter().map(civil).collect();
        assert_eq!(dates, vec![(2026, 10, 29), (2026, 11, 26), (2026, 12, 31)]);
        let once = schedule(thursday(), None, None);
        assert_eq!(once.days_from(0, 5), vec![first]);
        assert!(once.days_from(first + 1, 5).is_empty());
    }

    #[test]
    fn impossible_schedules_are_refused() {
        let ok = schedule(thursday(), Some(Repeat::Weekly), None);
        assert_eq!(ok.check(), Ok(()));
        let ends_first = Schedule { ends_at: Some(thursday() - 1), ..ok };
        assert!(ends_first.check().is_err());
        let too_long = Schedule { ends_at: Some(thursday() + MAX_LENGTH_MS + 1), ..ok };
        assert!(too_long.check().is_err());
        assert!(Schedule { capacity: Some(0), ..ok }.check().is_err());
        assert!(Schedule { starts_at: MAX_STARTS_AT + 1, ..ok }.check().is_err());
        assert!(Schedule { offset_minutes: 15 * 60, ..ok }.check().is_err());
        assert!(Schedule { until: Some(ok.first_day() - 1), ..ok }.check().is_err());
        assert!(Schedule { repeat: None, until: Some(ok.first_day() + 7), ..ok }.check().is_err());
    }

    #[test]
    fn the_latest_answer_counts() {
        let mut answers = Answers::default();
        answers.answer(None, true);
        assert!(answers.coming_on(Some(5)) && answers.coming_on(None));
        answers.answer(Some(5), false);
        assert!(!answers.coming_on(Some(5)) && answers.coming_on(Some(12)));
        answers.answer(None, false);
        answers.answer(Some(12), true);
        assert!(!answers.coming_on(Some(5)) && answers.coming_on(Some(12)));
        answers.answer(None, true);
        assert!(answers.coming_on(Some(5)), "an answer for every date replaces the single ones");
    }
}
