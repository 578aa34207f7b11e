//! R8, R9: the manual top-up minimum and the checkout summary (amount, tax by the
//! payer's country, total).

use crate::money::{add, positive};
use crate::{Currency, DomainError, Money};
use serde::Serialize;
use std::collections::BTreeMap;

/// Tax rates in basis points (1/100 of a percent) by ISO 3166 country code.
#[derive(Debug, Clone, Default)]
pub struct TaxRates {
    pub by_country: BTreeMap<String, u32>,
}

impl TaxRates {
    pub fn rate_bps(&self, country: Option<&str>) -> u32 {
        country
            .and_then(|c| self.by_country.get(&c.to_ascii_uppercase()))
            .copied()
            .unwrap_or(0)
    }
}

/// R9: the country whose rate taxes an account's top-ups: its own payer's; a
/// sub-account without a payer (or a payer's country) of its own is taxed by its main
/// account's payer (`main`), as every notice goes to that payer.
pub fn tax_country<'a>(own: Option<&'a str>, main: Option<&'a str>) -> Option<&'a str> {
    own.filter(|c| !c.is_empty()).or(main)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckoutSummary {
    /// What the balance is credited with.
    pub amount: i64,
    pub tax_rate_bps: u32,
    pub tax: i64,
    /// R1: what the charge was rounded by so that the gateway takes it (0 or
    /// negative: rounded down, never up; the credit is never rounded).
    pub charge_rounding: i64,
    /// What the card is charged: amount + tax + charge_rounding.
    pub total: i64,
}

/// Tax on an amount, rounded half up to the minor unit.
pub fn tax_on(amount: i64, rate_bps: u32) -> Result<i64, DomainError> {
    let scaled = (amount as i128) * (rate_bps as i128);
    let tax = (scaled + 5_000) / 10_000;
    i64::try_from(tax).map_err(|_| DomainError::AmountOverflow)
}

/// R9: the summary shown before paying. R1: the charge (amount + tax) is rounded
/// down to what the gateway takes in `currency` (a multiple of 10 in three-decimal
/// currencies); the credit never is.
pub fn summary(
    amount: i64,
    rate_bps: u32,
    currency: Currency,
) -> Result<CheckoutSummary, DomainError> {
    let amount = positive(amount)?;
    let tax = tax_on(amount, rate_bps)?;
    let exact = add(amount, tax)?;
    let total = currency.gateway().round_charge(exact);
    Ok(CheckoutSummary {
        amount,
        tax_rate_bps: rate_bps,
        tax,
        charge_rounding: total - exact,
        total,
    })
}

/// R8: a manual top-up has a minimum amount (in the account's currency).
pub fn check_minimum(amount: i64, minimum: Money) -> Result<i64, DomainError> {
    let amount = positive(amount)?;
    if amount < minimum.amount {
        return Err(DomainError::AmountBelowMinimum {
            amount: Money::new(amount, minimum.currency),
            minimum,
        });
    }
    Ok(amount)
}

/// R7: what planned usage would cost and leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub cost: i64,
    pub balance_after: i64,
    /// The top-up needed first (at least the minimum), 0 if the balance covers it.
    pub top_up_needed: i64,
}

