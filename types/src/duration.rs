//! Durations as people write them, in Shoal's own flags and the testnet: `90s`,
//! `5min`, `1h30m`, `2sec`, `500ms`, `1.5h`. A bare number is refused (is `30`
//! seconds or minutes?) with a message that says to add a unit. Config keys ending
//! in `_ms` stay plain milliseconds.

use std::time::Duration;

/// `s` as a duration, or a message naming what is wrong.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("an empty duration (try 30s, 5min, 1h30m)".into());
    }
    if t.parse::<f64>().is_ok() {
        return Err(format!(
            "{t:?} has no unit: write {t}s, {t}min or {t}h (or ms, d)"
        ));
    }
    // humantime has no fractions; `1.5h` is common enough to take.
    if let Some(d) = fraction(t) {
        return Ok(d);
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{t:?} is not a duration ({e}; try 30s, 5min, 1h30m)"))
}

/// `1.5h`, `0.5s`: one decimal number and one unit.
fn fraction(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = t.split_at(split);
    if !num.contains('.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n * 60.0,
        "h" | "hr" | "hrs" => n * 3600.0,
        "d" | "day" | "days" => n * 86_400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// [`parse`] in whole milliseconds, at least 1 ms (for flags that store ms).
pub fn parse_ms(s: &str) -> Result<u64, String> {
    let d = parse(s)?;
    let ms = d.as_millis();
    if ms == 0 {
        return Err(format!("{s:?} is shorter than a millisecond"));
    }
    u64::try_from(ms).map_err(|_| format!("{s:?} is out of range"))
}

/// [`parse`] in whole seconds, at least 1 s.
pub fn parse_secs(s: &str) -> Result<u64, String> {
    let d = parse(s)?;
    if d.as_secs() == 0 {
        return Err(format!("{s:?} is shorter than a second"));
    }
    Ok(d.as_secs())
}

/// `ms` as people read it: `1h 30m`, `90s`, `250ms`.
pub fn format_ms(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_people_write() {
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert_eq!(parse_ms("90s"), Ok(90_000));
        assert_eq!(parse_ms("2sec"), Ok(2_000));
        assert_eq!(parse_ms("5min"), Ok(300_000));
        assert_eq!(parse_ms("5m"), Ok(300_000));
        assert_eq!(parse_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_ms("1h 30m"), Ok(5_400_000));
        assert_eq!(parse_ms("1.5h"), Ok(5_400_000));
        assert_eq!(parse_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_secs("30s"), Ok(30));
    }

    #[test]
    fn a_bare_number_says_to_add_a_unit() {
        let e = parse_ms("30").unwrap_err();
        assert!(e.contains("no unit") && e.contains("30s"), "{e}");
        assert!(parse_ms("1.5").unwrap_err().contains("no unit"));
    }

    #[test]
    fn nonsense_and_zero_are_refused() {
        assert!(parse_ms("abc").unwrap_err().contains("not a duration"));
        assert!(parse_ms("5 parsecs").is_err());
        assert!(parse_ms("0s").is_err());
        assert!(parse_ms("").is_err());
        assert!(parse_secs("500ms").is_err());
    }
}
