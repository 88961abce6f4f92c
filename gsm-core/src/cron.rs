//! Cron schedules in a time zone ([`Schedule`]): when a schedule fires next, and which fires a
//! stopped scheduler missed.
//!
//! The parsing and the wall-clock search are `croner`'s; this module pins its dialect, names the
//! time zone, words the errors and fixes the daylight-saving rules below. Instants are
//! [`jiff::Timestamp`]s the caller passes in; the module never reads the clock. Time zones come
//! from jiff's bundled copy of the IANA database, never the host's `/usr/share/zoneinfo`, so the
//! module does no I/O and the server, the agent and the operator agree on every instant.
//!
//! # Dialect
//!
//! Five fields, `minute hour day-of-month month day-of-week`, or six with a leading `second`.
//! Names (`JAN`, `MON`), lists, ranges and steps (`*/15`, `1-5/2`) work as in Vixie cron, plus
//! croner's `L`, `W` and `#` in the day fields. When both day fields are restricted, a day
//! matching either fires (Vixie's OR). `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily`
//! and `@hourly` are accepted. A year field is not. An expression no date can satisfy
//! (`0 0 30 2 *`) is refused at parse time, so a parsed schedule always has a next fire.
//!
//! # Daylight saving time
//!
//! A schedule is *fixed-time* when none of its second, minute and hour fields uses `*`
//! (`30 2 * * *`, `0 9,21 * * *`, `0 8-18 * * 1-5`, `@daily`), and *interval* otherwise
//! (`*/15 * * * *`, `0 * * * *`, `@hourly`), which is Vixie cron's split. Then:
//!
//! - **Spring forward** (a wall-clock range is skipped). A fixed-time schedule whose time falls
//!   in the gap fires once, at the first instant after the gap: `30 2 * * *` in Europe/Berlin on
//!   2025-03-30 fires at 03:00 CEST (01:00 UTC), like Vixie cron. Several skipped times collapse
//!   into that one fire. An interval schedule skips the times that did not exist and carries on
//!   (`*/15` runs 01:45 CET, then 03:00 CEST: 15 real minutes apart).
//! - **Fall back** (a wall-clock range repeats). A fixed-time schedule fires once, at the first
//!   occurrence: `30 1 * * *` in America/New_York on 2025-11-02 fires at 01:30 EDT (05:30 UTC)
//!   and not again at 01:30 EST. An interval schedule fires in both passes, because it follows
//!   real time: `*/15` fires every 15 real minutes straight through the repeated hour.
//!
//! croner already follows these rules for schedules with one value in each of those fields. For
//! lists and ranges (`30 1,13 * * *`) croner treats the schedule as an interval one, and this
//! module corrects it: it drops a match on the second pass of a repeated hour and adds the
//! first instant after a gap that swallowed a scheduled time.

use std::borrow::Cow;
use std::fmt;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::{AmbiguousOffset, TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp, Zoned};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a whole expression may look like; the tail of every syntax error.
const EXPECTED_EXPRESSION: &str = "5 fields (minute hour day-of-month month day-of-week), 6 with \
     a leading seconds field, or one of @yearly, @annually, @monthly, @weekly, @daily, @hourly";

/// The nicknames croner expands.
const NICKNAMES: [&str; 6] = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"];

/// A cron expression or time zone that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CronError {
    /// The expression does not parse.
    #[error("invalid cron expression {expr:?}: {problem}; expected {expected}")]
    InvalidExpression {
        /// The expression as given.
        expr: String,
        /// What is wrong with it.
        problem: String,
        /// What would have been accepted there.
        expected: &'static str,
    },
    /// The expression parses but no date satisfies it.
    #[error(
        "cron expression {expr:?} never fires: no date matches it; expected a day that exists in \
         a month it names (30 February does not)"
    )]
    NeverFires {
        /// The expression as given.
        expr: String,
    },
    /// The time zone is not in the IANA database.
    #[error(
        "unknown time zone {zone:?}; expected an IANA time zone name such as \"Europe/Berlin\", \
         \"America/New_York\" or \"UTC\""
    )]
    UnknownTimeZone {
        /// The name as given.
        zone: String,
    },
}

/// A parsed cron expression in a named time zone. Serialises as
/// `{"cron": "30 2 * * *", "timezone": "Europe/Berlin"}` and validates when deserialised (a
/// missing `timezone` means `UTC`).
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    zone_name: String,
    zone: TimeZone,
    cron: Cron,
    /// Fixed-time by this module's rule (no `*` in second, minute, hour).
    fixed_time: bool,
    /// True when croner would treat a fixed-time schedule as an interval one, so the
    /// daylight-saving corrections apply.
    corrects_dst: bool,
}

