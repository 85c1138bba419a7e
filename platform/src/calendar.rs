//! The platform's calendar: China Standard Time (UTC+8, no daylight saving), in
//! which days of study, daily caps, study windows, quarters and report dates are
//! counted. Platform times are Unix milliseconds; days are whole days since
//! 1970-01-01 in China time. Civil dates use Howard Hinnant's algorithms.

/// China Standard Time's offset from UTC.
pub const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// One day.
pub const DAY_MS: i64 = 86_400_000;

/// The China-time day (days since 1970-01-01) containing platform ms `ms`.
pub fn day_of(ms: i64) -> i64 {
    (ms + CHINA_OFFSET_MS).div_euclid(DAY_MS)
}

/// The platform ms at which China-time day `day` begins.
pub fn day_start_ms(day: i64) -> i64 {
    day * DAY_MS - CHINA_OFFSET_MS
}

/// The start of the China-time day containing `ms`.
pub fn day_start(ms: i64) -> i64 {
    day_start_ms(day_of(ms))
}

/// Milliseconds since China-time midnight.
pub fn time_of_day_ms(ms: i64) -> i64 {
    (ms + CHINA_OFFSET_MS).rem_euclid(DAY_MS)
}

/// A day as `YYYY-MM-DD`.
pub fn day_label(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Platform ms as `YYYY-MM-DD HH:MM:SS` China time (exports, reports).
pub fn datetime_label(ms: i64) -> String {
    let t = time_of_day_ms(ms) / 1000;
    format!(
        "{} {:02}:{:02}:{:02}",
        day_label(day_of(ms)),
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// A `YYYY-MM-DD` date as a day; `None` unless it is a real date written so.
pub fn parse_day(label: &str) -> Option<i64> {
    let b = label.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = label.get(..4)?.parse().ok()?;
    let m: i64 = label.get(5..7)?.parse().ok()?;
    let d: i64 = label.get(8..)?.parse().ok()?;
    let day = days_from_civil(y, m, d);
    (day_label(day) == label).then_some(day)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of days since 1970-01-01.
pub fn civil_from_days(day: i64) -> (i64, i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip_in_china_time() {
        // 2026-10-01 00:00 China time is 2026-09-30 16:00 UTC.
        let oct1 = days_from_civil(2026, 10, 1);
        let start = day_start_ms(oct1);
        assert_eq!(start, 1_790_784_000_000);
        assert_eq!(day_of(start), oct1);
        assert_eq!(day_of(start - 1), oct1 - 1);
        assert_eq!(day_start(start + 5), start);
        // 2026-12-02 00:00 China time = 2026-12-01 16:00 UTC.
        let midnight = 1_796_140_800_000;
        assert_eq!(day_start(midnight), midnight);
        assert_eq!(day_start(midnight + 1), midnight);
        assert_eq!(day_start(midnight - 1), midnight - DAY_MS);
        assert_eq!(day_label(oct1), "2026-10-01");
        assert_eq!(datetime_label(start + 3_723_000), "2026-10-01 01:02:03");
        assert_eq!(datetime_label(start - 1000), "2026-09-30 23:59:59");
        for day in [-1000, 0, 59, 60, 11_016, 20_000, 2_932_896] {
            assert_eq!(parse_day(&day_label(day)), Some(day));
        }
    }

    #[test]
    fn only_real_dates_parse() {
        assert_eq!(parse_day("2028-02-29"), Some(days_from_civil(2028, 2, 29)));
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "20261001",
            "２０２６-10-01",
            "",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
