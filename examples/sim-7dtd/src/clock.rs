//! Log-line timestamps, `YYYY-MM-DDTHH:MM:SS <uptime>`, without a date library: the civil date
//! comes from days since the Unix epoch (Howard Hinnant's `civil_from_days`). UTC stands in for
//! the server's local time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2024-06-01T12:00:01`.
pub(crate) fn timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A full log line: `<timestamp> <uptime seconds, 3 decimals> <level> <message>`.
pub(crate) fn log_line(now: SystemTime, uptime: Duration, level: &str, message: &str) -> String {
    format!("{} {:.3} {level} {message}", timestamp(now), uptime.as_secs_f64())
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661);
        assert_eq!(timestamp(leap), "2000-02-29T01:01:01");
        assert_eq!(
            log_line(UNIX_EPOCH, Duration::from_millis(9_955_998), "INF", "x"),
            "1970-01-01T00:00:00 9955.998 INF x"
        );
    }
}
