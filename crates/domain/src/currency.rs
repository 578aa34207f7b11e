//! R1: the currencies refill knows: their ISO 4217 exponent, and what the payment
//! gateway accepts in each (R1, R14: the smallest charge and the step of amounts).
//! Also what an operator's amount, set once for every currency, means in each (R8,
//! R14).

use crate::money::MAX_AMOUNT;
use crate::{Currency, DomainError};

/// One row of the table: ISO 4217 code and exponent, then Stripe's rules for
/// charges in it.
pub(crate) struct Row {
    pub code: &'static str,
    pub exponent: u32,
    /// Amounts sent must be multiples of this (10 for three-decimal currencies).
    pub step: i64,
    /// The smallest charge, in minor units.
    pub minimum_charge: i64,
}

const fn row(code: &'static str, exponent: u32, minimum_charge: i64) -> Row {
    Row {
        code,
        exponent,
        // Stripe takes three-decimal amounts only in multiples of 10.
        step: if exponent == 3 { 10 } else { 1 },
        minimum_charge,
    }
}

/// ISO 4217 exponents, and Stripe's rules for charges.
///
/// Source: Stripe's "Supported currencies" page, https://docs.stripe.com/currencies
/// ("Zero-decimal currencies": the amount is in the currency's unit, as ISO 4217's
/// exponent 0; "Three-decimal currencies": the last digit must be 0, "round amounts
/// to the nearest ten"; "Minimum and maximum charge amounts": the table below, by
/// settlement currency). The minimums marked `est.` are not in that table: Stripe asks
/// that a charge convert to at least 0.50 USD; these are that amount with a margin
/// against exchange rates, rounded up. Review them when Stripe's page changes.
pub(crate) const TABLE: &[Row] = &[
    row("AED", 2, 200),
    row("AUD", 2, 50),
    row("BGN", 2, 100),
    row("BHD", 3, 300), // est.
    row("BRL", 2, 50),
    row("CAD", 2, 50),
    row("CHF", 2, 50),
    row("CNY", 2, 400), // est.
    row("CZK", 2, 1_500),
    row("DKK", 2, 250),
    row("EUR", 2, 50),
    row("GBP", 2, 30),
    row("HKD", 2, 400),
    row("HUF", 2, 17_500),
    row("ILS", 2, 300), // est.
    row("INR", 2, 50),
    row("JOD", 3, 500), // est.
    row("JPY", 0, 50),
    row("KRW", 0, 1_000), // est.
    row("KWD", 3, 200),   // est.
    row("MXN", 2, 1_000),
    row("MYR", 2, 200),
    row("NOK", 2, 300),
    row("NZD", 2, 50),
    row("OMR", 3, 300), // est.
    row("PLN", 2, 200),
    row("RON", 2, 200),
    row("SAR", 2, 300), // est.
    row("SEK", 2, 300),
    row("SGD", 2, 50),
    row("THB", 2, 1_000),
    row("TND", 3, 2_000), // est.
    row("USD", 2, 50),
    row("ZAR", 2, 1_000), // est.
];

/// The codes of every currency refill knows.
pub fn codes() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|r| r.code)
}

pub(crate) fn find(code: &str) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.code == code)
}

/// What the payment gateway accepts as a charge in one currency (R1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayRules {
    /// Charges are multiples of this, in minor units.
    pub step: i64,
    /// The smallest charge, in minor units (R14: the verification charge is at least
    /// this).
    pub minimum_charge: i64,
}

impl Currency {
    /// R1: what the gateway accepts in this currency.
    pub fn gateway(&self) -> GatewayRules {
        // Every Currency is made from a row of the table (`Currency::parse`).
        let r = find(self.code()).unwrap_or(&TABLE[0]);
        GatewayRules {
            step: r.step,
            minimum_charge: r.minimum_charge,
        }
    }

    /// `n` major units in minor units (10 -> 1000 GBP, 10 JPY, 10000 KWD).
    pub fn major(&self, n: i64) -> Result<i64, DomainError> {
        n.checked_mul(10i64.pow(self.exponent()))
            .ok_or(DomainError::AmountOverflow)
    }
}

impl GatewayRules {
    /// R1: whether the gateway takes this charge as it is.
    pub fn accepts(&self, amount: i64) -> bool {
        amount >= self.minimum_charge && amount % self.step == 0
    }

    /// R1: the charge the gateway takes for `total`: rounded down to its step, so
    /// that nobody is charged more than the summary said (at most step - 1 minor
    /// units less: 0.009 KWD). The caller's amounts are at least the minimum charge
    /// (the minimum top-up is, below), so rounding down never goes under it.
    pub fn round_charge(&self, total: i64) -> i64 {
        total - total.rem_euclid(self.step)
    }

    /// `amount` raised to what can be charged: the minimum charge, then a multiple
    /// of the step.
    fn chargeable(&self, amount: i64) -> i64 {
        let at_least = amount.max(self.minimum_charge);
        let rest = at_least.rem_euclid(self.step);
        if rest == 0 {
            at_least
        } else {
            at_least.saturating_add(self.step - rest)
        }
    }
}

/// R8, R14: what an operator's amount means in `currency`. The deployment sets it
/// once for a two-decimal currency (`two_decimal`: 1000 is 10.00) and it means the
/// same number of major units in every currency (10 JPY, 10.000 KWD); or it is set
/// for this currency in its own minor units (`own`). Either way it is raised to what
/// the gateway can charge (its minimum charge, its step). 0 stays 0: off.
pub fn operator_amount(currency: Currency, two_decimal: i64, own: Option<i64>) -> i64 {
    let wanted = own.unwrap_or_else(|| scale_two_decimal(two_decimal, currency.exponent()));
    if wanted <= 0 {
        return 0;
    }
    currency.gateway().chargeable(wanted.min(MAX_AMOUNT))
}

