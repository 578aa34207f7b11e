//! R1: amounts are integers in the currency's minor unit, with an ISO 4217 code.
//! Arithmetic is checked: overflow is an error, never a wrap.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An ISO 4217 currency code refill knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(&'static str);

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, DomainError> {
        crate::currency::find(code)
            .map(|r| Currency(r.code))
            .ok_or_else(|| DomainError::UnknownCurrency(code.chars().take(16).collect()))
    }
    pub fn code(&self) -> &'static str {
        self.0
    }
    /// Digits after the decimal point (2 for GBP, 0 for JPY).
    pub fn exponent(&self) -> u32 {
        crate::currency::find(self.0).map_or(2, |r| r.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An amount of money: minor units and currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }
    pub fn checked_add(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(other)?;
        Ok(Money::new(add(self.amount, other.amount)?, self.currency))
    }
    pub fn checked_sub(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(other)?;
        Ok(Money::new(sub(self.amount, other.amount)?, self.currency))
    }
    fn same_currency(self, other: Money) -> Result<(), DomainError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(DomainError::CurrencyMismatch {
                expected: self.currency.to_string(),
                got: other.currency.to_string(),
            })
        }
    }
}

impl fmt::Display for Money {
    /// "12.34 GBP": for people, in messages and notifications.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            format_minor(self.amount, self.currency),
            self.currency
        )
    }
}

/// Formats minor units as a decimal string: 1234 GBP -> "12.34", 500 JPY -> "500".
pub fn format_minor(amount: i64, currency: Currency) -> String {
    let exp = currency.exponent();
    if exp == 0 {
        return amount.to_string();
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let unit = 10u64.pow(exp);
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = exp as usize
    )
}

/// Checked addition of minor units: overflow is an error, never a wrap (R1).
pub fn add(a: i64, b: i64) -> Result<i64, DomainError> {
    a.checked_add(b).ok_or(DomainError::AmountOverflow)
}

/// Checked subtraction of minor units (R1).
pub fn sub(a: i64, b: i64) -> Result<i64, DomainError> {
    a.checked_sub(b).ok_or(DomainError::AmountOverflow)
}

/// The largest amount one operation may move: 10^15 minor units (ten trillion in
/// major units). Far beyond any real top-up or usage, and small enough that the sum of
/// every entry of a ledger account never overflows i64 (R1).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// A positive amount, as every debit, top-up and transfer must be, at most
/// MAX_AMOUNT (R1).
pub fn positive(amount: i64) -> Result<i64, DomainError> {
    if amount <= 0 {
        Err(DomainError::AmountNotPositive)
    } else if amount > MAX_AMOUNT {
        Err(DomainError::AmountOverflow)
    } else {
        Ok(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r1_currency_codes_are_iso_4217() {
        assert_eq!(Currency::parse("GBP").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert!(matches!(
            Currency::parse("gbp"),
            Err(DomainError::UnknownCurrency(_))
        ));
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn r1_overflow_is_an_error_never_a_wrap() {
        assert_eq!(add(i64::MAX, 1), Err(DomainError::AmountOverflow));
        assert_eq!(sub(i64::MIN, 1), Err(DomainError::AmountOverflow));
        let gbp = Currency::parse("GBP").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert!(Money::new(1, gbp).checked_add(Money::new(1, eur)).is_err());
        assert_eq!(
            Money::new(1, gbp)
                .checked_add(Money::new(2, gbp))
                .unwrap()
                .amount,
            3
        );
    }

    #[test]
    fn r1_amounts_format_by_exponent() {
        let gbp = Currency::parse("GBP").unwrap();
        assert_eq!(format_minor(1234, gbp), "12.34");
        assert_eq!(format_minor(-5, gbp), "-0.05");
        assert_eq!(format_minor(500, Currency::parse("JPY").unwrap()), "500");
        assert_eq!(Money::new(1000, gbp).to_string(), "10.00 GBP");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(1_101, kwd).to_string(), "1.101 KWD");
        assert_eq!(
            Money::new(1_000, Currency::parse("JPY").unwrap()).to_string(),
            "1000 JPY"
        );
    }

    #[test]
    fn r1_only_positive_amounts_move_money() {
        assert!(positive(0).is_err());
        assert!(positive(-1).is_err());
        assert_eq!(positive(1), Ok(1));
    }
}
