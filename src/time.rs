//! RFC 3339 timestamps (as written in configuration) to milliseconds since the
//! Unix epoch. Std only: calendar arithmetic uses Howard Hinnant's
//! days-from-civil algorithm rather than a date library.

const SYNTAX: &str = "expected an RFC 3339 timestamp like 2026-12-01T10:00:00Z";

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Parse an RFC 3339 timestamp (`2026-12-01T10:00:00Z`,
/// `2026-12-01T10:00:00.250+01:00`; `t`/`z` accepted lower-case, a space in
/// place of `T` is not) into milliseconds since the Unix epoch.
///
/// Fields are range-checked (month 01-12, day within the month including leap
/// years, hour 00-23, minute 00-59, second 00-60, offset ±00:00 to ±23:59).
/// Fractional seconds may have any number of digits and are truncated to
/// milliseconds. `-00:00` ("offset unknown") is treated as UTC.
///
/// A leap second (`:60`) is accepted, as RFC 3339 allows, and read as the last
/// millisecond of that minute (`…:59.999`), whatever its fraction: that keeps
/// it ordered after every other instant of the minute and before the next one.
/// Whether a leap second really occurred then is not checked (that needs a
/// table, and Unix time has no slot for it anyway).
///
/// Errors are a short human message naming what is wrong.
pub fn parse_rfc3339(s: &str) -> Result<i64, &'static str> {
    let bytes = s.as_bytes();
    // `YYYY-MM-DDTHH:MM:SS`: the separators at their places, digits between them.
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|&(at, sep)| bytes.get(at).map(u8::to_ascii_uppercase) != Some(sep))
    {
        return Err(SYNTAX);
    }
    let field = |at: usize, len: usize| number(bytes.get(at..at + len).ok_or(SYNTAX)?);
    let year = field(0, 4)?;
    let month = field(5, 2)?;
    let day = field(8, 2)?;
    let hour = field(11, 2)?;
    let minute = field(14, 2)?;
    let second = field(17, 2)?;
    let rest = bytes.get(19..).unwrap_or_default();

    let (fraction_ms, rest) = match rest {
        [b'.', after_dot @ ..] => {
            let digits = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return Err("expected digits after the decimal point in the seconds");
            }
            // The first three digits, padded: truncation, not rounding, so an instant never
            // moves into the next millisecond.
            let ms = (0..3).fold(0, |acc, i| {
                let digit = after_dot
                    .get(i)
                    .filter(|_| i < digits)
                    .map_or(0, |d| d - b'0');
                acc * 10 + i64::from(digit)
            });
            (ms, after_dot.get(digits..).unwrap_or_default())
        }
        _ => (0, rest),
    };

    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh0, oh1, b':', om0, om1] => {
            let offset_hour = number(&[*oh0, *oh1])?;
            let offset_minute = number(&[*om0, *om1])?;
            if offset_hour > 23 || offset_minute > 59 {
                return Err("UTC offset out of range (expected -23:59 to +23:59)");
            }
            let magnitude = offset_hour * 60 + offset_minute;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        [] => return Err("missing UTC offset (add Z or an offset like +01:00)"),
        _ => return Err(SYNTAX),
    };

    if !(1..=12).contains(&month) {
        return Err("month out of range (expected 01-12)");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    if hour > 23 {
        return Err("hour out of range (expected 00-23)");
    }
    if minute > 59 {
        return Err("minute out of range (expected 00-59)");
    }
    let (second, fraction_ms) = match second {
        0..=59 => (second, fraction_ms),
        60 => (59, 999),
        _ => return Err("second out of range (expected 00-60)"),
    };

    // Years are 0000-9999, so this stays far inside i64.
    Ok(days_from_civil(year, month, day) * MS_PER_DAY
        + hour * MS_PER_HOUR
        + minute * MS_PER_MINUTE
        + second * MS_PER_SECOND
        + fraction_ms
        - offset_minutes * MS_PER_MINUTE)
}

