#!/usr/bin/env bash
# The monitoring files an operator loads, checked against the runbook and a real daemon:
#   - deploy/prometheus/alerts.yml: promtool check rules; promtool test rules on
#     alerts_test.yml, where every alert has a case that fires and one that must not; every
#     alert's runbook_url is a section of deploy/RUNBOOK.md, and every section of the runbook
#     that describes a condition is the target of some alert;
#   - deploy/grafana/carteiro.json: valid JSON; a "datasource" variable of type datasource
#     (Prometheus) that every panel, query and variable uses; every query is PromQL promtool
#     accepts; the panels the issue names are there (deliveries by channel and outcome, latency
#     percentiles, in flight against the cap, token buckets, breakers, spool depth, oldest due
#     age, dead letters by reason, RSS and jemalloc);
#   - every metric a rule or a panel uses is a family a running carteiro exports on /metrics
#     (after a small load with a dead letter), and every label a selector matches on is a
#     label of that family's samples. `up` is Prometheus's own.
# usage: alerts_check.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 src=$5
. "$(dirname "$0")/engine.sh"
rules=$src/deploy/prometheus/alerts.yml
dash=$src/deploy/grafana/carteiro.json
for tool in promtool python3 jq; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (tools/setup installs it)" >&2; exit 1; }
done

# ---- the rules --------------------------------------------------------------------------------
rc=0
promtool check rules "$rules" >"$T/check.out" 2>&1 || rc=$?
expect_eq "promtool check rules" 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/  promtool: /' "$T/check.out" >&2
rc=0
(cd "$(dirname "$rules")" && promtool test rules alerts_test.yml) >"$T/test.out" 2>&1 || rc=$?
expect_eq "promtool test rules" 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/  promtool: /' "$T/test.out" >&2

# Prints "ok: ..." and "FAIL: ..." lines, and the metrics used, one "metric NAME LABELS" a line.
python3 - "$rules" "$(dirname "$rules")/alerts_test.yml" "$src/deploy/RUNBOOK.md" "$dash" "$T" \
  >"$T/py.out" 2>&1 <<'PY' || echo "FAIL: the file checks crashed" >>"$T/py.out"
import json, re, sys
import yaml
rules_path, tests_path, runbook_path, dash_path, tmp = sys.argv[1:]
def check(cond, msg): print(("ok: " if cond else "FAIL: ") + msg)