impl Schedule {
    /// Parses `expr` (see the module docs for the dialect) in the IANA time zone `tz`.
    pub fn parse(expr: &str, tz: &str) -> Result<Schedule, CronError> {
        let expr = expr.trim();
        let cron = parse_expression(expr)?;
        let zone = TimeZoneDatabase::bundled()
            .get(tz.trim())
            .ok()
            .filter(|zone| !zone.is_unknown())
            .ok_or_else(|| CronError::UnknownTimeZone { zone: tz.to_owned() })?;
        let zone_name = zone.iana_name().unwrap_or(tz.trim()).to_owned();

        let pattern = &cron.pattern;
        let fixed_time = !(pattern.seconds.from_wildcard
            || pattern.minutes.from_wildcard
            || pattern.hours.from_wildcard);
        let croner_fixed = cron.determine_job_type() == croner::JobType::FixedTime;
        let schedule = Schedule {
            expr: expr.to_owned(),
            zone_name,
            zone,
            cron,
            fixed_time,
            corrects_dst: fixed_time && !croner_fixed,
        };
        // The fields repeat at the latest every 400 years, so a schedule that fires once after
        // 1970 fires after any later instant too (croner searches up to the year 5000).
        if schedule.next_after(Timestamp::UNIX_EPOCH).is_none() {
            return Err(CronError::NeverFires { expr: expr.to_owned() });
        }
        Ok(schedule)
    }

    /// The expression, as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    /// The time zone's IANA name, in the database's spelling (`europe/berlin` gives
    /// `Europe/Berlin`).
    pub fn timezone(&self) -> &str {
        &self.zone_name
    }

    /// The time zone.
    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    /// True when the fixed-time daylight-saving rules apply (see the module docs), false for
    /// the interval rules.
    pub fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    /// The first fire strictly after `after`; `None` only past the year 5000.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let mut from = after;
        loop {
            let found =
                self.cron.find_next_occurrence(&from.to_zoned(self.zone.clone()), false).ok()?;
            if !self.corrects_dst {
                return Some(found.timestamp());
            }
            if let Some(gap_fire) = self.gap_fire(from, found.timestamp()) {
                return Some(gap_fire);
            }
            if !self.is_second_pass(&found) {
                return Some(found.timestamp());
            }
            from = found.timestamp();
        }
    }

    /// The fires after `after`, in order, without end.
    pub fn iter_after(&self, after: Timestamp) -> Upcoming<'_> {
        Upcoming { schedule: self, cursor: Some(after) }
    }

    /// The next `n` fires after `after`.
    pub fn next_n(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        self.iter_after(after).take(n).collect()
    }

    /// The fires in `(from, to]`, at most `limit` of them (the earliest): what a scheduler that
    /// last looked at `from` has missed by `to`.
    pub fn fires_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> Fires {
        let mut upcoming = self.iter_after(from).take_while(|&t| t <= to);
        let times: Vec<Timestamp> = upcoming.by_ref().take(limit).collect();
        let truncated = upcoming.next().is_some();
        Fires { times, truncated }
    }

    /// For a fixed-time schedule: the first instant after a spring-forward gap in `(from, until]`
    /// whose skipped wall-clock range holds a time the schedule names.
    fn gap_fire(&self, from: Timestamp, until: Timestamp) -> Option<Timestamp> {
        for transition in self.zone.following(from) {
            let at = transition.timestamp();
            if at > until {
                break;
            }
            let before = self.zone.to_offset(at.checked_sub(SignedDuration::from_nanos(1)).ok()?);
            let after = transition.offset();
            if after <= before {
                continue;
            }
            // The wall clock jumps from `skipped_from` to `skipped_to` at `at`.
            let skipped_from = before.to_datetime(at);
            let skipped_to = after.to_datetime(at);
            let named = self
                .cron
                .find_next_occurrence(&skipped_from, true)
                .is_ok_and(|wall| wall < skipped_to);
            if named {
                return Some(at);
            }
        }
        None
    }

    /// True when `found` is the second occurrence of a wall-clock time that a fall-back
    /// repeats.
    fn is_second_pass(&self, found: &Zoned) -> bool {
        match self.zone.to_ambiguous_timestamp(found.datetime()).offset() {
            AmbiguousOffset::Fold { after, .. } => found.offset() == after,
            AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Gap { .. } => false,
        }
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr && self.zone_name == other.zone_name
    }
}

impl Eq for Schedule {}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expr, self.zone_name)
    }
}

/// Fires found in a window, at most as many as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fires {
    /// The fires, earliest first.
    pub times: Vec<Timestamp>,
    /// True when the window held more fires than `times` lists.
    pub truncated: bool,
}

