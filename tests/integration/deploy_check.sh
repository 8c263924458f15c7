#!/usr/bin/env bash
# The deployment files agree with the program and with each other:
#   (a) systemd accepts deploy/carteiro.service (pointed at the built binary) without a warning;
#   (b) the Kubernetes manifests parse, probe /healthz and /readyz on the port carteiro.ini
#       listens on, mount the spool's directory from a volumeClaimTemplate and the secrets the
#       configuration names, give SIGTERM longer than shutdown_grace, and scrape /metrics;
#       promtool accepts the plain scrape config and `carteiro config check` the ConfigMap's;
#   (c) the Dockerfile builds the Debian package (its build stage installs debian/control's
#       Build-Depends) and its runtime stage installs that package, so image and package cannot
#       drift (the package's Depends, from dpkg-shlibdeps, bring the libraries).
# usage: deploy_check.sh CARTEIRO SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$(readlink -f "$1") src=$2
deploy=$src/deploy
for tool in systemd-analyze promtool python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found" >&2; exit 1; }
done

# ---- (a) systemd ---------------------------------------------------------------------------
sed "s#/usr/bin/carteiro#$ct#g" "$deploy/carteiro.service" >"$T/carteiro.service"
expect_eq "unit runs the built binary" 2 "$(grep -c "^Exec[A-Za-z]*=$ct " "$T/carteiro.service")"
verify_rc=0
systemd-analyze verify "$T/carteiro.service" >"$T/verify.out" 2>&1 || verify_rc=$?
expect_eq "systemd-analyze verify: exit status" 0 "$verify_rc"
expect_eq "systemd-analyze verify: no warnings" "" "$(cat "$T/verify.out")"

# ---- (b) Kubernetes ------------------------------------------------------------------------
# Prints "ok" lines for what holds and "FAIL: ..." for what does not; writes the ConfigMap's
# carteiro.ini and a minimal prometheus.yml for the checks after it.
python3 - "$deploy" "$T" >"$T/k8s.out" 2>&1 <<'PY' || echo "FAIL: the manifest check crashed" >>"$T/k8s.out"
import configparser, os, re, sys
import yaml

deploy, tmp = sys.argv[1], sys.argv[2]
def fail(msg): print("FAIL: " + msg)
def ok(msg): print("ok: " + msg)
def check(cond, msg):
    (ok if cond else fail)(msg)

docs = [d for d in yaml.safe_load_all(open(os.path.join(deploy, "k8s", "carteiro.yaml"))) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
for kind in ("ConfigMap", "Secret", "Service", "StatefulSet"):
    check(len(by_kind.get(kind, [])) == 1, f"one {kind} in carteiro.yaml")
check(all("namespace" not in d["metadata"] for d in docs), "no namespace named")
cm, secret = by_kind["ConfigMap"][0], by_kind["Secret"][0]
svc, sts = by_kind["Service"][0], by_kind["StatefulSet"][0]

ini_text = cm["data"]["carteiro.ini"]
open(os.path.join(tmp, "carteiro.ini"), "w").write(ini_text)
ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
ini.read_string(ini_text)
daemon = ini["carteiro"]

def duration_s(v):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", v.strip())
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]

