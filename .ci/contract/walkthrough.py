"""The README's walk-through, through the client generated from openapi.json: create
an account, save a card, checkout, top up, debit one and a batch, turn auto top-up
on, then read the events and the entries. Every answer is parsed into the generated
types (a Problem, or an answer that does not fit its type, fails the walk).
Usage: walkthrough.py BASE_URL OPERATOR_KEY (with the client on PYTHONPATH)."""

import sys

from refill_client import AuthenticatedClient
from refill_client.api.default import (
    get_accounts_id,
    get_accounts_id_entries,
    get_events,
    post_accounts,
    post_accounts_id_checkout,
    post_accounts_id_debits,
    post_accounts_id_debits_batch,
    post_accounts_id_payment_methods,
    post_accounts_id_top_ups,
    put_accounts_id_auto_top_up,
)
from refill_client.models import (
    AccountView,
    AutoTopUpRequest,
    AutoTopUpView,
    BatchBody,
    CheckoutBody,
    CheckoutView,
    Currency,
    DebitBody,
    DebitResult,
    EntryViewList,
    EventList,
    NewAccount,
    NewPayer,
    NewPaymentMethod,
    NewTopUp,
    PaymentMethodView,
    TopUpSucceededEvent,
    TopUpView,
)

base, key = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)
checks = 0


def expect(answer, kind):
    global checks
    assert isinstance(answer, kind), f"expected {kind.__name__}, got {answer!r}"
    checks += 1
    return answer


def same(got, want, what):
    global checks
    assert got == want, f"{what}: {got!r}, expected {want!r}"
    checks += 1


payer = NewPayer(email="ops@acme.test", country="GB")
account = expect(post_accounts.sync(client=client, body=NewAccount(
    name="Acme", currency=Currency.GBP, payer=payer)), AccountView)
acct = account.id
same((account.balance, account.currency, account.status.value), (0, "GBP", "open"), "new account")

card = expect(post_accounts_id_payment_methods.sync(
    acct, client=client, body=NewPaymentMethod(token="pm_card_visa")), PaymentMethodView)
same((card.brand, card.last4, card.primary), ("visa", "4242", True), "saved card")

summary = expect(post_accounts_id_checkout.sync(
    acct, client=client, body=CheckoutBody(amount=5000)), CheckoutView)
same(summary.total, summary.amount + summary.tax + summary.charge_rounding, "checkout total")
same((summary.amount, summary.currency), (5000, "GBP"), "checkout of 50.00 GBP")

top_up = expect(post_accounts_id_top_ups.sync(
    acct, client=client, body=NewTopUp(amount=5000), idempotency_key="t1"), TopUpView)
same((top_up.status.value, top_up.amount, top_up.total), ("succeeded", 5000, summary.total), "top-up")
replay = expect(post_accounts_id_top_ups.sync(
    acct, client=client, body=NewTopUp(amount=5000), idempotency_key="t1"), TopUpView)
same(replay.id, top_up.id, "the replayed top-up")

debit = expect(post_accounts_id_debits.sync(
    acct, client=client, body=DebitBody(amount=35, reference="sms-1")), DebitResult)
same((debit.total, debit.balance_after), (35, 4965), "debit")
batch = expect(post_accounts_id_debits_batch.sync(
    acct, client=client, body=BatchBody(items=[DebitBody(amount=35), DebitBody(amount=35)])),
    DebitResult)
same((batch.total, batch.balance_after, len(batch.items)), (70, 4895, 2), "batch")

auto = expect(put_accounts_id_auto_top_up.sync(acct, client=client, body=AutoTopUpRequest(
    enabled=True, threshold=1000, amount=2000, terms_version="2026-01")), AutoTopUpView)
same((auto.state.value, auto.threshold, auto.amount), ("active", 1000, 2000), "auto top-up")

events = expect(get_events.sync(client=client, account_id=acct), EventList)
succeeded = [e for e in events.data if isinstance(e, TopUpSucceededEvent)]
same(len(succeeded), 1, "top_up.succeeded events")
same((succeeded[0].data.amount, succeeded[0].data.top_up_id), (5000, top_up.id), "its payload")

entries = expect(get_accounts_id_entries.sync(acct, client=client), EntryViewList)
kinds = [e.kind.value for e in entries.data]
same(kinds[0], "usage", "the newest entry")
assert "top_up" in kinds, kinds
same(entries.data[0].balance_after, 4895, "balance after the last entry")
final = expect(get_accounts_id.sync(acct, client=client), AccountView)
same(final.balance, 4895, "balance")

print(f"walkthrough: {checks} passed, 0 failed")