rules = [r for g in yaml.safe_load(open(rules_path))["groups"] for r in g["rules"]]
alerts = {r["alert"]: r for r in rules if "alert" in r}
check(len(alerts) >= 9, f"{len(alerts)} alerts")
tests = yaml.safe_load(open(tests_path))["tests"]
fires, quiet = set(), set()
for t in tests:
    for a in t.get("alert_rule_test", []):
        (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
for name in alerts:
    check(name in fires, f"{name}: a unit test where it fires")
    check(name in quiet, f"{name}: a unit test where it does not fire")
check(not (fires | quiet) - set(alerts), "unit tests name only alerts that exist")

runbook = open(runbook_path).read().splitlines()
anchors = {}
for i, ln in enumerate(runbook):
    m = re.fullmatch(r'<a id="([a-z0-9-]+)"></a>', ln)
    if m:
        nxt = runbook[i + 1] if i + 1 < len(runbook) else ""
        check(nxt.startswith("## "), f"anchor {m.group(1)} sits on a section heading")
        anchors[m.group(1)] = nxt
headings = [ln for ln in runbook if ln.startswith("## ")]
conditions = [h for h in headings if h != "## First look"]
check(len(conditions) == len(anchors), f"every condition section of the runbook has an anchor ({len(anchors)} of {len(conditions)})")
targets = set()
for name, r in alerts.items():
    url = r.get("annotations", {}).get("runbook_url", "")
    m = re.fullmatch(r"file:///usr/share/doc/carteiro/RUNBOOK\.md#([a-z0-9-]+)", url)
    check(m is not None and m.group(1) in anchors, f"{name}: runbook_url {url} is a runbook section")
    check(r.get("labels", {}).get("severity") in ("critical", "warning"), f"{name}: severity critical or warning")
    check(all(k in r.get("annotations", {}) for k in ("summary", "description")), f"{name}: summary and description")
    if m:
        targets.add(m.group(1))
for a, h in anchors.items():
    check(a in targets, f"runbook section '{h[3:]}' has an alert")

# ---- the dashboard ----
d = json.load(open(dash_path))
var = [v for v in d["templating"]["list"] if v["name"] == "datasource"]
check(len(var) == 1 and var[0]["type"] == "datasource" and var[0]["query"] == "prometheus",
      "a 'datasource' variable of type datasource, Prometheus")
DS = {"type": "prometheus", "uid": "${datasource}"}
for v in d["templating"]["list"]:
    if v["type"] == "query":
        check(v.get("datasource") == DS, f"variable {v['name']} queries ${{datasource}}")
panels = [p for p in d["panels"] if p["type"] != "row"]
ids = [p["id"] for p in d["panels"]]
check(len(ids) == len(set(ids)), "panel ids unique")
exprs = []
for p in panels:
    check(p.get("datasource") == DS, f"panel '{p['title']}' uses ${{datasource}}")
    g = p["gridPos"]
    check(g["x"] >= 0 and g["x"] + g["w"] <= 24, f"panel '{p['title']}' fits the 24-column grid")
    check(len(p.get("targets", [])) > 0, f"panel '{p['title']}' has queries")
    for t in p.get("targets", []):
        check(t.get("datasource") == DS, f"panel '{p['title']}' query {t['refId']} uses ${{datasource}}")
        exprs.append((p["title"], t["expr"]))
for v in d["templating"]["list"]:
    if v["type"] == "query":
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*), *([a-z_]+)\)", q)
        check(m is not None, f"variable {v['name']}: label_values(...)")
        if m:
            exprs.append((f"variable {v['name']}", m.group(1)))
# Grafana's own variables, as Grafana would expand them, for promtool.
def expand(e):
    return (e.replace("$__rate_interval", "1m").replace("$__interval", "1m")
             .replace("$instance", ".*").replace("$provider", ".*"))
with open(tmp + "/dashboard_rules.yml", "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query:{i}", "expr": expand(e)} for i, (_, e) in enumerate(exprs)]}]}, f)
used_dash = set()
for _, e in exprs:
    used_dash |= set(re.findall(r"\b((?:carteiro|process)_[a-z0-9_]+)\b", re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)))
want = {"carteiro_jobs_delivered_total", "carteiro_provider_responses_total",
        "carteiro_provider_request_duration_seconds_bucket", "carteiro_provider_inflight_requests",
        "carteiro_provider_concurrency_limit", "carteiro_provider_rate_tokens",
        "carteiro_provider_breaker_state", "carteiro_spool_jobs", "carteiro_spool_oldest_due_age_seconds",
        "carteiro_dead_letters", "process_resident_memory_bytes", "carteiro_jemalloc_allocated_bytes",
        "carteiro_jemalloc_resident_bytes"}
for w in sorted(want):
    check(w in used_dash, f"the dashboard shows {w}")
check(any("histogram_quantile(0.99" in e for _, e in exprs), "the dashboard shows p99 latency")
check(any("sum by (channel, outcome)" in e for _, e in exprs), "deliveries by channel and outcome")
check(any("sum by (reason)" in e and "carteiro_dead_letters" in e for _, e in exprs), "dead letters by reason")

# ---- every metric and matched label, for the daemon's exposition ----
def selectors(e):
    e = re.sub(r"\s+", " ", e)
    for m in re.finditer(r"\b((?:carteiro|process)_[a-z0-9_]+|up)\b(\{([^}]*)\})?", re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)):
        labels = re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", m.group(3) or "")
        yield m.group(1), labels
for src_name, e in [(f"rule {n}", r["expr"]) for n, r in alerts.items()] + [(f"panel {t}", e) for t, e in exprs]:
    for name, labels in selectors(e):
        print("metric", name, ",".join(sorted(set(labels) - {"job", "instance"})) or "-", src_name.replace(" ", "_"))
