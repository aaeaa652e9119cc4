//! Sizes as people write them in `shoal.toml` and flags: `1GiB`, `500MiB`, `64k`,
//! `2G`, `1.5GiB`. Units are binary (k = KiB = 1024); `B` or `iB` may follow the
//! letter. A bare number is refused (bytes or megabytes?) with a message that says to
//! add a unit; `0` alone is the one bare number taken.

/// `s` as a number of bytes, or a message naming what is wrong.
pub fn parse(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| {
            if t.is_empty() {
                "an empty size (try 1GiB, 500MiB, 64KiB)".to_string()
            } else {
                format!("{t:?} has no unit: write {t}B, {t}KiB, {t}MiB or {t}GiB")
            }
        })?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{t:?} is not a size (try 1GiB, 500MiB, 64KiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{t:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB or TiB)"
            ))
        }
    };
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{t:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// `bytes` in the largest binary unit that keeps it whole (`1GiB`, `1536MiB`, `10B`).
pub fn format(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_people_write_them() {
        assert_eq!(parse("1GiB"), Ok(1 << 30));
        assert_eq!(parse("1G"), Ok(1 << 30));
        assert_eq!(parse("500MiB"), Ok(500 << 20));
        assert_eq!(parse("64k"), Ok(64 << 10));
        assert_eq!(parse("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse("10B"), Ok(10));
        assert_eq!(parse(" 2 GiB "), Ok(2 << 30));
        assert_eq!(parse("0"), Ok(0));
        assert!(parse("100").unwrap_err().contains("no unit"));
        assert!(parse("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse("").is_err());
        assert!(parse("1e30TiB").is_err());
    }

    #[test]
    fn formatting_round_trips() {
        for b in [0, 10, 1 << 10, 1 << 30, 1536 << 20, 5 << 40, 1000] {
            assert_eq!(parse(&format(b)), Ok(b), "{}", format(b));
        }
        assert_eq!(format(1 << 30), "1GiB");
        assert_eq!(format(1536 << 20), "1536MiB");
    }
}
