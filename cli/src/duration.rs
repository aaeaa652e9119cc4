//! Parsing durations given on the command line: `500ms`, `30s`, `5m`, `2h`, `1d`,
//! or a bare number of seconds.

/// Milliseconds in `s`, or a message naming what is wrong.
pub fn parse_ms(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 30s, 5m, 2h)"))?;
    let scale = match unit {
        "ms" => 1.0,
        "" | "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ms, s, m, h or d)"
            ))
        }
    };
    let ms = n * scale;
    if !(1.0..=1e15).contains(&ms) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert_eq!(parse_ms("2"), Ok(2000));
        assert_eq!(parse_ms("1.5m"), Ok(90_000));
        assert_eq!(parse_ms("2h"), Ok(7_200_000));
        assert!(parse_ms("abc").is_err());
        assert!(parse_ms("5y").is_err());
        assert!(parse_ms("0s").is_err());
    }
}