port = int(daemon["http_listen"].rsplit(":", 1)[1])
check(daemon["http_listen"].startswith("0.0.0.0:"), "the API listens on all interfaces (probes come from outside the pod)")
check(sts["spec"]["replicas"] == 1, "StatefulSet: one replica (the spool has one owner)")
pod = sts["spec"]["template"]["spec"]
check(sts["spec"]["selector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items(),
      "StatefulSet selector matches its pods")
check(sts["spec"]["serviceName"] == svc["metadata"]["name"], "StatefulSet serviceName is the Service")
check(len(pod["containers"]) == 1, "one container")
c = pod["containers"][0]
named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
def resolve(p):
    return named.get(p) if isinstance(p, str) else p
check(port in named.values(), f"container exposes the configured port {port}")
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    g = c.get(probe, {}).get("httpGet", {})
    check(g.get("path") == path and resolve(g.get("port")) == port,
          f"{probe}: GET {path} on port {port} (got {g.get('path')} on {resolve(g.get('port'))})")
check(svc["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items(),
      "Service selects the StatefulSet's pods")
sp = [p for p in svc["spec"]["ports"] if p["name"] == "http"]
check(len(sp) == 1 and resolve(sp[0]["targetPort"]) == port, "Service port http reaches the API port")

mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
spool_dir = os.path.dirname(daemon["spool"])
check(any(mounts.get(n) == spool_dir for n in claims),
      f"a volumeClaimTemplate is mounted at the spool's directory {spool_dir} (claims {claims}, mounts {mounts})")
check(daemon.get("document_root", spool_dir).startswith(spool_dir), "document_root is on the spool volume")
volumes = {v["name"]: v for v in pod["volumes"]}
args = c["args"]
config_path = args[args.index("--config") + 1]
cfg_vol = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
check(len(cfg_vol) == 1 and mounts.get(cfg_vol[0]) == os.path.dirname(config_path)
      and os.path.basename(config_path) in cm["data"], f"--config {config_path} is the ConfigMap's file")
sec_vol = [n for n, v in volumes.items() if v.get("secret", {}).get("secretName") == secret["metadata"]["name"]]
check(len(sec_vol) == 1, "the Secret is mounted")
sec_dir = mounts.get(sec_vol[0]) if sec_vol else None
files = [(s, k, v) for s in ini.sections() for k, v in ini[s].items() if k.endswith("_file") and k != "ca_file"]
check(len(files) >= 2, "the configuration names its secret files")
for s, k, v in files:
    check(os.path.dirname(v) == sec_dir and os.path.basename(v) in secret.get("stringData", {}),
          f"[{s}] {k} = {v} is a key of the mounted Secret")
check(all(str(v).startswith("REPLACE-ME") for v in secret.get("stringData", {}).values()),
      "the Secret's values are marked placeholders")
grace = duration_s(daemon.get("shutdown_grace", "30s"))
tgps = pod.get("terminationGracePeriodSeconds", 30)
check(tgps >= grace, f"terminationGracePeriodSeconds {tgps} >= shutdown_grace {grace:g} s")
psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0, "runs as a non-root user")
check(csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False,
      "read-only root filesystem, no privilege escalation")
check(all(k in c.get("resources", {}).get(r, {}) for r in ("requests", "limits") for k in ("cpu", "memory")),
      "resource requests and limits for cpu and memory")
dockerfile = open(os.path.join(deploy, "Dockerfile")).read()
m = re.search(r"^USER\s+(\d+)", dockerfile, re.M)
check(m is not None and int(m.group(1)) == psc.get("runAsUser"), "the image's USER is the pod's runAsUser")
check(re.search(rf"^EXPOSE\s+{port}\b", dockerfile, re.M) is not None, f"the image exposes {port}")

sm = yaml.safe_load(open(os.path.join(deploy, "k8s", "servicemonitor.yaml")))
check(sm["apiVersion"] == "monitoring.coreos.com/v1" and sm["kind"] == "ServiceMonitor", "ServiceMonitor kind")
check(sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
      "ServiceMonitor selects the Service")
check([(e.get("port"), e.get("path")) for e in sm["spec"]["endpoints"]] == [("http", "/metrics")],
      "ServiceMonitor scrapes /metrics on port http")
scrape = yaml.safe_load(open(os.path.join(deploy, "k8s", "prometheus-scrape.yaml")))
jobs = scrape["scrape_configs"]
check(len(jobs) == 1 and jobs[0].get("metrics_path") == "/metrics", "scrape config: /metrics")
sd = [n for d in jobs[0].get("dns_sd_configs", []) for n in d.get("names", [])]
ports = [d.get("port") for d in jobs[0].get("dns_sd_configs", [])]
check(svc["spec"].get("clusterIP") == "None", "the Service is headless, so its name resolves to the pod")
check(len(sd) == 1 and sd[0].split(".")[0] == svc["metadata"]["name"] and ports == [sp[0]["port"]],
      f"scrape config: the Service's DNS name on its port {sp[0]['port']} (got {sd} on {ports})")
yaml.safe_dump({"global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "scrape_configs": jobs}, open(os.path.join(tmp, "prometheus.yml"), "w"))
PY
sed 's/^/  /' "$T/k8s.out"
expect_eq "manifest checks passed" 0 "$(grep -c '^FAIL' "$T/k8s.out" || true)"
expect_eq "manifest checks ran" true "$([ "$(grep -c '^ok' "$T/k8s.out")" -ge 25 ] && echo true || echo false)"

cfg_rc=0
promtool check config "$T/prometheus.yml" >"$T/promtool.out" 2>&1 || cfg_rc=$?
expect_eq "promtool check config on the scrape job" 0 "$cfg_rc"
[ "$cfg_rc" = 0 ] || sed 's/^/  promtool: /' "$T/promtool.out" >&2

# The ConfigMap's configuration loads, with its secret and spool paths moved under $T.
mkdir -p "$T/secrets" "$T/spool"
for f in $(grep -o '/run/secrets/carteiro/[^ ]*' "$T/carteiro.ini"); do
  echo "synthetic-secret" >"$T/secrets/$(basename "$f")"
done
sed -e "s#/run/secrets/carteiro#$T/secrets#g" -e "s#/var/lib/carteiro#$T/spool#g" \
  "$T/carteiro.ini" >"$T/check.ini"
expect_status "carteiro config check on the ConfigMap's carteiro.ini" 0 "$ct" config check "$T/check.ini"

# ---- (c) the image is the Debian package -----------------------------------------------------
# The image builds the package from debian/ and installs it, so the libraries it needs come
# from the package's Depends (dpkg-shlibdeps; tests/integration/package.sh checks those against
# the binary). What can drift is the build stage's package list against debian/control.

# stage_packages DOCKERFILE N: the names after `apt-get install` in stage N (1 = first FROM).
stage_packages() {
  awk '/^FROM /{ stage++ } { print stage "\t" $0 }' "$1" | awk -F'\t' -v n="$2" '$1 == n { print $2 }' |
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -E '^RUN .*apt-get install' |
    sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -E '^[a-z0-9/][a-z0-9._/*+-]+$' | sort -u
}
# build_depends: the package names of debian/control's Build-Depends (versions and
# alternatives' second choices dropped).
build_depends() {
  sed -n '/^Build-Depends:/,/^[A-Z]/p' "$src/debian/control" | sed '$d' | sed 's/^Build-Depends://' |
    tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/\[.*\]//; s/^ +//; s/ +$//' | grep -v '^$' |
    sed 's/^debhelper-compat$/debhelper/' | sort -u
}
# check_build_stage DOCKERFILE: what the build stage lacks; empty when nothing.
check_build_stage() {
  local named
  named=$(stage_packages "$1" 1)
  for p in $(build_depends) dpkg-dev; do
    grep -qxF "$p" <<<"$named" || echo "$p (debian/control Build-Depends) not installed by the build stage"
  done
}
expect_eq "debian/control has Build-Depends" true "$([ "$(build_depends | wc -l)" -ge 15 ] && echo true || echo false)"
echo "build stage installs: $(stage_packages "$deploy/Dockerfile" 1 | xargs)"
expect_eq "the build stage installs every Build-Depends" "" "$(check_build_stage "$deploy/Dockerfile")"
# The check can fail: the same Dockerfile without libuv1-dev must be caught.
sed 's/ libuv1-dev / /' "$deploy/Dockerfile" >"$T/Dockerfile.nouv"
expect_eq "libuv1-dev removed from a copy" 0 "$(stage_packages "$T/Dockerfile.nouv" 1 | grep -c '^libuv1-dev$' || true)"
expect_eq "a missing Build-Depends is caught" "libuv1-dev (debian/control Build-Depends) not installed by the build stage" \
  "$(check_build_stage "$T/Dockerfile.nouv")"
expect_eq "the build stage builds the package" 1 "$(grep -cE '^ *dpkg-buildpackage -us -uc -b' "$deploy/Dockerfile")"
# The runtime stage installs that package and nothing by name: its Depends bring the rest.
expect_eq "the runtime stage copies the built packages" 1 "$(grep -c '^COPY --from=build /out/ ' "$deploy/Dockerfile")"
expect_eq "the runtime stage installs the package, and only it" "/tmp/carteiro-deb/carteiro_*.deb" \
  "$(stage_packages "$deploy/Dockerfile" 2 | xargs)"
expect_eq "the runtime stage does not build or copy the binary itself" 0 \
  "$(grep -cE 'cmake --install|COPY --from=build .*/usr/bin/carteiro' "$deploy/Dockerfile" || true)"
depends=$(sed -n '/^Package: carteiro$/,/^Description:/p' "$src/debian/control" | sed -n 's/^Depends: //p')
for d in '${shlibs:Depends}' ca-certificates tzdata adduser; do
  expect_eq "the package Depends on $d" true "$(grep -qF -- "$d" <<<"$depends" && echo true || echo false)"
done
# The user the image runs as exists before the package is installed, with the pod's uid.
expect_eq "the user is made before the package is installed" true \
  "$(awk '/useradd .*--uid 10001/ { u = NR } /carteiro-deb\/carteiro_/ && !d { d = NR } END { print (u && d && u < d) ? "true" : "false" }' "$deploy/Dockerfile")"

# The other stage and the image's essentials.
expect_eq "build stage on bookworm" 1 "$(grep -c '^FROM debian:bookworm AS build$' "$deploy/Dockerfile")"
expect_eq "runtime stage on bookworm-slim" "FROM debian:bookworm-slim" "$(grep '^FROM ' "$deploy/Dockerfile" | tail -n 1)"
for line in 'VOLUME \["/var/lib/carteiro"\]' 'STOPSIGNAL SIGTERM' 'HEALTHCHECK '; do
  expect_eq "Dockerfile: $line" 1 "$(grep -cE "$line" "$deploy/Dockerfile")"
done
expect_eq ".dockerignore leaves build trees out" 1 "$(grep -cx 'build' "$src/.dockerignore")"
finish
