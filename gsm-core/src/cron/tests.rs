use std::collections::HashSet;

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Asserts the first fires of `expr` in `tz` strictly after `after`, as UTC instants.
fn check(expr: &str, tz: &str, after: &str, expected: &[&str]) {
    let schedule = Schedule::parse(expr, tz).unwrap();
    let got: Vec<String> =
        schedule.next_n(ts(after), expected.len()).iter().map(Timestamp::to_string).collect();
    assert_eq!(got, expected, "{expr} in {tz} after {after}");
}

#[test]
fn simple_expressions_fire_at_the_expected_utc_instants() {
    let utc = "UTC";
    check(
        "*/15 * * * *",
        utc,
        "2025-01-01T00:07:00Z",
        &["2025-01-01T00:15:00Z", "2025-01-01T00:30:00Z", "2025-01-01T00:45:00Z"],
    );
    // Strictly after: a fire exactly at `after` is not the next one.
    check("0 3 * * *", utc, "2025-01-01T03:00:00Z", &["2025-01-02T03:00:00Z"]);
    check("* * * * *", utc, "2025-01-01T00:00:00.5Z", &["2025-01-01T00:01:00Z"]);
    // 2025-01-03 is a Friday.
    check("30 2 * * 1-5", utc, "2025-01-03T03:00:00Z", &["2025-01-06T02:30:00Z"]);
    check(
        "0 12 * * MON",
        utc,
        "2025-01-01T00:00:00Z",
        &["2025-01-06T12:00:00Z", "2025-01-13T12:00:00Z"],
    );
    // Both day fields restricted: either matching fires (Vixie's OR).
    check(
        "0 0 13 * FRI",
        utc,
        "2025-01-01T00:00:00Z",
        &[
            "2025-01-03T00:00:00Z",
            "2025-01-10T00:00:00Z",
            "2025-01-13T00:00:00Z",
            "2025-01-17T00:00:00Z",
        ],
    );
    check("0 0 1 jan *", utc, "2025-06-01T00:00:00Z", &["2026-01-01T00:00:00Z"]);
    check(
        "*/10 * * * * *",
        utc,
        "2025-01-01T00:00:05Z",
        &["2025-01-01T00:00:10Z", "2025-01-01T00:00:20Z"],
    );
    check(
        "0 0 L * *",
        utc,
        "2025-02-01T00:00:00Z",
        &["2025-02-28T00:00:00Z", "2025-03-31T00:00:00Z"],
    );
}

#[test]
fn nicknames_expand_to_their_standard_expressions() {
    let after = "2025-01-01T00:00:00Z"; // a Wednesday
    check("@hourly", "UTC", after, &["2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z"]);
    check("@daily", "UTC", after, &["2025-01-02T00:00:00Z"]);
    check("@weekly", "UTC", after, &["2025-01-05T00:00:00Z"]);
    check("@monthly", "UTC", after, &["2025-02-01T00:00:00Z"]);
    check("@yearly", "UTC", after, &["2026-01-01T00:00:00Z"]);
    check("@annually", "UTC", after, &["2026-01-01T00:00:00Z"]);
    check("@DAILY", "UTC", after, &["2025-01-02T00:00:00Z"]);
}

#[test]
fn wall_clock_times_are_read_in_the_schedules_time_zone() {
    check("0 9 * * *", "Europe/Berlin", "2025-01-15T00:00:00Z", &["2025-01-15T08:00:00Z"]);
    check("0 9 * * *", "Europe/Berlin", "2025-07-15T00:00:00Z", &["2025-07-15T07:00:00Z"]);
    check("0 9 * * *", "America/New_York", "2025-01-15T00:00:00Z", &["2025-01-15T14:00:00Z"]);
    check("0 9 * * *", "Asia/Kolkata", "2025-01-15T00:00:00Z", &["2025-01-15T03:30:00Z"]);
    // 09:00 in Tokyo is midnight UTC, exactly `after`: the next fire is a day later.
    check("0 9 * * *", "Asia/Tokyo", "2025-01-15T00:00:00Z", &["2025-01-16T00:00:00Z"]);
    // The day fields are read in the zone too: Monday 00:30 in Berlin is Sunday in UTC.
    check("30 0 * * MON", "Europe/Berlin", "2025-01-01T00:00:00Z", &["2025-01-05T23:30:00Z"]);
}

