"""Seeds a running refill with one object of each kind, then writes the schemathesis
config that points every path parameter at them (so the fuzzer reaches real objects,
not only 404s). Usage: seed.py BASE_URL KEY CONFIG_OUT"""

import json
import sys
import urllib.error
import urllib.request

BASE, KEY, OUT = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None, key=KEY):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seed: {method} {path}: {e.code} {e.read()[:300]!r}")


payer = {"email": "ops@acme.test", "country": "GB", "phone": "+447700900123"}
acct = call("POST", "/v1/accounts", {"name": "Acme", "currency": "GBP", "payer": payer})["id"]
sub = call("POST", "/v1/accounts", {"name": "Acme sub", "currency": "GBP", "parent_id": acct})["id"]
pm = call("POST", f"/v1/accounts/{acct}/payment-methods", {"token": "pm_card_visa"})["id"]
top = call("POST", f"/v1/accounts/{acct}/top-ups", {"amount": 5000})["id"]
call("POST", f"/v1/accounts/{acct}/debits", {"amount": 35, "reference": "sms-1"})
call("POST", f"/v1/accounts/{acct}/debits/batch", {"items": [{"amount": 35}, {"amount": 35}]})
call("PUT", f"/v1/accounts/{acct}/auto-top-up",
     {"enabled": True, "threshold": 1000, "amount": 2000, "terms_version": "2026-01"})
call("PUT", f"/v1/accounts/{acct}/scheduled-recharge", {"amount": 1000, "day_of_month": 5})
res = call("POST", f"/v1/accounts/{acct}/resources", {"name": "+44 7700 900123", "fee": 100})["id"]
rfd = call("POST", f"/v1/top-ups/{top}/refunds", {"amount": 100, "reason": "not needed"})["id"]
we = call("POST", "/v1/webhook-endpoints",
          {"url": "http://127.0.0.1:9/hooks", "event_types": ["*"], "account_id": acct})["id"]
key = call("POST", f"/v1/accounts/{sub}/keys", {"name": "fuzzed"})["id"]
evt = call("GET", f"/v1/events?account_id={acct}")["data"][0]["id"]

ids = {
    r"^/v1/accounts/": {"path.id": acct, "path.pm": pm, "path.resource_id": res},
    r"^/v1/top-ups/": {"path.id": top},
    r"^/v1/refunds/": {"path.id": rfd},
    r"^/v1/events/": {"path.id": evt},
    r"^/v1/keys/": {"path.id": key},
    r"^/v1/webhook-endpoints/": {"path.id": we},
}
with open(OUT, "w") as f:
    for regex, params in ids.items():
        f.write(f"[[operations]]\ninclude-path-regex = {json.dumps(regex)}\n")
        f.write("parameters = { " + ", ".join(f'"{k}" = "{v}"' for k, v in params.items()) + " }\n\n")
print(f"seed: account {acct} (sub {sub}), card {pm}, top-up {top}, refund {rfd}, event {evt}")
