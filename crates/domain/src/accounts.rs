//! R2, R4, R5: accounts (one balance in one currency; main accounts and their
//! sub-accounts; open, then closed for good), payers and payment methods.

use crate::money::MAX_AMOUNT;
use crate::top_up::{Origin, TopUpStatus};
use crate::{Currency, DomainError};

/// A new account as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub currency: Currency,
    pub credit_limit: Option<i64>,
    pub payer: Payer<'a>,
}

/// R5: a payer's details (the billing contact), as given: at creation, or the fields
/// a change sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Payer<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub country: Option<&'a str>,
}

/// The main account a new sub-account would belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent<'a> {
    /// The parent is itself a sub-account.
    pub is_sub_account: bool,
    pub currency: &'a str,
}

/// A name of something the customer holds (an account, a resource): 1 to 200
/// characters, not only spaces.
pub fn check_name(name: &str) -> Result<(), DomainError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(DomainError::InvalidName);
    }
    Ok(())
}

/// R2, R4, R5, R6, R9: may this account be created (under `parent`)? A sub-account
/// belongs to a main account (never to a sub-account) and uses its currency; the
/// credit limit is 0 or negative; the payer's details are well-formed.
pub fn check_new_account(a: &NewAccount, parent: Option<Parent>) -> Result<(), DomainError> {
    check_name(a.name)?;
    if let Some(p) = parent {
        if p.is_sub_account {
            return Err(DomainError::ParentIsSubAccount);
        }
        if p.currency != a.currency.code() {
            return Err(DomainError::SubAccountCurrency {
                main: p.currency.to_string(),
            });
        }
    }
    if a.credit_limit
        .is_some_and(|l| !(-MAX_AMOUNT..=0).contains(&l))
    {
        return Err(DomainError::InvalidCreditLimit);
    }
    check_payer(&a.payer)
}

/// R5, R9, R26: the payer's details given are well-formed: the country an ISO 3166
/// alpha-2 code (it sets the tax, R9), the email an address, the phone an E.164
/// number (SMS notices go to it, R26). The same at creation and on a change.
pub fn check_payer(p: &Payer) -> Result<(), DomainError> {
    if let Some(c) = p.country
        && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()))
    {
        return Err(DomainError::InvalidCountry);
    }
    if p.email.is_some_and(|e| !e.contains('@')) {
        return Err(DomainError::InvalidEmail);
    }
    if p.phone.is_some_and(|n| !is_e164(n)) {
        return Err(DomainError::InvalidPhone);
    }
    Ok(())
}

/// "+" and 7 to 15 digits, the first not 0.
fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// R4: an account is open until it is closed, and stays closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Open,
    Closed,
}

impl AccountStatus {
    /// An account's status from when it was closed, if it was.
    pub fn of(closed_at: Option<i64>) -> AccountStatus {
        match closed_at {
            Some(_) => AccountStatus::Closed,
            None => AccountStatus::Open,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Open => "open",
            AccountStatus::Closed => "closed",
        }
    }
}

/// R4: a closed account takes no debit, top-up, transfer or change of settings; its
/// ledger and its history stay readable.
pub fn check_open(status: AccountStatus) -> Result<(), DomainError> {
    match status {
        AccountStatus::Open => Ok(()),
        AccountStatus::Closed => Err(DomainError::AccountClosed),
    }
}

/// What closing an account waits for: money or work still pending on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing<'a> {
    pub balance: i64,
    /// A top-up not finished that closing does not cancel (`closing_cancels`).
    pub top_up_in_progress: Option<&'a str>,
    /// Sub-accounts not closed.
    pub open_sub_accounts: i64,
}

/// R4: may the account be closed? Not while money may still move on it: a top-up
/// being charged, settled or confirmed; a balance other than zero (credit to move
/// out, or a debt to repay); sub-accounts still open (each is closed first).
pub fn check_closable(c: &Closing) -> Result<(), DomainError> {
    if let Some(id) = c.top_up_in_progress {
        return Err(DomainError::TopUpInProgress {
            top_up_id: id.to_string(),
        });
    }
    if c.balance != 0 {
        return Err(DomainError::BalanceNotZero { balance: c.balance });
    }
    if c.open_sub_accounts > 0 {
        return Err(DomainError::SubAccountsOpen {
            count: c.open_sub_accounts,
        });
    }
    Ok(())
}

/// R4, R23: closing turns auto top-up off, and turning it off cancels what it has
/// queued (nothing was charged for it yet); any other unfinished top-up (being
/// charged, pending settlement, waiting for 3-D Secure, a queued manual retry or
/// scheduled recharge) may still move money, and keeps the account open.
pub fn closing_cancels(status: TopUpStatus, origin: Origin) -> bool {
    status == TopUpStatus::Queued && origin == Origin::Auto
}

/// An account as the family rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub id: &'a str,
    pub parent_id: Option<&'a str>,
}