#[test]
fn a_daily_time_skipped_by_spring_forward_fires_once_right_after_the_gap() {
    // Europe/Berlin, 2025-03-30: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2025-03-29T00:00:00Z",
        &[
            "2025-03-29T01:30:00Z", // 02:30 CET
            "2025-03-30T01:00:00Z", // 03:00 CEST, the first instant after the gap
            "2025-03-31T00:30:00Z", // 02:30 CEST
        ],
    );
    // America/New_York, 2025-03-09: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
    check(
        "30 2 * * *",
        "America/New_York",
        "2025-03-08T12:00:00Z",
        &["2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"],
    );
}

#[test]
fn fixed_times_given_as_lists_follow_the_same_spring_forward_rule() {
    check(
        "30 2,14 * * *",
        "Europe/Berlin",
        "2025-03-29T12:00:00Z",
        &[
            "2025-03-29T13:30:00Z",
            "2025-03-30T01:00:00Z",
            "2025-03-30T12:30:00Z",
            "2025-03-31T00:30:00Z",
        ],
    );
    // Two skipped times collapse into one fire after the gap.
    check(
        "0,30 2 * * *",
        "Europe/Berlin",
        "2025-03-29T23:00:00Z",
        &["2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z", "2025-03-31T00:30:00Z"],
    );
    // A skipped 02:00 and the real 03:00 land on the same instant: one fire.
    check(
        "0 2-3 * * *",
        "Europe/Berlin",
        "2025-03-29T23:00:00Z",
        &["2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z", "2025-03-31T01:00:00Z"],
    );
}

#[test]
fn a_daily_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() {
    // America/New_York, 2025-11-02: 02:00 EDT falls back to 01:00 EST at 06:00 UTC.
    check(
        "30 1 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        &[
            "2025-11-02T05:30:00Z", // 01:30 EDT; not again at 01:30 EST (06:30 UTC)
            "2025-11-03T06:30:00Z", // 01:30 EST
        ],
    );
    let schedule = Schedule::parse("30 1 * * *", "America/New_York").unwrap();
    let fall_back_day =
        schedule.fires_between(ts("2025-11-02T04:00:00Z"), ts("2025-11-03T04:00:00Z"), 10);
    assert_eq!(fall_back_day.times, vec![ts("2025-11-02T05:30:00Z")]);

    // Europe/Berlin, 2025-10-26: 03:00 CEST falls back to 02:00 CET at 01:00 UTC.
    check(
        "30 2 * * *",
        "Europe/Berlin",
        "2025-10-25T12:00:00Z",
        &["2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"],
    );
}

#[test]
fn fixed_times_given_as_lists_follow_the_same_fall_back_rule() {
    check(
        "30 1,13 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        &[
            "2025-11-01T17:30:00Z",
            "2025-11-02T05:30:00Z",
            "2025-11-02T18:30:00Z",
            "2025-11-03T06:30:00Z",
        ],
    );
    // Starting inside the first pass, after 01:45 EDT has gone: 01:45 EST is not a second
    // chance.
    check("45 1 * * *", "America/New_York", "2025-11-02T05:50:00Z", &["2025-11-03T06:45:00Z"]);
    check("45 1,13 * * *", "America/New_York", "2025-11-02T05:50:00Z", &["2025-11-02T18:45:00Z"]);
}

