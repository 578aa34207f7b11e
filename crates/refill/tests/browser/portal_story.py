"""The customer page's story in a real browser (Chromium from Debian, driven by
Playwright): open the session link, add a card, top up through the checkout summary
to a receipt, turn on auto top-up (a refusal shown by its field, then success), usage
posted through the API crosses the threshold and the page shows the automatic top-up,
the CSV downloads, and another account's ids lead nowhere.

Run by crates/refill/tests/api/browser.rs, which starts refill and passes the facts
as JSON in argv[1]. When the story needs the engine to run (the automatic top-up), it
prints ENGINE and waits for a line on stdin. It prints MEASURE lines (page weight,
first contentful paint) and exits non-zero on the first failed expectation.
"""

import json
import os
import sys
import urllib.request

from playwright.sync_api import expect, sync_playwright

facts = json.loads(sys.argv[1])
BASE = facts["base"]
A = facts["account"]
B = facts["other_account"]
SHOTS = facts.get("screenshots")


def api(method, path, body=None):
    req = urllib.request.Request(
        BASE + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + facts["key"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def step(words):
    print("STEP " + words, flush=True)


def engine():
    print("ENGINE", flush=True)
    assert sys.stdin.readline().strip() == "ok", "the test did not run the engine"


def advance(hours):
    """Moves refill's simulated clock on."""
    print(f"ADVANCE {hours}", flush=True)
    assert sys.stdin.readline().strip() == "ok", "the test did not move the clock"


def shot(page, name):
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def nav(page, name):
    page.get_by_role("navigation", name="Billing").get_by_role("link", name=name).click()
    labelled(page)


def labelled(page):
    """Every field a person fills has a label a screen reader says."""
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
        .map(e => e.name)""")
    assert not unlabelled, f"fields without a label on {page.url}: {unlabelled}"


def csrf(page):
    return page.locator("input[name=csrf]").first.get_attribute("value")


def story(page):
    step("open the one-time link")
    page.goto(facts["session_url"])
    expect(page.get_by_role("heading", name="Billing overview")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("£0.00")

    step("add a card from the sandbox's test cards")
    nav(page, "Cards")
    page.get_by_label("Visa 4242: payments succeed").check()
    page.get_by_role("button", name="Add card").click()
    expect(page.get_by_role("status")).to_have_text("The card is saved.")
    expect(page.get_by_test_id("cards")).to_contain_text("visa ending 4242")

    step("by keyboard: the skip link first, then the amount, sent with Enter")
    nav(page, "Add balance")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.get_by_label("Amount to add (GBP)").focus()
    page.keyboard.type("fifty")
    page.keyboard.press("Enter")

    step("bad amounts are refused beside the field")
    expect(page.locator("#amount-error")).to_contain_text("as a number")
    page.get_by_label("Amount to add (GBP)").fill("50.123")
    page.get_by_role("button", name="Continue to summary").click()
    expect(page.locator("#amount-error")).to_contain_text("at most 2 decimals")
    page.get_by_label("Amount to add (GBP)").fill("5")
    page.get_by_role("button", name="Continue to summary").click()
    expect(page.locator("#amount-error")).to_contain_text("below the minimum top-up")

    step("the price estimator (R7)")
    page.get_by_label("How many (messages, minutes...)").fill("1000")
    page.get_by_label("Price of one (GBP)").fill("0.04")
    page.get_by_role("button", name="Estimate").click()
    expect(page.get_by_test_id("estimate")).to_contain_text("£40.00")

    step("top up through the checkout summary to a receipt")
    page.get_by_label("Amount to add (GBP)").fill("50")
    page.get_by_role("button", name="Continue to summary").click()
    summary = page.get_by_test_id("summary")
    expect(summary).to_contain_text("£50.00")
    expect(summary).to_contain_text("Tax (20%)")
    expect(summary).to_contain_text("£10.00")
    expect(summary).to_contain_text("£60.00")
    shot(page, "checkout-summary-desktop.png")
    page.get_by_role("button", name="Pay £60.00").click()
    expect(page.get_by_role("heading", name="Payment confirmation")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Payment received")
    expect(page.get_by_test_id("transaction-id")).to_contain_text("ch_")
    receipt_url = page.url
    shot(page, "receipt-desktop.png")
    nav(page, "Overview")
    expect(page.get_by_test_id("balance")).to_have_text("£50.00")

    step("auto top-up: a refusal by its field (R13), the terms (R14), then on")
    nav(page, "Auto top-up")
    page.get_by_label("On", exact=True).check()
    page.get_by_label("When the balance falls below").fill("60")
    page.get_by_label("Add this amount").fill("20")
    page.get_by_label("I accept the automatic top-up terms").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#threshold-error")).to_contain_text("must be below the current balance")
    expect(page.get_by_label("When the balance falls below")).to_have_attribute("aria-invalid", "true")
    shot(page, "auto-top-up-refusal-desktop.png")
    page.get_by_label("When the balance falls below").fill("10")
    page.get_by_label("I accept the automatic top-up terms").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#terms-error")).to_contain_text("terms")
    page.get_by_label("I accept the automatic top-up terms").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Your automatic top-up settings are saved.")
    expect(page.locator(".status-active").first).to_have_text("On.")

    step("usage through the API crosses the threshold; the engine tops up")
    # A week of usage, a day at a time: 50.00 down to 8.00, below the threshold of 10.00.
    for day in range(1, 8):
        advance(24)
        api("POST", f"/v1/accounts/{A}/debits", {"amount": 600, "kind": "usage", "reference": f"sms-day-{day}"})
    engine()
    nav(page, "Overview")
    expect(page.get_by_test_id("balance")).to_have_text("£28.00")
    expect(page.get_by_test_id("top-ups")).to_contain_text("automatic")
    expect(page.get_by_test_id("last-attempt")).to_contain_text("paid")
    forecast = page.locator("#forecast")
    expect(forecast).to_be_visible()
    shot(page, "overview-desktop.png")
    page.set_viewport_size({"width": 360, "height": 780})
    shot(page, "overview-360.png")
    nav(page, "Auto top-up")
    shot(page, "auto-top-up-360.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    step("the history and its CSV")
    nav(page, "History")
    expect(page.get_by_test_id("ledger")).to_contain_text("usage")
    with page.expect_download() as d:
        page.get_by_test_id("csv").click()
    text = open(d.value.path()).read()
    assert text.startswith("id,created,kind,amount,currency,balance_after,reference"), text[:80]
    assert ",usage,-6.00,GBP,8.00,sms-day-7" in text, text
    assert text.count(",usage,") == 7, text
    assert text.count(",top_up,") == 2, text

    step("notifications: the low-balance notice (R27), bad amount first")
    nav(page, "Notifications")
    page.get_by_label("Tell me when my balance falls below (GBP)").fill("15.5.0")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#low_balance-error")).to_contain_text("as a number")
    page.get_by_label("Tell me when my balance falls below (GBP)").fill("15")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Your notification settings are saved.")
    assert api("GET", f"/v1/accounts/{A}")["low_balance_threshold"] == 1500

    step("sub-accounts and renewals")
    nav(page, "Sub-accounts")
    expect(page.get_by_role("heading", name="Sub-accounts and renewals")).to_be_visible()
    expect(page.get_by_text("No scheduled monthly recharge.")).to_be_visible()

    step("another account's ids lead nowhere, in URLs and in forms")
    token = csrf(page)
    for path in [f"/portal/a/{B}", f"/portal/a/{B}/history.csv", f"/portal/a/{B}/cards",
                 f"/portal/a/{A}/receipts/{facts['other_top_up']}"]:
        r = page.request.get(BASE + path)
        assert r.status == 404, (path, r.status)
        assert facts["other_name"] not in r.text(), path
    posts = [
        (f"/portal/a/{B}/add-balance/pay", {"amount": "1000", "payment_method": facts["other_card"]}),
        (f"/portal/a/{A}/add-balance/pay", {"amount": "1000", "payment_method": facts["other_card"]}),
        (f"/portal/a/{A}/cards/{facts['other_card']}/remove", {}),
        (f"/portal/a/{A}/transfers", {"from": B, "to": A, "amount": "10"}),
        (f"/portal/a/{A}/refund-requests", {"top_up": facts["other_top_up"], "reason": "mine"}),
    ]
    for path, form in posts:
        r = page.request.post(BASE + path, form=dict(form, csrf=token))
        assert r.status in (400, 404), (path, r.status, r.text()[:200])
    step("a form without its CSRF token changes nothing")
    r = page.request.post(BASE + f"/portal/a/{A}/add-balance/pay", form={"amount": "2000"})
    assert r.status == 403, r.status
    assert "security token" in r.text()
    other = api("GET", f"/v1/accounts/{B}")
    assert other["balance"] == facts["other_balance"], other
    assert api("GET", f"/v1/accounts/{A}")["balance"] == 2800

    step("the link works once")
    page.goto(facts["session_url"])
    expect(page.get_by_role("alert")).to_contain_text("used already")
    page.goto(receipt_url)
    expect(page.get_by_test_id("receipt")).to_be_visible()


def measure(browser):
    """The overview's weight (HTML with its inline SVG, CSS, JS: bytes of the bodies as
    served) and its first contentful paint, opened by a fresh link in a fresh context
    (nothing cached), from the browser's own Resource Timing and Paint Timing."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    link = api("POST", "/v1/portal-sessions", {"account_id": A})["url"]
    page.goto(link, wait_until="load")
    expect(page.get_by_role("heading", name="Billing overview")).to_be_visible()
    m = page.evaluate("""() => new Promise(done => {
        const files = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
        const bytes = files.reduce((n, e) => n + e.decodedBodySize, 0);
        const dcl = performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd;
        new PerformanceObserver(list => {
            const e = list.getEntriesByName('first-contentful-paint')[0];
            if (e) done({bytes, files: files.length, fcp: e.startTime, dcl});
        }).observe({type: 'paint', buffered: true});
        setTimeout(() => done({bytes, files: files.length, fcp: -1, dcl}), 5000);
    })""")
    svg = page.locator("svg").evaluate_all("els => els.reduce((n, e) => n + e.outerHTML.length, 0)")
    print(f"MEASURE overview_bytes={m['bytes']} files={m['files']} inline_svg_bytes={svg} "
          f"first_contentful_paint_ms={m['fcp']:.1f} dom_content_loaded_ms={m['dcl']:.1f}", flush=True)
    ctx.close()


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    errors = []
    # Refusals answered with 4xx are the story's own doing; anything else (a script
    # error, a Content-Security-Policy refusal) is a failure.
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    story(page)
    assert not errors, f"the page logged errors (a CSP refusal?): {errors}"
    ctx.close()
    measure(browser)
    browser.close()
print("STORY PASSED", flush=True)
