//! Time values as MISP reads and writes them: unix seconds, `Nd/h/m/s`
//! relative deltas, `strtotime`-like dates, and `YYYY-MM-DD` event dates.
//! Small civil-calendar helpers keep the crate free of a date library.

use serde_json::Value;

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` (UTC) of a unix time.
pub fn date_string(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The subset of PHP `strtotime` that MISP users send: `YYYY-MM-DD`,
/// optionally followed by ` ` or `T` and `HH:MM[:SS]`, and an optional `Z` or
/// `+00:00`. Interpreted as UTC.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let mut it = date.split('-');
    let y: i64 = num(it.next()?)?;
    let m: u32 = num(it.next()?)?;
    let d: u32 = num(it.next()?)?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0i64;
    if let Some(t) = time {
        let t = t
            .trim_end_matches('Z')
            .trim_end_matches("+00:00")
            .trim_end_matches("+0000");
        let mut parts = t.split(':');
        let h: i64 = num(parts.next()?)?;
        let mi: i64 = num(parts.next()?)?;
        let sec: i64 = match parts.next() {
            Some(p) => num(p.split('.').next()?)?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + sec;
    }
    Some(days_from_civil(y, m, d) * 86_400 + secs)
}

/// MISP's `resolveTimeDelta`: unix seconds (number or numeric string), `N`
/// followed by `d`, `h`, `m` or `s` (relative to `now`), or a date. Anything
/// else becomes `now + 1`, which makes a `>=` filter match nothing.
pub fn resolve(v: &Value, now: i64) -> i64 {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(now + 1),
        Value::String(s) => resolve_str(s, now),
        _ => now + 1,
    }
}

fn resolve_str(s: &str, now: i64) -> i64 {
    let s = s.trim();
    if let Some(n) = num::<i64>(s) {
        return n;
    }
    if let Some(unit) = s.chars().last() {
        let mult = match unit {
            'd' => Some(86_400),
            'h' => Some(3_600),
            'm' => Some(60),
            's' => Some(1),
            _ => None,
        };
        if let (Some(mult), Some(n)) = (mult, num::<i64>(&s[..s.len() - 1])) {
            return now.saturating_sub(n.saturating_mul(mult));
        }
    }
    parse_datetime(s).unwrap_or(now + 1)
}

/// An inclusive time window from a filter value: a scalar means `>=`, a
/// two-element array is a range (auto-sorted).
pub fn window(v: &Value, now: i64) -> (i64, Option<i64>) {
    match v {
        Value::Array(a) if a.len() >= 2 => {
            let x = resolve(&a[0], now);
            let y = resolve(&a[1], now);
            (x.min(y), Some(x.max(y)))
        }
        Value::Array(a) if a.len() == 1 => (resolve(&a[0], now), None),
        other => (resolve(other, now), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn civil_roundtrip() {
        for z in [-1000, 0, 1, 59, 365, 10_957, 19_723, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(date_string(1_704_067_200), "2024-01-01");
    }

    #[test]
    fn resolve_forms() {
        let now = 1_700_000_000;
        assert_eq!(resolve(&json!(5), now), 5);
        assert_eq!(resolve(&json!("1699999999"), now), 1_699_999_999);
        assert_eq!(resolve(&json!("2d"), now), now - 172_800);
        assert_eq!(resolve(&json!("3h"), now), now - 10_800);
        assert_eq!(resolve(&json!("5m"), now), now - 300);
        assert_eq!(resolve(&json!("7s"), now), now - 7);
        assert_eq!(resolve(&json!("2024-01-01"), now), 1_704_067_200);
        assert_eq!(resolve(&json!("2024-01-01 01:00:00"), now), 1_704_070_800);
        assert_eq!(resolve(&json!("1w"), now), now + 1);
        assert_eq!(resolve(&json!("[14d, 7d]"), now), now + 1);
        assert_eq!(
            window(&json!(["7d", "14d"]), now),
            (now - 14 * 86_400, Some(now - 7 * 86_400))
        );
    }
}