#[test]
fn every_fifteen_minutes_follows_real_time_across_both_changes() {
    check(
        "*/15 * * * *",
        "Europe/Berlin",
        "2025-03-30T00:40:00Z",
        &[
            "2025-03-30T00:45:00Z", // 01:45 CET
            "2025-03-30T01:00:00Z", // 03:00 CEST
            "2025-03-30T01:15:00Z",
        ],
    );
    check(
        "*/15 * * * *",
        "America/New_York",
        "2025-11-02T05:10:00Z",
        &[
            "2025-11-02T05:15:00Z", // 01:15 EDT
            "2025-11-02T05:30:00Z",
            "2025-11-02T05:45:00Z",
            "2025-11-02T06:00:00Z", // 01:00 EST, the repeated hour
            "2025-11-02T06:15:00Z",
            "2025-11-02T06:30:00Z",
            "2025-11-02T06:45:00Z",
            "2025-11-02T07:00:00Z", // 02:00 EST
        ],
    );
    check(
        "*/30 * * * *",
        "Europe/Berlin",
        "2025-10-26T00:15:00Z",
        &[
            "2025-10-26T00:30:00Z", // 02:30 CEST
            "2025-10-26T01:00:00Z", // 02:00 CET
            "2025-10-26T01:30:00Z", // 02:30 CET
            "2025-10-26T02:00:00Z", // 03:00 CET
        ],
    );
    // Hourly skips the hour that does not exist.
    check(
        "0 * * * *",
        "America/New_York",
        "2025-03-09T06:30:00Z",
        &["2025-03-09T07:00:00Z", "2025-03-09T08:00:00Z"],
    );
}

#[test]
fn the_leap_day_fires_only_in_leap_years() {
    check(
        "0 0 29 2 *",
        "UTC",
        "2025-01-01T00:00:00Z",
        &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"],
    );
    // 2100 is not a leap year.
    check("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", &["2104-02-29T00:00:00Z"]);
}

fn check_kind(expr: &str, fixed_time: bool) {
    let schedule = Schedule::parse(expr, "UTC").unwrap();
    assert_eq!(schedule.is_fixed_time(), fixed_time, "{expr}");
}

#[test]
fn schedules_without_a_star_in_their_time_fields_are_fixed_time() {
    check_kind("30 2 * * *", true);
    check_kind("0 9,21 * * *", true);
    check_kind("0 8-18 * * 1-5", true);
    check_kind("0 0-59/15 3 * * *", true);
    check_kind("@daily", true);
    check_kind("*/15 * * * *", false);
    check_kind("0 * * * *", false);
    check_kind("0 */2 * * *", false);
    check_kind("* 30 2 * * *", false);
    check_kind("@hourly", false);
}

fn check_error(expr: &str, tz: &str, expected: &str) {
    let err = Schedule::parse(expr, tz).unwrap_err();
    assert_eq!(err.to_string(), expected, "{expr:?} in {tz:?}");
}