/// The fires of a schedule after an instant, in order; see [`Schedule::iter_after`].
#[derive(Debug, Clone)]
pub struct Upcoming<'a> {
    schedule: &'a Schedule,
    cursor: Option<Timestamp>,
}

impl Iterator for Upcoming<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        self.cursor = self.schedule.next_after(self.cursor?);
        self.cursor
    }
}

impl std::iter::FusedIterator for Upcoming<'_> {}

/// The wire form of a [`Schedule`].
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with a leading
    /// seconds field, or @yearly, @monthly, @weekly, @daily, @hourly.
    cron: Cow<'a, str>,
    /// The IANA time zone the expression's wall-clock times are in; UTC when absent.
    #[serde(default = "utc")]
    timezone: Cow<'a, str>,
}

fn utc() -> Cow<'static, str> {
    Cow::Borrowed("UTC")
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire { cron: Cow::Borrowed(&self.expr), timezone: Cow::Borrowed(&self.zone_name) }
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        Schedule::parse(&wire.cron, &wire.timezone).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Schedule {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Schedule")
    }

    fn schema_id() -> Cow<'static, str> {
        Cow::Borrowed("gsm_core::cron::Schedule")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        Wire::json_schema(generator)
    }
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build()
}

fn parse_expression(expr: &str) -> Result<Cron, CronError> {
    let invalid = |problem: String, expected| CronError::InvalidExpression {
        expr: expr.to_owned(),
        problem,
        expected,
    };
    if expr.is_empty() {
        return Err(invalid("it is empty".to_owned(), EXPECTED_EXPRESSION));
    }
    if expr.starts_with('@') {
        if !NICKNAMES.iter().any(|n| n.eq_ignore_ascii_case(expr)) {
            return Err(invalid(
                "it is not a known nickname".to_owned(),
                "one of @yearly, @annually, @monthly, @weekly, @daily, @hourly",
            ));
        }
        return parser().parse(expr).map_err(|e| invalid(croner_problem(&e), EXPECTED_EXPRESSION));
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[Field] = match fields.len() {
        5 => &FIELDS[1..],
        6 => &FIELDS,
        n => return Err(invalid(format!("it has {n} fields"), EXPECTED_EXPRESSION)),
    };
    parser().parse(expr).map_err(|e| {
        match bad_field(&fields, names) {
            Some((field, value, e)) => invalid(
                format!("the {} field {value:?} is invalid ({})", field.name, croner_problem(&e)),
                field.expected,
            ),
            // No field fails alone; report croner's word on the whole.
            None => invalid(croner_problem(&e), EXPECTED_EXPRESSION),
        }
    })
}

/// One field of an expression, for error messages.
struct Field {
    name: &'static str,
    expected: &'static str,
}

const FIELDS: [Field; 6] = [
    Field {
        name: "second",
        expected: "0-59, *, a list (a,b), a range (a-b) or a step (*/n, a-b/n)",
    },
    Field {
        name: "minute",
        expected: "0-59, *, a list (a,b), a range (a-b) or a step (*/n, a-b/n)",
    },
    Field { name: "hour", expected: "0-23, *, a list (a,b), a range (a-b) or a step (*/n, a-b/n)" },
    Field { name: "day-of-month", expected: "1-31, *, ?, L, nW, a list, a range or a step" },
    Field { name: "month", expected: "1-12 or JAN-DEC, *, a list, a range or a step" },
    Field {
        name: "day-of-week",
        expected: "0-7 or SUN-SAT (0 and 7 are Sunday), *, ?, n#k, nL, a list, a range or a step",
    },
];

/// Finds the first field that fails to parse on its own (every other field `*`).
fn bad_field<'f>(
    fields: &[&'f str],
    names: &'static [Field],
) -> Option<(&'static Field, &'f str, croner::errors::CronError)> {
    let parser = parser();
    (0..fields.len()).find_map(|i| {
        let alone: Vec<&str> =
            (0..fields.len()).map(|j| if i == j { fields[j] } else { "*" }).collect();
        let err = parser.parse(&alone.join(" ")).err()?;
        Some((&names[i], fields[i], err))
    })
}

/// croner's message, without its variant prefix and trailing period, starting lowercase.
fn croner_problem(err: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    let text = match err {
        // "CronPattern contains illegal character 'F' in part 'FOO'": the field is named already.
        E::IllegalCharacters(msg) => match msg.split('\'').nth(1) {
            Some(ch) => format!("illegal character '{ch}'"),
            None => msg.clone(),
        },
        E::InvalidPattern(msg) | E::ComponentError(msg) => msg.clone(),
        other => other.to_string(),
    };
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
