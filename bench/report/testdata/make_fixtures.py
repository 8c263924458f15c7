#!/usr/bin/env python3
"""Writes the report fixtures: a small month run (6 cycles, 300 points, cycle 3 misses its
window under a burst of 429s), a sweep, a limit run, and a month document with one field
missing. Deterministic (fixed seed), so the committed files can be regenerated exactly:

    python3 bench/report/testdata/make_fixtures.py bench/report/testdata
"""
import copy
import json
import random
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "."
rnd = random.Random(6)

head = {
    "schema": "carteiro-bench/1",
    "created": "2026-11-23T21:30:00Z",
    "commit": "c6e86df",
    "host": {"cpus": 2, "mem_bytes": 25769803776, "kernel": "6.1.0-27-amd64"},
}
profile = {
    "latency_ms": {"p50": 150, "p99": 800},
    "errors": {"transient": 0.02, "rate_limited": 0.01, "permanent": 0.005},
    "channels": ["whatsapp", "email"],
    "fallback": "sms",
    "pdf": True,
    "rates": [{"provider": "whatsapp", "accounts": 1, "rate_per_s": 100, "burst": 20},
              {"provider": "sms", "accounts": 1, "rate_per_s": 50, "burst": 10},
              {"provider": "email", "accounts": 1, "rate_per_s": 200, "burst": 50}],
    "knobs": {"workers": 2, "max_inflight": 2000, "provider_concurrency": 500, "connections": 4},
}
limit = {"tool": "h2load", "requests_per_s": 61000, "requests": 200000,
         "ours_per_s": 9800, "fraction": 0.161}

# Cycles: 4,000 invoices each, every 100 s, a 72 s window (2 hours scaled by 0.01).
dead = [1, 2, 1, 4, 1, 1]
retries = [78, 81, 85, 124, 70, 74]
drain = [41.7, 42.3, 41.9, 79.6, 41.2, 42.0]
lat = [(900, 2100, 5200, 8000), (950, 2200, 5400, 8300), (920, 2150, 5300, 7900),
       (1400, 4800, 11200, 19600), (880, 2050, 5100, 7700), (910, 2120, 5250, 8100)]
cycles = []
for i in range(6):
    start = 100.0 * i
    delivered = 4000 - dead[i]
    cycles.append({
        "index": i, "invoices": 4000, "start_s": start, "window_s": 72.0,
        "deadline_s": start + 72.0, "enqueued_s": round(start + 3.1 + 0.1 * i, 1),
        "drained_s": round(start + drain[i], 1), "drain_s": drain[i],
        "window_met": drain[i] <= 72.0, "delivered": delivered, "dead": dead[i],
        "retries": retries[i],
        "latency_ms": dict(zip(("p50", "p90", "p99", "max"), lat[i])),
        "deliveries_per_s": round(delivered / drain[i], 1)})