/// Minor units of a two-decimal currency as the same major units in a currency of
/// `exponent`, rounded up (10.50 -> 11 JPY).
fn scale_two_decimal(amount: i64, exponent: u32) -> i64 {
    let amount = i128::from(amount.clamp(0, MAX_AMOUNT));
    let scaled = match exponent {
        e if e >= 2 => amount * 10i128.pow(e - 2),
        e => {
            let unit = 10i128.pow(2 - e);
            (amount + unit - 1) / unit
        }
    };
    i64::try_from(scaled.min(i128::from(MAX_AMOUNT))).unwrap_or(MAX_AMOUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn r1_the_table_knows_iso_exponents_and_three_decimal_steps() {
        for (code, exponent, step) in [
            ("GBP", 2, 1),
            ("JPY", 0, 1),
            ("KRW", 0, 1),
            ("KWD", 3, 10),
            ("BHD", 3, 10),
            ("JOD", 3, 10),
            ("OMR", 3, 10),
            ("TND", 3, 10),
        ] {
            assert_eq!(c(code).exponent(), exponent, "{code}");
            assert_eq!(c(code).gateway().step, step, "{code}");
        }
        let mut codes: Vec<&str> = TABLE.iter().map(|r| r.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len(), "one row per currency");
        for r in TABLE {
            assert!(
                r.minimum_charge > 0 && r.minimum_charge % r.step == 0,
                "{}",
                r.code
            );
        }
    }

    #[test]
    fn r1_stripes_minimum_charges() {
        let min = |code| c(code).gateway().minimum_charge;
        assert_eq!(min("USD"), 50);
        assert_eq!(min("GBP"), 30);
        assert_eq!(min("EUR"), 50);
        assert_eq!(min("CZK"), 1_500);
        assert_eq!(min("HUF"), 17_500);
        assert_eq!((min("NOK"), min("SEK"), min("DKK")), (300, 300, 250));
        assert_eq!((min("PLN"), min("MXN"), min("HKD")), (200, 1_000, 400));
        assert_eq!(min("JPY"), 50);
    }

    #[test]
    fn r1_a_charge_is_rounded_down_to_the_gateways_step() {
        let bhd = c("BHD").gateway();
        assert_eq!(bhd.round_charge(1_101), 1_100);
        assert_eq!(bhd.round_charge(1_109), 1_100);
        assert_eq!(bhd.round_charge(1_110), 1_110);
        assert!(!bhd.accepts(1_101));
        assert!(bhd.accepts(1_100));
        let gbp = c("GBP").gateway();
        assert_eq!(gbp.round_charge(1_101), 1_101);
        assert!(!gbp.accepts(29));
    }

    #[test]
    fn r8_an_operator_amount_means_the_same_major_units_in_every_currency() {
        // 10.00 set for a two-decimal currency.
        assert_eq!(operator_amount(c("GBP"), 1_000, None), 1_000);
        assert_eq!(operator_amount(c("KWD"), 1_000, None), 10_000);
        assert_eq!(operator_amount(c("BHD"), 1_000, None), 10_000);
        // 10 JPY is below Stripe's smallest charge in yen: raised to it.
        assert_eq!(operator_amount(c("JPY"), 1_000, None), 50);
        assert_eq!(operator_amount(c("JPY"), 100_000, None), 1_000);
        assert_eq!(operator_amount(c("JPY"), 1_050, None), 50);
        assert_eq!(operator_amount(c("JPY"), 10_050, None), 101);
        // Set for the currency itself, in its minor units.
        assert_eq!(operator_amount(c("JPY"), 1_000, Some(2_000)), 2_000);
        // An override the gateway could not charge is raised to one it can.
        assert_eq!(operator_amount(c("KWD"), 1_000, Some(5_005)), 5_010);
        assert_eq!(operator_amount(c("KWD"), 0, None), 0, "0 is off");
        assert_eq!(operator_amount(c("GBP"), i64::MAX, None), MAX_AMOUNT);
    }

    #[test]
    fn r14_the_verification_charge_is_at_least_the_gateways_minimum() {
        // 1.00 in a two-decimal currency.
        assert_eq!(operator_amount(c("GBP"), 100, None), 100);
        assert_eq!(operator_amount(c("HUF"), 100, None), 17_500);
        assert_eq!(operator_amount(c("CZK"), 100, None), 1_500);
        assert_eq!(operator_amount(c("NOK"), 100, None), 300);
        assert_eq!(operator_amount(c("JPY"), 100, None), 50);
        assert_eq!(operator_amount(c("KWD"), 100, None), 1_000);
        for r in TABLE {
            let amount = operator_amount(c(r.code), 100, None);
            assert!(c(r.code).gateway().accepts(amount), "{}", r.code);
        }
    }

    #[test]
    fn r1_major_units_by_exponent() {
        assert_eq!(c("GBP").major(10), Ok(1_000));
        assert_eq!(c("JPY").major(10), Ok(10));
        assert_eq!(c("KWD").major(10), Ok(10_000));
        assert_eq!(c("KWD").major(i64::MAX), Err(DomainError::AmountOverflow));
    }
}
