//! Dates and times as people read and write them, in this node's time zone (the computer's,
//! or `TZ`): gatherings' starts in words ("Thursday 4 December, 2:00 pm"), the dates a
//! repeating gathering falls on, parsing `2026-12-04 14:00` or RFC 3339, and gatherings as
//! iCalendar text (RFC 5545, with their repetition rule) through the `icalendar` crate.

use chrono::{DateTime, Datelike, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use icalendar::{Calendar, Component, Event, EventLike};

use kith_protocol::gathering::{self, Repeat, Schedule};

/// The local date and time of an instant (ms since the epoch) in this node's time zone.
fn local(ms: u64) -> Option<DateTime<Local>> {
    Local.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// This node's distance from UTC at an instant, in minutes (what a new gathering records).
pub fn offset_minutes(ms: u64) -> i16 {
    local(ms).map_or(0, |t| i16::try_from(t.offset().local_minus_utc() / 60).unwrap_or(0))
}

/// "Thursday 4 December, 2:00 pm" (the year too when it is not this year's).
pub fn in_words(ms: u64, now_ms: u64) -> String {
    let Some(time) = local(ms) else { return String::new() };
    let this_year = local(now_ms).map(|n| n.year());
    if this_year == Some(time.year()) {
        time.format("%A %-d %B, %-I:%M %P").to_string()
    } else {
        time.format("%A %-d %B %Y, %-I:%M %P").to_string()
    }
}

/// `YYYY-MM`: the month an instant falls in here (the report's months).
pub fn month_of(ms: u64) -> String {
    local(ms).map(|t| t.format("%Y-%m").to_string()).unwrap_or_default()
}

/// "4 Dec 2026": the day an instant falls on here.
pub fn short_date(ms: u64) -> String {
    local(ms).map(|t| t.format("%-d %b %Y").to_string()).unwrap_or_default()
}

/// A date as the report's `--from`/`--to` take it, in this node's time zone: `2026-12-04` (its
/// midnight here, or the next midnight when `end_of_day`, so that a "to" date includes that
/// day), `2026-12-04 14:00`, or RFC 3339.
pub fn parse_report_date(text: &str, end_of_day: bool) -> Result<u64, String> {
    let text = text.trim();
    let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") else { return parse_date_time(text) };
    let date = if end_of_day { date.succ_opt().ok_or_else(|| format!("`{text}` is too late a date"))? } else { date };
    let midnight = Local
        .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .ok_or_else(|| format!("`{text}` has no midnight here"))?;
    u64::try_from(midnight.timestamp_millis()).map_err(|_| format!("`{text}` is before 1970"))
}

/// "2:00 pm": a time of day alone (for an end on the same day).
pub fn time_in_words(ms: u64) -> String {
    local(ms).map(|t| t.format("%-I:%M %P").to_string()).unwrap_or_default()
}

/// "Thursday 4 December 2026": a date alone.
pub fn day_in_words(day: u32) -> String {
    let (year, month, date) = gathering::civil(day);
    NaiveDate::from_ymd_opt(year, month, date).map(|d| d.format("%A %-d %B %Y").to_string()).unwrap_or_default()
}

/// RFC 3339 in UTC.
pub fn rfc3339(ms: u64) -> String {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The civil day (see [`gathering::civil`]) an instant falls on here.
pub fn day_of_instant(ms: u64) -> u32 {
    local(ms).and_then(|t| gathering::day_of(t.year(), t.month(), t.day())).unwrap_or(0)
}

/// `2026-12-04` as a civil day.
pub fn parse_day(text: &str) -> Result<u32, String> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{}` is not a date like 2026-12-04", text.trim()))?;
    gathering::day_of(date.year(), date.month(), date.day()).ok_or_else(|| format!("`{}` is before 1970", text.trim()))
}

/// `2026-12-04` of a civil day.
pub fn day_text(day: u32) -> String {
    let (year, month, date) = gathering::civil(day);
    format!("{year:04}-{month:02}-{date:02}")
}

/// `2026-12-04 14:00` (this node's time zone) or RFC 3339, as ms since the epoch.
pub fn parse_date_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let refuse = || format!("`{text}` is not a date and time like 2026-12-04 14:00 (or RFC 3339)");
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return u64::try_from(time.timestamp_millis()).map_err(|_| refuse());
    }
    let naive = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(refuse)?;
    let time = Local
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| format!("`{text}` does not exist here: the clocks change then"))?;
    u64::try_from(time.timestamp_millis()).map_err(|_| refuse())
}

/// When a gathering's date starts: the first start's wall-clock time here, on that day.
pub fn occurrence_start(schedule: &Schedule, day: u32) -> u64 {
    let first = day_of_instant(schedule.starts_at);
    if day == first {
        return schedule.starts_at;
    }
    let shifted = local(schedule.starts_at).and_then(|start| {
        let naive = start.naive_local() + chrono::Duration::days(i64::from(day) - i64::from(first));
        Local.from_local_datetime(&naive).earliest()
    });
    shifted.and_then(|t| u64::try_from(t.timestamp_millis()).ok()).unwrap_or(schedule.starts_at)
}

/// The dates a gathering takes place on from today on (at most `limit`), in this node's
/// calendar. A one-off gathering that is over has none.
pub fn coming_days(schedule: &Schedule, now_ms: u64, limit: usize) -> Vec<u32> {
    // The protocol counts dates in the author's zone; here they are the same dates as long as
    // the node and the author share a zone (a neighbourhood does).
    schedule.days_from(day_of_instant(now_ms), limit)
}

/// What a gathering is, for one calendar event.
#[derive(Debug, Clone)]
pub struct CalendarEntry<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub details: &'a str,
    pub place: &'a str,
    pub author_name: &'a str,
    pub schedule: &'a Schedule,
    pub created_at_ms: u64,
}

/// The RFC 5545 repetition rule of a schedule, with its last date in local time (the start
/// is written in floating local time, so the rule stays at the same wall-clock time across
/// the clocks changing).
pub fn rrule(schedule: &Schedule) -> Option<String> {
    let repeat = schedule.repeat?;
    let mut rule = match repeat {
        Repeat::Weekly => "FREQ=WEEKLY".to_string(),
        Repeat::Fortnightly => "FREQ=WEEKLY;INTERVAL=2".to_string(),
        Repeat::Monthly => {
            let first = schedule.first_day();
            let (_, _, date) = gathering::civil(first);
            let week = (date - 1) / 7 + 1;
            let nth = if week == 5 { "-1".to_string() } else { week.to_string() };
            const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
            let weekday = DAYS.get(gathering::weekday(first) as usize).copied().unwrap_or("MO");
            format!("FREQ=MONTHLY;BYDAY={nth}{weekday}")
        }
    };
    if let Some(until) = schedule.until {
        let (year, month, date) = gathering::civil(until);
        rule.push_str(&format!(";UNTIL={year:04}{month:02}{date:02}T235959"));
    }
    Some(rule)
}

fn event(entry: &CalendarEntry<'_>, now_ms: u64) -> Option<Event> {
    let start = local(entry.schedule.starts_at)?.naive_local();
    let mut event = Event::new();
    event
        .uid(&format!("{}@kith", entry.id))
        .summary(entry.title)
        .starts(start)
        .timestamp(DateTime::<Utc>::from_timestamp_millis(i64::try_from(now_ms).ok()?)?);
    if let Some(end) = entry.schedule.ends_at.and_then(local) {
        event.ends(end.naive_local());
    }
    if !entry.place.trim().is_empty() {
        event.location(entry.place);
    }
    let mut description = entry.details.trim().to_string();
    if !entry.author_name.is_empty() {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!("Started by {} on Kith.", entry.author_name));
    }
    event.description(&description);
    if let Some(rule) = rrule(entry.schedule) {
        event.add_property("RRULE", rule);
    }
    if let Some(created) = DateTime::<Utc>::from_timestamp_millis(i64::try_from(entry.created_at_ms).ok()?) {
        event.add_property("CREATED", created.format("%Y%m%dT%H%M%SZ").to_string());
    }
    Some(event.done())
}

/// Gatherings as one iCalendar document (`name` names the calendar).
pub fn calendar(name: &str, entries: &[CalendarEntry<'_>], now_ms: u64) -> String {
    let mut calendar = Calendar::new();
    calendar.name(name);
    for entry in entries {
        if let Some(event) = event(entry, now_ms) {
            calendar.push(event);
        }
    }
    calendar.done().to_string()
}

/// The seconds after midnight of an instant here (for tests and the web form).
pub fn local_time_text(ms: u64) -> String {
    local(ms).map(|t| format!("{:02}:{:02}", t.hour(), t.minute())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 12:00 UTC: already 1 December fourteen hours east of Greenwich.
    const LATE_NOVEMBER_UTC: u64 = 1_796_040_000_000;

    /// Run by [`the_report_s_months_and_dates_follow_tz`] in a child process whose `TZ` is 14
    /// hours east of UTC (a process's time zone is read once; the parent's is left alone).
    #[test]
    #[ignore = "run by the_report_s_months_and_dates_follow_tz with TZ set"]
    fn report_dates_in_the_child_s_time_zone() {
        assert_eq!(std::env::var("TZ").as_deref(), Ok("<+14>-14"));
        assert_eq!(month_of(LATE_NOVEMBER_UTC), "2026-12", "the month here, not UTC's");
        assert_eq!(short_date(LATE_NOVEMBER_UTC), "1 Dec 2026");
        // 1 December from local midnight (30 November 10:00 UTC), 14 hours before UTC's.
        assert_eq!(parse_report_date("2026-12-01", false), Ok(LATE_NOVEMBER_UTC - 2 * 3_600_000));
        assert_eq!(parse_report_date("2026-11-30", true), Ok(LATE_NOVEMBER_UTC - 2 * 3_600_000));
        assert_eq!(parse_report_date("2026-12-01 09:00", false), Ok(LATE_NOVEMBER_UTC + 7 * 3_600_000));
        assert_eq!(parse_report_date("2026-11-30T12:00:00Z", false), Ok(LATE_NOVEMBER_UTC));
    }

    #[test]
    fn the_report_s_months_and_dates_follow_tz() {
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test binary: {e}"));
        let child = std::process::Command::new(exe)
            .args(["--exact", "when::tests::report_dates_in_the_child_s_time_zone", "--ignored", "--nocapture"])
            .env("TZ", "<+14>-14")
            .output()
            .unwrap_or_else(|e| panic!("cannot run the test binary: {e}"));
        let said = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "{said}{}", String::from_utf8_lossy(&child.stderr));
        assert!(said.contains("1 passed"), "the child ran its test: {said}");
    }

    fn thursday(repeat: Option<Repeat>) -> Schedule {
        // Thursday 2026-12-03 14:00 UTC.
        let day = gathering::day_of(2026, 12, 3).unwrap_or(0);
        Schedule {
            starts_at: u64::from(day) * 86_400_000 + 14 * 3_600_000,
            ends_at: Some(u64::from(day) * 86_400_000 + 16 * 3_600_000),
            offset_minutes: 0,
            repeat,
            until: repeat.map(|_| day + 28),
            capacity: Some(10),
        }
    }

    #[test]
    fn rules_name_the_repetition() {
        assert_eq!(rrule(&thursday(None)), None);
        assert_eq!(rrule(&thursday(Some(Repeat::Weekly))).as_deref(), Some("FREQ=WEEKLY;UNTIL=20261231T235959"));
        assert_eq!(
            rrule(&thursday(Some(Repeat::Fortnightly))).as_deref(),
            Some("FREQ=WEEKLY;INTERVAL=2;UNTIL=20261231T235959")
        );
        assert_eq!(
            rrule(&thursday(Some(Repeat::Monthly))).as_deref(),
            Some("FREQ=MONTHLY;BYDAY=1TH;UNTIL=20261231T235959")
        );
    }

    #[test]
    fn a_calendar_holds_the_event_and_its_rule() {
        let schedule = thursday(Some(Repeat::Weekly));
        let entry = CalendarEntry {
            id: "abcd",
            title: "Tea, talk; and cake",
            details: "Bring a cup",
            place: "The library",
            author_name: "Bob",
            schedule: &schedule,
            created_at_ms: schedule.starts_at - 86_400_000,
        };
        let text = calendar("Kith", &[entry], schedule.starts_at);
        assert!(text.contains("BEGIN:VCALENDAR\r\n"), "{text}");
        assert!(text.contains("UID:abcd@kith\r\n"), "{text}");
        assert!(text.contains("SUMMARY:Tea\\, talk\\; and cake\r\n"), "{text}");
        assert!(text.contains("RRULE:FREQ=WEEKLY;UNTIL=20261231T235959\r\n"), "{text}");
        assert!(text.contains("LOCATION:The library\r\n"), "{text}");
        assert!(text.contains("DTSTART:2026"), "floating local time: {text}");
    }

    #[test]
    fn dates_parse_and_read() {
        assert_eq!(parse_date_time("2026-12-03T14:00:00Z"), Ok(thursday(None).starts_at));
        assert!(parse_date_time("next thursday").is_err());
        let day = parse_day("2026-12-04");
        assert_eq!(day.clone().map(day_text).as_deref(), Ok("2026-12-04"));
        assert_eq!(day.map(day_in_words).as_deref(), Ok("Friday 4 December 2026"));
    }
}
