//! The text forms a setting's value takes (durations with a unit, whole numbers, tax
//! rates), and the nearest known name to a misspelt one.

use refill_domain::{DAY, HOUR, MINUTE, Millis};
use std::collections::BTreeMap;

const SECOND: Millis = 1_000;

/// The units a duration takes, largest first: rendering picks the largest that fits.
const UNITS: [(char, Millis); 4] = [('d', DAY), ('h', HOUR), ('m', MINUTE), ('s', SECOND)];

pub const DURATION_FORMS: &str = "a whole number with a unit: 90s, 30m, 24h or 7d";

/// The unit of an older duration name (`retry_delay_hours`), which reads a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Minutes,
    Hours,
}

impl Unit {
    pub fn word(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Minutes => "minutes",
            Unit::Hours => "hours",
        }
    }

    fn millis(self) -> Millis {
        match self {
            Unit::Seconds => SECOND,
            Unit::Minutes => MINUTE,
            Unit::Hours => HOUR,
        }
    }

    /// A plain whole number of this unit, as milliseconds.
    pub fn parse(self, text: &str) -> Option<Millis> {
        whole(text)?.checked_mul(self.millis())
    }
}

/// "90s", "30m", "24h", "7d" as milliseconds. Never negative.
pub fn parse_duration(text: &str) -> Option<Millis> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let (_, size) = UNITS.iter().find(|(u, _)| *u == unit)?;
    digits(&text[..text.len() - unit.len_utf8()])?.checked_mul(*size)
}

/// A duration in the form `parse_duration` reads back, in the largest exact unit.
pub fn render_duration(ms: Millis) -> String {
    match UNITS.iter().find(|(_, size)| ms != 0 && ms % size == 0) {
        Some((unit, size)) => format!("{}{unit}", ms / size),
        None if ms == 0 => "0s".into(),
        None => format!("{ms}ms"),
    }
}

/// A plain whole number, 0 or more: digits only (no sign, no fraction).
pub fn whole(text: &str) -> Option<i64> {
    digits(text.trim())
}

fn digits(t: &str) -> Option<i64> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// R9: `GB:2000,DE:1900` (country, basis points); countries are letters, kept in
/// capitals. Empty text is no rates.
pub fn parse_tax_rates(text: &str) -> Option<BTreeMap<String, u32>> {
    let mut rates = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (country, bps) = pair.split_once(':')?;
        let country = country.trim().to_ascii_uppercase();
        if country.is_empty() || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        rates.insert(country, u32::try_from(whole(bps)?).ok()?);
    }
    Some(rates)
}

pub fn render_tax_rates(rates: &BTreeMap<String, u32>) -> String {
    let pairs: Vec<String> = rates.iter().map(|(c, r)| format!("{c}:{r}")).collect();
    pairs.join(",")
}

/// R8, R14: amounts set per currency, `JPY:1000,KWD:10000` (ISO 4217 code: minor
/// units of that currency). A code refill does not know is refused.
pub fn parse_per_currency(text: &str) -> Option<BTreeMap<String, i64>> {
    let mut amounts = BTreeMap::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (code, amount) = pair.split_once(':')?;
        let code = refill_domain::Currency::parse(&code.trim().to_ascii_uppercase()).ok()?;
        amounts.insert(code.code().to_string(), whole(amount)?);
    }
    Some(amounts)
}

pub fn render_per_currency(amounts: &BTreeMap<String, i64>) -> String {
    let pairs: Vec<String> = amounts.iter().map(|(c, a)| format!("{c}:{a}")).collect();
    pairs.join(",")
}

/// The known name closest to `name` by edit distance (the first of equals).
pub fn nearest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known.into_iter().min_by_key(|k| edit_distance(name, k))
}

/// Levenshtein distance: the fewest insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_minutes_hours_and_days() {
        assert_eq!(parse_duration("90s"), Some(90 * SECOND));
        assert_eq!(parse_duration("30m"), Some(30 * MINUTE));
        assert_eq!(parse_duration(" 24h "), Some(24 * HOUR));
        assert_eq!(parse_duration("7d"), Some(7 * DAY));
        assert_eq!(parse_duration("0s"), Some(0));
        for bad in [
            "30",
            "s",
            "-5s",
            "1.5h",
            "30 m",
            "30ms",
            "10w",
            "",
            "99999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_duration_renders_in_its_largest_exact_unit_and_reads_back() {
        for (ms, text) in [
            (0, "0s"),
            (90 * SECOND, "90s"),
            (72 * HOUR, "3d"),
            (MINUTE, "1m"),
        ] {
            assert_eq!(render_duration(ms), text);
            assert_eq!(parse_duration(text), Some(ms));
        }
    }

    #[test]
    fn an_older_name_reads_a_plain_number_of_its_unit() {
        assert_eq!(Unit::Hours.parse("24"), Some(24 * HOUR));
        assert_eq!(Unit::Minutes.parse("0"), Some(0));
        assert_eq!(Unit::Seconds.parse("24h"), None);
        assert_eq!(Unit::Seconds.parse("-1"), None);
    }

    #[test]
    fn r8_amounts_per_currency_are_iso_code_and_minor_units() {
        let amounts = parse_per_currency("kwd:10000, JPY:1000").expect("valid");
        assert_eq!(render_per_currency(&amounts), "JPY:1000,KWD:10000");
        assert_eq!(parse_per_currency(""), Some(BTreeMap::new()));
        for bad in ["JPY", "XXX:100", "JPY:-1", "JPY:1.5", "JPY:ten"] {
            assert_eq!(parse_per_currency(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn r9_tax_rates_are_country_and_basis_points() {
        let rates = parse_tax_rates("gb:2000, DE:1900").expect("valid");
        assert_eq!(render_tax_rates(&rates), "DE:1900,GB:2000");
        assert_eq!(parse_tax_rates(""), Some(BTreeMap::new()));
        for bad in ["GB", "GB:20%", ":2000", "G1:5", "GB:-1"] {
            assert_eq!(parse_tax_rates(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_nearest_name_is_the_fewest_edits_away() {
        let known = ["retry_delay", "retry_delay_hours", "lease"];
        assert_eq!(
            nearest("retry_delay_hour", known),
            Some("retry_delay_hours")
        );
        assert_eq!(nearest("retry_dealy", known), Some("retry_delay"));
        assert_eq!(nearest("leese", known), Some("lease"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