/// R7: prices `(quantity, unit price)` lines against a balance.
pub fn estimate(
    lines: &[(i64, i64)],
    balance: i64,
    credit_limit: i64,
    minimum: i64,
) -> Result<Estimate, DomainError> {
    let mut cost: i64 = 0;
    for &(quantity, unit_price) in lines {
        if quantity <= 0 || unit_price < 0 {
            return Err(DomainError::AmountNotPositive);
        }
        let line = quantity
            .checked_mul(unit_price)
            .ok_or(DomainError::AmountOverflow)?;
        cost = add(cost, line)?;
    }
    let balance_after = crate::money::sub(balance, cost)?;
    let shortfall = crate::money::sub(credit_limit, balance_after)?;
    let top_up_needed = if shortfall > 0 {
        shortfall.max(minimum)
    } else {
        0
    };
    Ok(Estimate {
        cost,
        balance_after,
        top_up_needed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r9_a_sub_account_without_a_payer_is_taxed_by_its_main_accounts() {
        assert_eq!(tax_country(None, Some("GB")), Some("GB"));
        assert_eq!(tax_country(Some(""), Some("GB")), Some("GB"));
        assert_eq!(tax_country(Some("US"), Some("GB")), Some("US"), "its own");
        assert_eq!(tax_country(Some("GB"), None), Some("GB"), "a main account");
        assert_eq!(tax_country(None, None), None);
    }

    #[test]
    fn r7_estimate_prices_usage_and_the_top_up_it_needs() {
        let e = estimate(&[(100, 4), (2, 50)], 1_000, 0, 1_000).unwrap();
        assert_eq!(
            e,
            Estimate {
                cost: 500,
                balance_after: 500,
                top_up_needed: 0
            }
        );
        let e = estimate(&[(300, 4)], 1_000, 0, 1_000).unwrap();
        assert_eq!(
            e,
            Estimate {
                cost: 1_200,
                balance_after: -200,
                top_up_needed: 1_000
            }
        );
        let e = estimate(&[(3_000, 4)], 1_000, 0, 1_000).unwrap();
        assert_eq!(e.top_up_needed, 11_000);
        assert!(estimate(&[(0, 4)], 0, 0, 0).is_err());
        assert_eq!(
            estimate(&[(i64::MAX, 2)], 0, 0, 0),
            Err(DomainError::AmountOverflow)
        );
    }

    fn money(amount: i64, code: &str) -> Money {
        Money::new(amount, Currency::parse(code).unwrap())
    }

    #[test]
    fn r8_minimum_top_up() {
        assert_eq!(
            check_minimum(999, money(1000, "GBP")),
            Err(DomainError::AmountBelowMinimum {
                amount: money(999, "GBP"),
                minimum: money(1000, "GBP"),
            })
        );
        assert_eq!(check_minimum(1000, money(1000, "GBP")), Ok(1000));
        assert!(check_minimum(0, money(0, "GBP")).is_err());
    }

    #[test]
    fn r8_the_minimum_is_told_in_major_units() {
        let e = check_minimum(999, money(1000, "GBP")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "9.99 GBP is below the minimum top-up of 10.00 GBP"
        );
        let e = check_minimum(9_999, money(10_000, "KWD")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "9.999 KWD is below the minimum top-up of 10.000 KWD"
        );
        let e = check_minimum(49, money(50, "JPY")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "49 JPY is below the minimum top-up of 50 JPY"
        );
    }

    #[test]
    fn r1_the_charge_is_rounded_to_what_the_gateway_takes_never_the_credit() {
        let bhd = Currency::parse("BHD").unwrap();
        let s = summary(1_101, 0, bhd).unwrap();
        assert_eq!(
            (s.amount, s.tax, s.charge_rounding, s.total),
            (1_101, 0, -1, 1_100)
        );
        // 10% of 10.005 is 1.0005, rounded half up to 1.001; 11.006 charged 11.000.
        let s = summary(10_005, 1_000, bhd).unwrap();
        assert_eq!(
            (s.amount, s.tax, s.charge_rounding, s.total),
            (10_005, 1_001, -6, 11_000)
        );
        let gbp = Currency::parse("GBP").unwrap();
        let s = summary(1_101, 2_000, gbp).unwrap();
        assert_eq!((s.charge_rounding, s.total), (0, 1_321));
    }

    #[test]
    fn r9_tax_by_country_rounds_half_up() {
        let mut rates = TaxRates::default();
        rates.by_country.insert("GB".into(), 2000);
        assert_eq!(rates.rate_bps(Some("gb")), 2000);
        assert_eq!(rates.rate_bps(Some("US")), 0);
        assert_eq!(rates.rate_bps(None), 0);
        let s = summary(1000, 2000, Currency::parse("GBP").unwrap()).unwrap();
        assert_eq!((s.amount, s.tax, s.total), (1000, 200, 1200));
        // 0.125 rounds up to 1 minor unit, 0.124 down to 0.
        assert_eq!(tax_on(5, 2500).unwrap(), 1);
        assert_eq!(tax_on(4, 1240).unwrap(), 0);
        assert!(summary(i64::MAX, 2000, Currency::parse("GBP").unwrap()).is_err());
    }
}