#[test]
fn invalid_expressions_are_refused_with_the_expression_and_what_was_expected() {
    let whole = "expected 5 fields (minute hour day-of-month month day-of-week), 6 with a leading \
                 seconds field, or one of @yearly, @annually, @monthly, @weekly, @daily, @hourly";
    let times = "0-59, *, a list (a,b), a range (a-b) or a step (*/n, a-b/n)";
    check_error("", "UTC", &format!("invalid cron expression \"\": it is empty; {whole}"));
    check_error("   ", "UTC", &format!("invalid cron expression \"\": it is empty; {whole}"));
    check_error(
        "* * * *",
        "UTC",
        &format!("invalid cron expression \"* * * *\": it has 4 fields; {whole}"),
    );
    check_error(
        "0 0 0 1 1 * 2030",
        "UTC",
        &format!("invalid cron expression \"0 0 0 1 1 * 2030\": it has 7 fields; {whole}"),
    );
    check_error(
        "61 * * * *",
        "UTC",
        &format!(
            "invalid cron expression \"61 * * * *\": the minute field \"61\" is invalid \
             (number out of bounds); expected {times}"
        ),
    );
    check_error(
        "60 * * * * *",
        "UTC",
        &format!(
            "invalid cron expression \"60 * * * * *\": the second field \"60\" is invalid \
             (number out of bounds); expected {times}"
        ),
    );
    check_error(
        "0 24 * * *",
        "UTC",
        "invalid cron expression \"0 24 * * *\": the hour field \"24\" is invalid (number out of \
         bounds); expected 0-23, *, a list (a,b), a range (a-b) or a step (*/n, a-b/n)",
    );
    check_error(
        "0 0 0 * *",
        "UTC",
        "invalid cron expression \"0 0 0 * *\": the day-of-month field \"0\" is invalid (number \
         out of bounds); expected 1-31, *, ?, L, nW, a list, a range or a step",
    );
    check_error(
        "0 0 1 13 *",
        "UTC",
        "invalid cron expression \"0 0 1 13 *\": the month field \"13\" is invalid (number out \
         of bounds); expected 1-12 or JAN-DEC, *, a list, a range or a step",
    );
    check_error(
        "0 0 * * funday",
        "UTC",
        "invalid cron expression \"0 0 * * funday\": the day-of-week field \"funday\" is invalid \
         (illegal character 'F'); expected 0-7 or SUN-SAT (0 and 7 are Sunday), *, ?, n#k, nL, a \
         list, a range or a step",
    );
    check_error(
        "*/0 * * * *",
        "UTC",
        &format!(
            "invalid cron expression \"*/0 * * * *\": the minute field \"*/0\" is invalid \
             (step cannot be zero); expected {times}"
        ),
    );
    check_error(
        "@reboot",
        "UTC",
        "invalid cron expression \"@reboot\": it is not a known nickname; expected one of \
         @yearly, @annually, @monthly, @weekly, @daily, @hourly",
    );
}

#[test]
fn an_expression_no_date_matches_is_refused() {
    check_error(
        "0 0 30 2 *",
        "UTC",
        "cron expression \"0 0 30 2 *\" never fires: no date matches it; expected a day that \
         exists in a month it names (30 February does not)",
    );
    check_error(
        "0 0 31 4,6 *",
        "UTC",
        "cron expression \"0 0 31 4,6 *\" never fires: no date matches it; expected a day that \
         exists in a month it names (30 February does not)",
    );
}

#[test]
fn unknown_time_zones_are_refused_by_name() {
    let expected = |zone: &str| {
        format!(
            "unknown time zone {zone:?}; expected an IANA time zone name such as \
             \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
        )
    };
    for zone in ["Mars/Olympus_Mons", "", "Etc/Unknown", "CEST+2"] {
        check_error("0 3 * * *", zone, &expected(zone));
    }
}

#[test]
fn time_zone_names_are_looked_up_without_regard_to_case() {
    let schedule = Schedule::parse("0 3 * * *", "europe/berlin").unwrap();
    assert_eq!(schedule.timezone(), "Europe/Berlin");
    assert_eq!(schedule.to_string(), "0 3 * * * (Europe/Berlin)");
}

#[test]
fn fires_between_lists_the_missed_fires_and_says_when_it_stopped_early() {
    let schedule = Schedule::parse("*/15 * * * *", "UTC").unwrap();
    let from = ts("2025-01-01T00:00:00Z");
    let to = ts("2025-01-01T02:00:00Z");
    let all = schedule.fires_between(from, to, 100);
    assert_eq!(all.times.len(), 8, "(from, to] excludes from and includes to");
    assert_eq!(all.times.first(), Some(&ts("2025-01-01T00:15:00Z")));
    assert_eq!(all.times.last(), Some(&to));
    assert!(!all.truncated);

    let some = schedule.fires_between(from, to, 3);
    assert_eq!(some.times, all.times[..3]);
    assert!(some.truncated);

    let exact = schedule.fires_between(from, to, 8);
    assert!(!exact.truncated);

    let none = schedule.fires_between(to, from, 10);
    assert_eq!(none.times, vec![]);
    assert!(!none.truncated);
}

