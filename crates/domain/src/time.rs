//! Calendar arithmetic on `Millis` (UTC), and the RFC 3339 form every time takes in
//! the API and the event payloads. Pure: the time itself is always passed in.

use crate::{DAY, Millis};

/// Midnight UTC of the day `t` falls in.
pub fn start_of_day(t: Millis) -> Millis {
    t.div_euclid(DAY) * DAY
}

/// Midnight UTC of the first day of the calendar month `t` falls in.
pub fn start_of_month(t: Millis) -> Millis {
    let days = t.div_euclid(DAY);
    let (y, m, _) = civil_from_days(days);
    days_from_civil(y, m, 1) * DAY
}

/// Midnight UTC of the first day of the next calendar month.
pub fn start_of_next_month(t: Millis) -> Millis {
    let (y, m, _) = civil_from_days(t.div_euclid(DAY));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1) * DAY
}

/// Civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01
/// (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day count since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "2026-11-21T17:46:04.123Z": a time as the API and the event payloads show it.
pub fn rfc3339(ms: Millis) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(DAY));
    let in_day = ms.rem_euclid(DAY);
    let (h, mi, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_boundaries() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        let t = days_from_civil(2026, 12, 31) * DAY + 1;
        assert_eq!(start_of_next_month(t), days_from_civil(2027, 1, 1) * DAY);
        assert_eq!(start_of_month(t), days_from_civil(2026, 12, 1) * DAY);
        assert_eq!(start_of_day(t), days_from_civil(2026, 12, 31) * DAY);
    }

    #[test]
    fn rfc3339_formats_utc_to_the_millisecond() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_283_164_123), "2026-11-21T17:46:04.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