/// The decimal value of a fixed-width run of ASCII digits.
fn number(digits: &[u8]) -> Result<i64, &'static str> {
    digits.iter().try_fold(0, |acc, &d| {
        if d.is_ascii_digit() {
            Ok(acc * 10 + i64::from(d - b'0'))
        } else {
            Err(SYNTAX)
        }
    })
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms"). Shifting the year to start
/// in March puts the leap day last, so the day-of-year is a closed formula.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400); // [0, 399]
    let month_from_march = if month > 2 { month - 3 } else { month + 9 }; // [0, 11]
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn the_epoch_is_zero() {
        assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
    }

    #[test]
    fn known_instants_match_date_s_output() {
        // Values from `date -u -d <timestamp> +%s`, times 1000.
        assert_eq!(ms("2000-02-29T12:00:00Z"), 951_825_600_000);
        assert_eq!(ms("2026-12-01T10:00:00Z"), 1_796_119_200_000);
        assert_eq!(ms("2024-02-29T23:59:59Z"), 1_709_251_199_000);
        assert_eq!(ms("1969-12-31T23:59:59Z"), -1_000);
        assert_eq!(ms("1900-03-01T00:00:00Z"), -2_203_891_200_000);
        assert_eq!(ms("0000-01-01T00:00:00Z"), -62_167_219_200_000);
        assert_eq!(ms("9999-12-31T23:59:59Z"), 253_402_300_799_000);
    }

    #[test]
    fn lower_case_t_and_z_are_accepted() {
        assert_eq!(ms("2026-12-01t10:00:00z"), 1_796_119_200_000);
    }

    #[test]
    fn offsets_are_subtracted_to_reach_utc() {
        assert_eq!(ms("2026-12-01T11:00:00+01:00"), 1_796_119_200_000);
        assert_eq!(ms("2026-12-01T04:30:00-05:30"), 1_796_119_200_000);
        assert_eq!(ms("2026-12-02T09:59:00+23:59"), 1_796_119_200_000);
        assert_eq!(ms("2026-12-01T10:00:00+00:00"), 1_796_119_200_000);
        assert_eq!(ms("2026-12-01T10:00:00-00:00"), 1_796_119_200_000);
    }

    #[test]
    fn an_offset_can_cross_the_date_and_year_boundary() {
        assert_eq!(ms("1969-12-31T19:00:00-05:00"), 0);
        assert_eq!(ms("1970-01-01T01:00:00+01:00"), 0);
    }

    #[test]
    fn fractional_seconds_are_truncated_to_milliseconds() {
        let base = 1_796_119_200_000;
        assert_eq!(ms("2026-12-01T10:00:00.250+00:00"), base + 250);
        assert_eq!(ms("2026-12-01T11:00:00.250+01:00"), base + 250);
        assert_eq!(ms("2026-12-01T10:00:00.5Z"), base + 500);
        assert_eq!(ms("2026-12-01T10:00:00.05Z"), base + 50);
        assert_eq!(ms("2026-12-01T10:00:00.0009Z"), base);
        assert_eq!(ms("2026-12-01T10:00:00.999999999999999999999Z"), base + 999);
        assert_eq!(ms("1969-12-31T23:59:59.999Z"), -1);
    }

    #[test]
    fn a_leap_second_reads_as_the_last_millisecond_of_its_minute() {
        assert_eq!(ms("2016-12-31T23:59:60Z"), ms("2016-12-31T23:59:59.999Z"));
        assert_eq!(ms("2016-12-31T23:59:60.5Z"), ms("2016-12-31T23:59:59.999Z"));
        assert!(ms("2016-12-31T23:59:60Z") < ms("2017-01-01T00:00:00Z"));
    }

    #[test]
    fn leap_days_follow_the_gregorian_rules() {
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_ok());
        assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_err());
        assert!(parse_rfc3339("1900-02-29T00:00:00Z").is_err());
        assert!(parse_rfc3339("2100-02-29T00:00:00Z").is_err());
    }

    #[test]
    fn consecutive_days_are_one_day_apart_across_four_centuries() {
        let mut previous = days_from_civil(1600, 1, 1);
        for year in 1600..2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    if (year, month, day) == (1600, 1, 1) {
                        continue;
                    }
                    let current = days_from_civil(year, month, day);
                    assert_eq!(current, previous + 1, "{year}-{month}-{day}");
                    previous = current;
                }
            }
        }
    }

    #[test]
    fn out_of_range_fields_are_rejected_with_a_message_naming_them() {
        let cases = [
            ("2026-00-01T10:00:00Z", "month"),
            ("2026-13-01T10:00:00Z", "month"),
            ("2026-12-00T10:00:00Z", "day"),
            ("2026-12-32T10:00:00Z", "day"),
            ("2026-04-31T10:00:00Z", "day"),
            ("2026-12-01T24:00:00Z", "hour"),
            ("2026-12-01T10:60:00Z", "minute"),
            ("2026-12-01T10:00:61Z", "second"),
            ("2026-12-01T10:00:99Z", "second"),
            ("2026-12-01T10:00:00+24:00", "offset"),
            ("2026-12-01T10:00:00+01:60", "offset"),
        ];
        for (input, word) in cases {
            let err = parse_rfc3339(input).unwrap_err();
            assert!(err.contains(word), "{input}: {err}");
        }
    }

    #[test]
    fn malformed_inputs_are_rejected() {
        let cases = [
            "",
            "2026",
            "2026-12-01",
            "2026-12-01T10:00Z",
            "2026-12-01 10:00:00Z",
            "2026-12-01T10:00:00",
            "2026-12-01T10:00:00ZZ",
            "2026-12-01T10:00:00Z ",
            " 2026-12-01T10:00:00Z",
            "2026-12-01T10:00:00.Z",
            "2026-12-01T10:00:00,5Z",
            "2026-12-01T10:00:00+0100",
            "2026-12-01T10:00:00+01",
            "2026-12-01T10:00:00+1:00",
            "2026-12-01T10:00:00UTC",
            "2026-12-01T10:00:00.25.5Z",
            "2026-12-1T10:00:00Z",
            "26-12-01T10:00:00Z",
            "+2026-12-01T10:00:00Z",
            "02026-12-01T10:00:00Z",
            "2026/12/01T10:00:00Z",
            "2026-12-01T1a:00:00Z",
            "2026-12-01T10:00:00.+Z",
            "2026-12-01T10:00:00.5é",
            "２０２６-12-01T10:00:00Z",
            "2026-12-01T10:00:00-1:00x",
            "2026-12-01T10:00:00Z\n",
        ];
        for input in cases {
            assert!(parse_rfc3339(input).is_err(), "accepted {input:?}");
        }
    }

    #[test]
    fn a_missing_offset_is_explained() {
        let err = parse_rfc3339("2026-12-01T10:00:00").unwrap_err();
        assert!(err.contains("offset"), "{err}");
    }

    #[test]
    fn the_generic_error_shows_an_example() {
        assert_eq!(
            parse_rfc3339("tomorrow"),
            Err("expected an RFC 3339 timestamp like 2026-12-01T10:00:00Z")
        );
    }
}
