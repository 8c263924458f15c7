"""Builds invoice jobs the way a billing platform written in Python would: with the classes
protoc generates from proto/carteiro/v1/job.proto, every field set through them, and valid
synthetic personal data computed here (CPF check digits, a Brazilian mobile number, an address
under example.invalid, a bank-slip line with its due-date factor and check digits).

usage: interop_enqueue.py PY_OUT_DIR OUT_DIR COUNT

PY_OUT_DIR holds the generated carteiro/v1/job_pb2.py. Writes to OUT_DIR:
  one.pb       job 1 alone, as one serialized Job (what any protobuf client posts)
  batch.pbs    the first half of jobs 2..COUNT, each preceded by its length as a varint
               (protobuf's writeDelimitedTo framing)
  batch2.pbs   the other half, framed the same way (the test posts it zstd-compressed)
  expected.jsonl  one line per job: what GET /v1/jobs/{id} must show (personal data masked
               as carteiro masks it) and the clear values, which must show nowhere
"""
import datetime
import json
import os
import random
import sys

sys.path.insert(0, sys.argv[1])
from carteiro.v1 import job_pb2  # noqa: E402  (generated at test time)


def cpf(rng):
    d = [rng.randrange(10) for _ in range(9)]
    if len(set(d)) == 1:
        d[0] = (d[0] + 1) % 10  # all-equal CPFs are refused
    for n in (9, 10):
        s = sum(d[i] * (n + 1 - i) for i in range(n))
        r = s * 10 % 11
        d.append(0 if r == 10 else r)
    return "".join(map(str, d))


def mobile(rng):
    ddd = rng.choice(["11", "21", "31", "41", "51", "61", "71", "81", "91"])
    return "+55" + ddd + "9" + "".join(str(rng.randrange(10)) for _ in range(8))


def mod10(digits):
    s = 0
    for i, c in enumerate(reversed(digits)):
        p = int(c) * (2 if i % 2 == 0 else 1)
        s += p // 10 + p % 10
    return str((10 - s % 10) % 10)


def mod11(digits):
    s = sum(int(c) * (2 + i % 8) for i, c in enumerate(reversed(digits)))
    dv = 11 - s % 11
    return "1" if dv in (0, 10, 11) else str(dv)


def boleto_line(rng, due, amount_cents):
    """The 47-digit typed line of a bank slip (FEBRABAN): the due-date factor counts days
    from 1000 on 2025-02-22 (the restart of the factor)."""
    factor = (due - datetime.date(2025, 2, 22)).days + 1000
    assert 1000 <= factor <= 9999
    bank, currency = "001", "9"
    free = "".join(str(rng.randrange(10)) for _ in range(25))
    tail = "%04d%010d" % (factor, amount_cents)
    code = bank + currency + tail + free  # the 44-digit barcode without its check digit
    general = mod11(code)
    f1 = bank + currency + free[0:5]
    f2 = free[5:15]
    f3 = free[15:25]
    return f1 + mod10(f1) + f2 + mod10(f2) + f3 + mod10(f3) + general + tail


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def build(i, rng, now_ms, today):
    job = job_pb2.Job()
    job.id = "py-%08d" % i
    job.tenant = "banco-x"
    job.kind = job_pb2.JOB_KIND_INVOICE
    r = job.recipient
    r.name = "Cliente Python %d" % i
    r.phone = mobile(rng)
    r.email = "cliente.python.%d@example.invalid" % i
    r.cpf = cpf(rng)
    r.card_last4 = "%04d" % rng.randrange(10000)
    r.locale = "pt-BR"
    r.time_zone = "America/Sao_Paulo"
    job.deliveries.add().channels.append(job_pb2.CHANNEL_EMAIL)
    job.deliveries.add().channels.append(job_pb2.CHANNEL_SMS)
    job.not_after_ms = now_ms + 2 * 86400 * 1000
    job.priority = 3
    job.created_at_ms = now_ms
    inv = job.invoice
    inv.number = "PY-%08d" % i
    inv.amount_cents = 1000 + rng.randrange(900000)
    inv.currency = "BRL"
    due = today + datetime.timedelta(days=10 + i)
    inv.due_date = due.isoformat()
    inv.barcode_line = boleto_line(rng, due, inv.amount_cents)
    return job


def expected(job):
    r = job.recipient
    return {
        "id": job.id,
        "masked": {
            "name": r.name[0] + "***",
            "cpf": "***.***.***-" + r.cpf[9:],
            "phone": "+55 %s %s****-%s" % (r.phone[3:5], r.phone[5], r.phone[10:]),
            "email": r.email[0] + "***" + r.email[r.email.index("@"):],
        },
        "fields": {
            "tenant": job.tenant,
            "kind": "invoice",
            "channels": "email;sms",
            "not_after_ms": job.not_after_ms,
            "priority": job.priority,
            "number": job.invoice.number,
            "amount_cents": job.invoice.amount_cents,
            "currency": job.invoice.currency,
            "due_date": job.invoice.due_date,
            "barcode_line": job.invoice.barcode_line,
            "locale": r.locale,
            "time_zone": r.time_zone,
        },
        "clear": [r.cpf, r.phone, r.phone[1:], r.email],
    }


def main():
    out, count = sys.argv[2], int(sys.argv[3])
    rng = random.Random(5)
    now_ms = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    today = datetime.date.today()
    jobs = [build(i, rng, now_ms, today) for i in range(1, count + 1)]
    with open(os.path.join(out, "one.pb"), "wb") as f:
        f.write(jobs[0].SerializeToString())
    half = 1 + (count - 1) // 2
    for name, part in (("batch.pbs", jobs[1:half]), ("batch2.pbs", jobs[half:])):
        with open(os.path.join(out, name), "wb") as f:
            for job in part:
                data = job.SerializeToString()
                f.write(varint(len(data)) + data)
    with open(os.path.join(out, "expected.jsonl"), "w") as f:
        for job in jobs:
            f.write(json.dumps(expected(job)) + "\n")


if __name__ == "__main__":
    main()
