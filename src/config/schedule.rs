//! `schedule`: when `entrasync run` starts cycles — an interval or a cron expression in UTC.
//!
//! Part of the configuration: the text is checked when the file loads, with the same parser
//! the daemon then uses, so a schedule that loads is one the daemon can follow. What a schedule
//! means — the next start after a given one — is here too, as a pure function of time; the
//! daemon (`daemon/`) decides what to do when a cycle overruns it or keeps failing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::parse_duration;

/// When `run` starts cycles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every so long, measured from the start of the previous cycle ("40m", as Entra does).
    Every(Duration),
    /// A cron expression with a seconds field, in UTC ("0 0 * * * *" is hourly).
    Cron(Box<CronSchedule>),
}

/// A cron expression that parsed, with the text it came from.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronSchedule {}

/// The shortest interval accepted: Graph throttles tighter polling, and Entra itself waits 40
/// minutes.
const SHORTEST: Duration = Duration::from_secs(60);

/// How far ahead a cron expression is searched for its next time (a "30 February" never comes).
const CRON_HORIZON_DAYS: i64 = 366 * 5;

impl Schedule {
    /// Reads `schedule` as written in the file; `Err` says what is wrong and what to write.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        let fields = text.split_whitespace().count();
        if fields == 1 {
            let every = parse_duration(text)?;
            if every < SHORTEST {
                return Err(format!(
                    "\"{text}\" is shorter than a minute; Graph throttles such polling, use \"40m\" or at least \"1m\""
                ));
            }
            return Ok(Schedule::Every(every));
        }
        if !(6..=7).contains(&fields) {
            return Err(format!(
                "\"{text}\" is neither an interval (\"40m\") nor a cron expression with a seconds field (\"0 0 * * * *\" is hourly)"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|err| {
                format!(
                    "\"{text}\" is not a cron expression the scheduler accepts ({err}); it needs six fields, seconds first: \"0 0 * * * *\" is hourly, \"0 */40 * * * *\" fires at :00 and :40"
                )
            })?;
        let schedule = CronSchedule {
            text: text.to_owned(),
            cron,
        };
        let now = Utc::now();
        if schedule.after(now).is_none() {
            return Err(format!(
                "\"{text}\" never comes in the next {} years; check the day and month fields",
                CRON_HORIZON_DAYS / 366
            ));
        }
        Ok(Schedule::Cron(Box::new(schedule)))
    }

    /// When the cycle after one that started at `last_start` is due. `None` only for a cron
    /// expression with no time left in the horizon.
    pub fn next_after(&self, last_start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Every(every) => Some(last_start + *every),
            Schedule::Cron(cron) => cron.after(last_start),
        }
    }

    /// About how long one period of the schedule is, from `now`: the interval, or the time
    /// between the next two cron times. For "is the last success recent?".
    pub fn period(&self, now: DateTime<Utc>) -> Duration {
        let next = self.next_after(now);
        let after = next.and_then(|n| self.next_after(n));
        match (next, after) {
            (Some(next), Some(after)) => (after - next).to_std().unwrap_or(SHORTEST),
            _ => SHORTEST,
        }
    }
}

impl CronSchedule {
    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first time strictly after `time` that the expression names, within the horizon.
    fn after(&self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let next = self.cron.find_next_occurrence(&time, false).ok()?;
        (next - time <= chrono::TimeDelta::days(CRON_HORIZON_DAYS)).then_some(next)
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Every(every) => write!(f, "every {}", super::format_duration(*every)),
            Schedule::Cron(cron) => write!(f, "cron \"{}\" (UTC)", cron.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a test time in RFC 3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn intervals_and_cron_expressions_name_their_next_time() {
        let cases = [
            ("40m", "2026-12-06T10:00:00Z", "2026-12-06T10:40:00Z"),
            ("1h30m", "2026-12-06T23:00:00Z", "2026-12-07T00:30:00Z"),
            (
                "0 0 * * * *",
                "2026-12-06T10:00:00Z",
                "2026-12-06T11:00:00Z",
            ),
            (
                "0 0 * * * *",
                "2026-12-06T10:59:59Z",
                "2026-12-06T11:00:00Z",
            ),
            (
                "0 */40 * * * *",
                "2026-12-06T10:00:00Z",
                "2026-12-06T10:40:00Z",
            ),
            (
                "0 */40 * * * *",
                "2026-12-06T10:40:00Z",
                "2026-12-06T11:00:00Z",
            ),
            (
                "0 30 2 * * MON",
                "2026-12-06T10:00:00Z",
                "2026-12-07T02:30:00Z",
            ),
        ];
        for (text, last, want) in cases {
            let schedule = Schedule::parse(text).expect(text);
            assert_eq!(
                schedule.next_after(at(last)),
                Some(at(want)),
                "{text} after {last}"
            );
        }
    }

    #[test]
    fn bad_schedules_say_what_to_write() {
        let cases = [
            ("30s", "shorter than a minute"),
            ("0 * * * *", "seconds field"),
            (
                "0 61 * * * *",
                "not a cron expression the scheduler accepts",
            ),
            ("sometimes", "sometimes"),
            ("0 0 0 30 2 *", "never comes"),
        ];
        for (text, part) in cases {
            let err = Schedule::parse(text).expect_err(text);
            assert!(err.contains(part), "{text}: {err}");
        }
    }

    #[test]
    fn a_period_is_the_interval_or_the_gap_between_cron_times() {
        let now = at("2026-12-06T10:15:00Z");
        let every = Schedule::parse("40m").expect("valid");
        assert_eq!(every.period(now), Duration::from_secs(2400));
        let hourly = Schedule::parse("0 0 * * * *").expect("valid");
        assert_eq!(hourly.period(now), Duration::from_secs(3600));
    }
}