PY
grep '^FAIL' "$T/py.out" >&2 || true
expect_eq "file checks: failures" 0 "$(grep -c '^FAIL' "$T/py.out" || true)"
expect_eq "file checks: ran" true "$([ "$(grep -c '^ok' "$T/py.out")" -ge 60 ] && echo true || echo false)"
grep -vE '^((ok|FAIL): |metric )' "$T/py.out" >&2 || true
rc=0
promtool check rules "$T/dashboard_rules.yml" >"$T/dash.out" 2>&1 || rc=$?
expect_eq "promtool accepts every dashboard query" 0 "$rc"
[ "$rc" = 0 ] || sed 's/^/  promtool: /' "$T/dash.out" >&2

# ---- a real daemon's /metrics -----------------------------------------------------------------
# 4 bank jobs (e-mail, then SMS); the first recipient refused on both: one dead letter.
"$gen" --count 4 --seed 91 --profile bank --format jsonl --out "$T/jobs.jsonl"
start_mock --reject "sendgrid=exact:$(jq -r .recipient.email "$T/jobs.jsonl" | sed -n 1p)" \
  --reject "twilio=exact:$(jq -r .recipient.phone "$T/jobs.jsonl" | sed -n 1p | tr -d +)"
printf 'alerts-token-synthetic\n' >"$T/http.token"
LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
export CARTEIRO_SPOOL=$T/spool.db
"$ct" enqueue --quiet "$T/jobs.jsonl"
start_ct
listening() { grep -qs 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; finish; exit 1; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
scrape() { curl -s --max-time 10 -o "$T/metrics.txt" -w '%{http_code}' "http://127.0.0.1:$port/metrics"; }
settled() { [ "$(scrape)" = 200 ] && grep -q '^carteiro_dead_letters{reason=' "$T/metrics.txt" &&
            grep -q '^carteiro_spool_jobs{state="delivered"} 3$' "$T/metrics.txt"; }
wait_until 30 settled || fail "the load did not settle within 30 s (3 delivered, 1 dead)"
stop_ct 20
with_jemalloc=false
case "$(ldd "$ct")" in *libjemalloc*) with_jemalloc=true ;; esac
# exported NAME: the family NAME belongs to (NAME itself, or a histogram's _bucket/_count/_sum)
# when the daemon exported it, else nothing.
exported() {
  local family=$1
  grep -q "^# TYPE $family " "$T/metrics.txt" || family=$(sed -E 's/_(bucket|count|sum)$//' <<<"$1")
  if grep -q "^# TYPE $family " "$T/metrics.txt"; then echo "$family"; fi
}
expect_eq "a name the daemon does not export is caught" "" "$(exported carteiro_no_such_metric_total)"
expect_eq "a histogram's buckets belong to it" carteiro_provider_request_duration_seconds \
  "$(exported carteiro_provider_request_duration_seconds_bucket)"
n=0
while read -r _ name labels where; do
  n=$((n + 1))
  case $name in
    up) echo "up: Prometheus's own, not exported by carteiro"; continue ;;
    carteiro_jemalloc_*) $with_jemalloc || { echo "skip $name: this build has no jemalloc (sanitizers)"; continue; } ;;
  esac
  expect_eq "$where uses $name: exported" true "$([ -n "$(exported "$name")" ] && echo true || echo false)"
  [ "$labels" = - ] && continue
  for l in ${labels//,/ }; do
    expect_eq "$where matches $name on label $l: the daemon's samples have it" true \
      "$(grep -qE "^$name\{([^}]*,)?$l=" "$T/metrics.txt" && echo true || echo false)"
  done
done < <(grep '^metric ' "$T/py.out" | sort -u)
expect_eq "metric uses checked" true "$([ "$n" -ge 40 ] && echo true || echo false)"
echo "$n uses of metrics in rules and panels found, each exported (jemalloc's only where linked)"
finish