/// R4: a transfer moves credit between a main account and its own sub-account,
/// either way.
pub fn check_related(from: Member, to: Member) -> Result<(), DomainError> {
    let related = from.parent_id == Some(to.id) || to.parent_id == Some(from.id);
    if !related {
        return Err(DomainError::AccountsNotRelated);
    }
    Ok(())
}

/// R2: an amount named with a currency must be in the account's one currency. An
/// unknown code is refused as such; a known other one as a mismatch.
pub fn check_currency(account_currency: &str, given: Option<&str>) -> Result<(), DomainError> {
    match given {
        Some(c) if c != account_currency => Err(DomainError::CurrencyMismatch {
            expected: account_currency.to_string(),
            got: Currency::parse(c)?.code().to_string(),
        }),
        _ => Ok(()),
    }
}

/// R5: the account has a payer (billing contact) to bill automatic payments to.
pub fn has_payer(payer_email: Option<&str>) -> bool {
    payer_email.is_some_and(|e| !e.is_empty())
}

/// R5: a payment method as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Card {
    /// Saved for later (else used once).
    pub saved: bool,
    pub primary: bool,
    pub removed: bool,
}

impl Card {
    /// A removed card is never charged again, by any path.
    pub fn usable(self) -> bool {
        !self.removed
    }

    /// Automatic payments (auto top-up, schedules) need a saved, not removed card.
    pub fn usable_automatically(self) -> bool {
        self.saved && !self.removed
    }
}

/// R5: whether a card being added becomes the primary: a saved one, when it is the
/// account's first or the customer asks for it.
pub fn becomes_primary(saved: bool, first: bool, asked: bool) -> bool {
    saved && (first || asked)
}

/// R5: the card to charge when none is named: the primary one, which must exist.
pub fn require_card<T>(primary: Option<T>) -> Result<T, DomainError> {
    primary.ok_or(DomainError::NoPaymentMethod)
}

/// R5, R30: a card named for a scheduled recharge must be saved.
pub fn check_saved(card: Card) -> Result<(), DomainError> {
    if !card.saved {
        return Err(DomainError::PaymentMethodNotSaved);
    }
    Ok(())
}

