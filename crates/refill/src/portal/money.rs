//! Money for people: minor units written in major units with the currency, in the
//! session's locale (`£1,234.50`, `1.234,50 €`, `1 234,50 €`); and amounts typed into
//! a form read back to minor units, refusing letters and extra decimals.

use refill_domain::Currency;

/// How a locale writes numbers and where the currency goes.
struct Style {
    decimal: char,
    group: &'static str,
    symbol_first: bool,
}

fn style(locale: &str) -> Style {
    let lang = locale.split('-').next().unwrap_or("en");
    match lang {
        "de" | "es" | "it" | "pt" | "da" | "id" | "tr" => Style {
            decimal: ',',
            group: ".",
            symbol_first: false,
        },
        "nl" => Style {
            decimal: ',',
            group: ".",
            symbol_first: true,
        },
        "fr" | "sv" | "nb" | "fi" | "pl" | "cs" | "ru" | "uk" => Style {
            decimal: ',',
            group: "\u{202f}",
            symbol_first: false,
        },
        _ => Style {
            decimal: '.',
            group: ",",
            symbol_first: true,
        },
    }
}

fn symbol(code: &str, locale: &str) -> String {
    match code {
        "GBP" => "£".into(),
        "EUR" => "€".into(),
        "USD" if locale == "en-US" => "$".into(),
        "USD" => "US$".into(),
        "JPY" => "¥".into(),
        other => other.into(),
    }
}

/// `amount` minor units of `currency` for people in `locale`.
pub fn format(amount: i64, currency: &str, locale: &str) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    let st = style(locale);
    let digits = amount.unsigned_abs().to_string();
    let e = exponent as usize;
    let padded = format!("{digits:0>width$}", width = e + 1);
    let (whole, frac) = padded.split_at(padded.len() - e);
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push_str(st.group);
        }
        grouped.push(c);
    }
    let number = match e {
        0 => grouped,
        _ => format!("{grouped}{}{frac}", st.decimal),
    };
    let sign = if amount < 0 { "−" } else { "" };
    let sym = symbol(currency, locale);
    match (
        st.symbol_first,
        sym.chars().count() > 1 && sym.chars().all(|c| c.is_ascii_uppercase()),
    ) {
        (true, false) => format!("{sign}{sym}{number}"),
        (true, true) => format!("{sign}{sym}\u{a0}{number}"),
        (false, _) => format!("{sign}{number}\u{a0}{sym}"),
    }
}

/// An amount as a form shows it back (no symbol, no grouping): `12.50`.
pub fn plain(amount: i64, currency: &str) -> String {
    let e = Currency::parse(currency).map_or(2, |c| c.exponent()) as usize;
    let digits = format!("{:0>width$}", amount.unsigned_abs(), width = e + 1);
    let (whole, frac) = digits.split_at(digits.len() - e);
    let sign = if amount < 0 { "-" } else { "" };
    match e {
        0 => format!("{sign}{whole}"),
        _ => format!("{sign}{whole}.{frac}"),
    }
}

/// Why a typed amount was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountRefusal {
    Empty,
    NotANumber,
    TooManyDecimals(u32),
    TooLarge,
}

impl AmountRefusal {
    pub fn words(&self, currency: &str) -> String {
        match self {
            AmountRefusal::Empty => "Enter an amount.".into(),
            AmountRefusal::NotANumber => {
                "Enter the amount as a number, such as 25 or 25.50 (no letters or symbols).".into()
            }
            AmountRefusal::TooManyDecimals(0) => format!("{currency} amounts have no decimals."),
            AmountRefusal::TooManyDecimals(e) => {
                format!("{currency} amounts have at most {e} decimals.")
            }
            AmountRefusal::TooLarge => "That amount is too large.".into(),
        }
    }
}

/// A typed amount in major units (`25`, `25.5`, `25,50`) as minor units of
/// `currency`: digits with at most one decimal mark (`.` or `,`), no sign, no
/// grouping, at most the currency's decimals.
pub fn parse(text: &str, currency: &str) -> Result<i64, AmountRefusal> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AmountRefusal::Empty);
    }
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    let (whole, frac) = match text.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(frac)
        || (text.contains(['.', ',']) && frac.is_empty())
    {
        return Err(AmountRefusal::NotANumber);
    }
    if frac.len() > exponent as usize {
        return Err(AmountRefusal::TooManyDecimals(exponent));
    }
    let padded = format!("{frac:0<width$}", width = exponent as usize);
    let whole: i64 = whole.parse().map_err(|_| AmountRefusal::TooLarge)?;
    let frac: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| AmountRefusal::NotANumber)?
    };
    whole
        .checked_mul(10i64.pow(exponent))
        .and_then(|w| w.checked_add(frac))
        .ok_or(AmountRefusal::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_for_the_locale() {
        assert_eq!(format(123_450, "GBP", "en-GB"), "£1,234.50");
        assert_eq!(format(123_450, "EUR", "de-DE"), "1.234,50\u{a0}€");
        assert_eq!(format(123_450, "EUR", "fr-FR"), "1\u{202f}234,50\u{a0}€");
        assert_eq!(format(5, "USD", "en-US"), "$0.05");
        assert_eq!(format(1_000, "JPY", "en-GB"), "¥1,000");
        assert_eq!(format(-2_500, "GBP", "en-GB"), "−£25.00");
        assert_eq!(format(1_234, "KWD", "en-GB"), "KWD\u{a0}1.234");
    }

    #[test]
    fn a_typed_amount_is_read_in_minor_units() {
        assert_eq!(parse("25", "GBP"), Ok(2_500));
        assert_eq!(parse("25.5", "GBP"), Ok(2_550));
        assert_eq!(parse(" 25,05 ", "EUR"), Ok(2_505));
        assert_eq!(parse("1000", "JPY"), Ok(1_000));
        assert_eq!(parse("", "GBP"), Err(AmountRefusal::Empty));
        assert_eq!(
            parse("25.505", "GBP"),
            Err(AmountRefusal::TooManyDecimals(2))
        );
        assert_eq!(parse("10.5", "JPY"), Err(AmountRefusal::TooManyDecimals(0)));
        for bad in ["ten", "1e3", "-5", "5.", ".5", "1,000.00", "£5", "5 00"] {
            assert_eq!(parse(bad, "GBP"), Err(AmountRefusal::NotANumber), "{bad}");
        }
        assert_eq!(
            parse("99999999999999999999", "GBP"),
            Err(AmountRefusal::TooLarge)
        );
    }
}