#[test]
fn iter_after_yields_the_same_fires_as_repeated_next_after() {
    let schedule = Schedule::parse("30 1,13 * * *", "America/New_York").unwrap();
    let start = ts("2025-10-30T00:00:00Z");
    let mut cursor = start;
    for fire in schedule.iter_after(start).take(20) {
        let next = schedule.next_after(cursor).unwrap();
        assert_eq!(fire, next);
        cursor = next;
    }
}

#[test]
fn a_schedule_serialises_as_cron_and_timezone() {
    let schedule = Schedule::parse(" 30 2 * * * ", "europe/berlin").unwrap();
    let json = serde_json::to_value(&schedule).unwrap();
    assert_eq!(json, serde_json::json!({"cron": "30 2 * * *", "timezone": "Europe/Berlin"}));
    let back: Schedule = serde_json::from_value(json).unwrap();
    assert_eq!(back, schedule);
}

#[test]
fn deserialising_validates_and_defaults_the_time_zone_to_utc() {
    let utc: Schedule = serde_json::from_str(r#"{"cron": "@daily"}"#).unwrap();
    assert_eq!(utc.timezone(), "UTC");

    let err = serde_json::from_str::<Schedule>(r#"{"cron": "61 * * * *"}"#).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid cron expression \"61 * * * *\": the minute field"),
        "{err}"
    );
    let err = serde_json::from_str::<Schedule>(r#"{"cron": "@daily", "timezone": "Nowhere"}"#)
        .unwrap_err();
    assert!(err.to_string().starts_with("unknown time zone \"Nowhere\""), "{err}");
    let err = serde_json::from_str::<Schedule>(r#"{"cron": "@daily", "tz": "UTC"}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `tz`"), "{err}");
}

#[test]
fn the_json_schema_names_cron_and_timezone() {
    let schema = serde_json::to_value(schemars::schema_for!(Schedule)).unwrap();
    assert_eq!(schema["title"], "Schedule");
    assert_eq!(schema["properties"]["cron"]["type"], "string");
    assert_eq!(schema["properties"]["timezone"]["type"], "string");
    assert_eq!(schema["required"], serde_json::json!(["cron"]));
}

const FIXED: [&str; 6] =
    ["30 2 * * *", "0,30 2 * * *", "30 1,13 * * *", "0 0-3 * * *", "0 0 * * *", "15 0-23/3 * * *"];
const INTERVAL: [&str; 4] = ["*/15 * * * *", "0 * * * *", "*/20 1-3 * * *", "0 */2 * * *"];
// Lord Howe moves its clocks by 30 minutes; Santiago changes at midnight.
const ZONES: [&str; 4] =
    ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fixed_time_schedules_never_fire_the_same_wall_clock_time_twice(
        expr in prop::sample::select(&FIXED[..]),
        zone in prop::sample::select(&ZONES[..]),
        start in 1_704_067_200i64..1_798_761_600, // 2024-01-01 .. 2027-01-01
    ) {
        let schedule = Schedule::parse(expr, zone).unwrap();
        let after = Timestamp::from_second(start).unwrap();
        let fires = schedule.next_n(after, 400);
        prop_assert_eq!(fires.len(), 400);
        prop_assert!(fires[0] > after);
        prop_assert!(fires.windows(2).all(|w| w[0] < w[1]));
        let mut walls = HashSet::new();
        for fire in &fires {
            let wall = fire.to_zoned(schedule.time_zone().clone()).datetime();
            prop_assert!(walls.insert(wall), "{} fired twice at {}", expr, wall);
        }
    }

    #[test]
    fn every_schedule_fires_in_strictly_increasing_order(
        expr in prop::sample::select([&FIXED[..], &INTERVAL[..]].concat()),
        zone in prop::sample::select(&ZONES[..]),
        start in 1_704_067_200i64..1_798_761_600,
    ) {
        let schedule = Schedule::parse(expr, zone).unwrap();
        let after = Timestamp::from_second(start).unwrap();
        let fires = schedule.next_n(after, 200);
        prop_assert!(fires[0] > after);
        prop_assert!(fires.windows(2).all(|w| w[0] < w[1]));
    }
}