/// R5: automatic payments need a payer.
pub fn require_payer(payer_email: Option<&str>) -> Result<(), DomainError> {
    if !has_payer(payer_email) {
        return Err(DomainError::PayerMissing);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbp() -> Currency {
        Currency::parse("GBP").unwrap()
    }

    fn new(name: &str) -> NewAccount<'_> {
        NewAccount {
            name,
            currency: gbp(),
            credit_limit: None,
            payer: Payer {
                name: Some("Ada"),
                email: Some("ada@example.test"),
                phone: Some("+447700900123"),
                country: Some("GB"),
            },
        }
    }

    fn code(r: Result<(), DomainError>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn r4_names_and_parents() {
        assert_eq!(check_new_account(&new("acme"), None), Ok(()));
        assert_eq!(code(check_new_account(&new("  "), None)), "invalid_name");
        assert_eq!(code(check_name(&"x".repeat(201))), "invalid_name");
        assert_eq!(check_name(&"x".repeat(200)), Ok(()));
        let sub = Parent {
            is_sub_account: true,
            currency: "GBP",
        };
        let e = check_new_account(&new("a"), Some(sub)).unwrap_err();
        assert_eq!((e.code(), e.rule()), ("parent_is_sub_account", Some("R4")));
    }

    #[test]
    fn r2_a_sub_account_uses_its_main_accounts_currency() {
        let eur = Parent {
            is_sub_account: false,
            currency: "EUR",
        };
        let e = check_new_account(&new("a"), Some(eur)).unwrap_err();
        assert_eq!((e.code(), e.rule()), ("currency_mismatch", Some("R2")));
        assert_eq!(
            e.to_string(),
            "a sub-account uses its main account's currency EUR"
        );
        let gbp_main = Parent {
            currency: "GBP",
            ..eur
        };
        assert_eq!(check_new_account(&new("a"), Some(gbp_main)), Ok(()));
        assert_eq!(check_currency("GBP", None), Ok(()));
        assert_eq!(check_currency("GBP", Some("GBP")), Ok(()));
        assert_eq!(
            code(check_currency("GBP", Some("EUR"))),
            "currency_mismatch"
        );
        assert_eq!(code(check_currency("GBP", Some("XXX"))), "unknown_currency");
    }

    #[test]
    fn r6_r9_r5_credit_limits_countries_and_emails() {
        let limit = |l| NewAccount {
            credit_limit: Some(l),
            ..new("a")
        };
        assert_eq!(check_new_account(&limit(0), None), Ok(()));
        assert_eq!(check_new_account(&limit(-MAX_AMOUNT), None), Ok(()));
        assert_eq!(
            code(check_new_account(&limit(1), None)),
            "invalid_credit_limit"
        );
        assert_eq!(
            code(check_new_account(&limit(-MAX_AMOUNT - 1), None)),
            "invalid_credit_limit"
        );
        let payer = |p: Payer<'static>| NewAccount {
            payer: p,
            ..new("a")
        };
        for bad in ["gb", "GBR", "G1"] {
            let a = payer(Payer {
                country: Some(bad),
                ..Payer::default()
            });
            assert_eq!(code(check_new_account(&a, None)), "invalid_country");
        }
        let a = payer(Payer {
            email: Some("nobody"),
            ..Payer::default()
        });
        assert_eq!(code(check_new_account(&a, None)), "invalid_email");
        assert_eq!(check_new_account(&payer(Payer::default()), None), Ok(()));
    }

    #[test]
    fn r5_r26_a_payers_phone_is_e164() {
        let phone = |n| Payer {
            phone: Some(n),
            ..Payer::default()
        };
        for good in ["+447700900123", "+1555010", "+123456789012345"] {
            assert_eq!(check_payer(&phone(good)), Ok(()), "{good}");
        }
        for bad in [
            "",
            "447700900123",
            "+0447700900",
            "+44 7700 900123",
            "+123456",
            "+1234567890123456",
        ] {
            let e = check_payer(&phone(bad)).unwrap_err();
            assert_eq!(
                (e.code(), e.rule()),
                ("invalid_phone", Some("R26")),
                "{bad}"
            );
        }
    }

    #[test]
    fn r4_a_closed_account_stays_closed_and_refuses_everything() {
        assert_eq!(AccountStatus::of(None), AccountStatus::Open);
        assert_eq!(AccountStatus::of(Some(1)).as_str(), "closed");
        assert_eq!(check_open(AccountStatus::Open), Ok(()));
        let e = check_open(AccountStatus::Closed).unwrap_err();
        assert_eq!((e.code(), e.rule()), ("account_closed", Some("R4")));
    }

    #[test]
    fn r4_closing_waits_for_money_and_work_in_progress() {
        let idle = Closing {
            balance: 0,
            top_up_in_progress: None,
            open_sub_accounts: 0,
        };
        assert_eq!(check_closable(&idle), Ok(()));
        let cases = [
            (
                Closing {
                    top_up_in_progress: Some("top_1"),
                    balance: 5,
                    ..idle
                },
                "top_up_in_progress",
            ),
            (
                Closing {
                    balance: 5,
                    open_sub_accounts: 1,
                    ..idle
                },
                "balance_not_zero",
            ),
            (
                Closing {
                    balance: -5,
                    ..idle
                },
                "balance_not_zero",
            ),
            (
                Closing {
                    open_sub_accounts: 2,
                    ..idle
                },
                "sub_accounts_open",
            ),
        ];
        for (c, expected) in cases {
            let e = check_closable(&c).unwrap_err();
            assert_eq!((e.code(), e.rule()), (expected, Some("R4")));
        }
        assert!(closing_cancels(TopUpStatus::Queued, Origin::Auto));
        for (status, origin) in [
            (TopUpStatus::Queued, Origin::Manual),
            (TopUpStatus::Queued, Origin::Scheduled),
            (TopUpStatus::Charging, Origin::Auto),
            (TopUpStatus::Pending, Origin::Auto),
            (TopUpStatus::RequiresAction, Origin::Auto),
        ] {
            assert!(!closing_cancels(status, origin), "{status} {origin:?}");
        }
    }

    #[test]
    fn r4_transfers_stay_in_the_family() {
        let main = Member {
            id: "m",
            parent_id: None,
        };
        let sub = Member {
            id: "s",
            parent_id: Some("m"),
        };
        let other = Member {
            id: "o",
            parent_id: Some("x"),
        };
        assert_eq!(check_related(main, sub), Ok(()));
        assert_eq!(check_related(sub, main), Ok(()));
        assert_eq!(code(check_related(main, other)), "accounts_not_related");
        assert_eq!(code(check_related(main, main)), "accounts_not_related");
    }

    #[test]
    fn r5_cards_payers_and_the_primary() {
        let saved = Card {
            saved: true,
            primary: true,
            removed: false,
        };
        let once = Card {
            saved: false,
            ..saved
        };
        let removed = Card {
            removed: true,
            ..saved
        };
        assert!(saved.usable_automatically() && saved.usable());
        assert!(!once.usable_automatically() && once.usable());
        assert!(!removed.usable() && !removed.usable_automatically());
        assert!(becomes_primary(true, true, false));
        assert!(becomes_primary(true, false, true));
        assert!(!becomes_primary(true, false, false));
        assert!(
            !becomes_primary(false, true, true),
            "a card used once never is"
        );
        assert_eq!(require_card(Some(1)), Ok(1));
        let e = require_card::<u8>(None).unwrap_err();
        assert_eq!(
            (e.code(), e.rule()),
            ("payment_method_required", Some("R5"))
        );
        assert_eq!(code(check_saved(once)), "payment_method_not_saved");
        assert!(has_payer(Some("a@b")) && !has_payer(Some("")) && !has_payer(None));
        assert_eq!(code(require_payer(None)), "payer_missing");
    }
}