# Series: one point every 2 s for 600 s.
n, dt = 300, 2.0
t = [round(k * dt, 1) for k in range(n)]
wa, em, sms, infl, rps, dtot = [], [], [], [], [], []
dead_so_far = 0
for k in range(n):
    now = t[k]
    c = cycles[min(int(now // 100), 5)]
    active = c["start_s"] + 1.0 <= now <= c["drained_s"]
    throttled = c["index"] == 3 and 20.0 <= now - c["start_s"] <= 50.0
    if active:
        base = 96.0 if not throttled else 38.0
        wa.append(round(base + rnd.uniform(-6, 4), 1))
        em.append(round(base + rnd.uniform(-5, 5), 1))
        sms.append(round(rnd.choice([0, 0, 0.5, 1, 1.5, 2]), 1))
        infl.append(rnd.randint(1850, 2000) if not throttled else rnd.randint(1960, 2000))
        rps.append(round(rnd.uniform(0.5, 3.0) if not throttled else rnd.uniform(4, 9), 1))
    else:
        wa.append(0.0); em.append(0.0); sms.append(0.0); infl.append(0); rps.append(0.0)
    # Dead letters land spread over each drain.
    for cc in cycles:
        d0, d1 = cc["start_s"] + 5, cc["drained_s"]
        for j in range(cc["dead"]):
            at = d0 + (d1 - d0) * (j + 1) / (cc["dead"] + 1)
            if now - dt < at <= now:
                dead_so_far += 1
    dtot.append(dead_so_far)

month = dict(head, kind="month", command="carteiro-bench month --scale 0.01 --out month.json",
             scale=0.01, full_month_invoices=2400000, profile=profile, cycles=cycles,
             series={"interval_s": dt, "t_s": t,
                     "deliveries_per_s": {"whatsapp": wa, "email": em, "sms": sms},
                     "inflight": infl, "retries_per_s": rps, "dead_total": dtot},
             totals={"enqueued": 24000, "delivered": 23990, "dead": 10, "lost": 0,
                     "mock_unique": 23990, "retries": 512, "wall_s": 600.0,
                     "deliveries_per_s": 40.0, "cpu_us_per_delivery": 410.0,
                     "peak_rss_bytes": 98000000},
             limit=limit,
             capacity={"sustained_per_s": 96, "fits": True, "needed_percent": 58.0,
                       "bottleneck": "provider rate limit (whatsapp)",
                       "sentence": "At this profile one instance sustains 96 deliveries/s; "
                                   "a month of 2400000 invoices in 6 cycles of 2 hours needs "
                                   "58 % of one instance."})

points = []
for w in (1, 2):
    for mi in (500, 2000):
        for pc in (250, 500):
            for conn in (2, 4):
                dps = 3100 * (1.0 + 0.85 * (w - 1)) * (1.0 if mi == 2000 else 0.72) \
                    * (1.0 if pc == 500 else 0.9) * (1.0 if conn == 4 else 0.94)
                dps = round(dps * rnd.uniform(0.97, 1.03))
                points.append({"workers": w, "max_inflight": mi, "provider_concurrency": pc,
                               "connections": conn, "deliveries_per_s": dps,
                               "cpu_us_per_delivery": round(2e6 * w / dps / 2.0 * 0.72 + 60),
                               "p99_ms": round(100 + 2.2e5 / dps + (mi / 20)),
                               "peak_rss_bytes": 60000000 + mi * 12000 + w * 4000000})
best = max(points, key=lambda p: p["deliveries_per_s"])
sweep = dict(head, kind="sweep", command="carteiro-bench sweep --out sweep.json",
             profile=dict(profile, latency_ms={"fixed": 100},
                          errors={"transient": 0.0, "rate_limited": 0.0, "permanent": 0.0},
                          rates=[{"provider": "whatsapp", "accounts": 5, "rate_per_s": 100000,
                                  "burst": 10000}]),
             limit=limit,
             sweep={"latency_ms": {"fixed": 100}, "jobs_per_point": 20000, "points": points,
                    "best": {k: best[k] for k in ("workers", "max_inflight",
                                                  "provider_concurrency", "connections",
                                                  "deliveries_per_s")}},
             capacity={"sustained_per_s": best["deliveries_per_s"], "fits": True,
                       "needed_percent": round(100 * 55.6 / best["deliveries_per_s"], 2),
                       "bottleneck": "CPU",
                       "sentence": "At the best setting one instance sustains %d deliveries/s "
                                   "with a fixed 100 ms provider latency." %
                                   best["deliveries_per_s"]})

lim = dict(head, kind="limit", command="carteiro-bench limit --out limit.json", limit=limit)

bad = copy.deepcopy(month)
del bad["cycles"][2]["drain_s"]

for name, doc in (("month-small", month), ("sweep-small", sweep), ("limit-small", lim),
                  ("bad-missing-field", bad)):
    with open("%s/%s.json" % (out, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
