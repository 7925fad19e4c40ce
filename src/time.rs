//! Dates and times, on the `time` crate. Bottom layer: imports nothing of the crate.

use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Seconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `t` in seconds since the Unix epoch, with its fraction (0 before 1970).
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Now, in seconds since the Unix epoch, with its fraction.
pub fn unix_now_f64() -> f64 {
    unix_seconds(SystemTime::now())
}

/// `Nov 26 14:54:01 2016 GMT`, as `openssl x509 -enddate` prints a time (the day padded with
/// a space, as OpenSSL's `ASN1_TIME_print` does).
pub fn openssl_date(unix: i64) -> String {
    const FORMAT: &[FormatItem<'static>] = format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| format!("@{unix}"))
}

/// A calendar date written `YYYY-MM-DD`, as Unix days (days since 1970-01-01).
pub fn parse_date(s: &str) -> Result<i64, String> {
    const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
    let bad = || format!("{s:?} is not a date: YYYY-MM-DD, e.g. 2027-06-30");
    // `[year]` also takes a sign and more than four digits; a runbook's date has neither.
    if s.len() != 10 || !s.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let d = Date::parse(s, FORMAT).map_err(|_| bad())?;
    Ok(i64::from(
        d.to_julian_day() - Date::from_ordinal_date(1970, 1).unwrap().to_julian_day(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_dates() {
        // The certificate line Nagios' check_http prints for a certificate ending then.
        assert_eq!(openssl_date(1_480_172_041), "Nov 26 14:54:01 2016 GMT");
        assert_eq!(openssl_date(1_835_600_198), "Mar  2 08:56:38 2028 GMT");
        assert_eq!(openssl_date(0), "Jan  1 00:00:00 1970 GMT");
        assert_eq!(openssl_date(951_782_400), "Feb 29 00:00:00 2000 GMT");
    }

    #[test]
    fn dates_as_unix_days() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        assert_eq!(parse_date("2024-02-29"), Ok(19_782));
        for bad in [
            "2023-02-29",
            "2027-13-01",
            "2027-6-30",
            "27-06-30",
            "+2027-06-30",
            "x",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
