#!/usr/bin/env bash
# docs/openapi.yaml, the HTTP API's description:
#   - every route the server has is in the document, and every path of the document is a
#     route: the routes are the path literals of the server's sources (every file under src/
#     that includes h2o, directly or through a header of its module), so a new route, e.g. the
#     webhook listener's, fails this test until it is described;
#   - the document is valid OpenAPI 3.1, its examples match their schemas, and a running daemon
#     answers every operation and example with a documented status, Content-Type and body
#     (openapi_check.mjs, with the npm packages of tools/openapi that tools/setup installs).
# usage: openapi_check.sh CARTEIRO GEN_INVOICES MOCK_PROVIDER GEN_TEST_CA SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$1 gen=$2 mock=$3 gen_ca=$4 src=$(readlink -f "$5")
. "$(dirname "$0")/engine.sh"
doc=$src/docs/openapi.yaml
tools=$src/tools/openapi
command -v node >/dev/null || { echo "FAIL: node not found (tools/setup installs nodejs)" >&2; exit 1; }
[ -d "$tools/node_modules/@seriousme/openapi-schema-validator" ] ||
  { echo "FAIL: $tools/node_modules is not installed: run tools/setup (npm ci there)" >&2; exit 1; }

# ---- the routes in the source against the document's paths ----------------------------------
# Server files: those including <h2o.h>, or a header of src/ that does.
h2o_headers=$(grep -rlE '#include <h2o\.h>' "$src/src" --include='*.h' | sed "s#^$src/src/##" | xargs || true)
server_files=$(grep -rlE '#include <h2o\.h>' "$src/src" --include='*.c'
               for h in $h2o_headers; do grep -rlF "#include \"$h\"" "$src/src" --include='*.c'; done)
server_files=$(sort -u <<<"$server_files")
echo "server sources: $(sed "s#^$src/##" <<<"$server_files" | xargs)"
expect_eq "the server's sources found" true "$([ "$(wc -l <<<"$server_files")" -ge 2 ] && echo true || echo false)"
# shellcheck disable=SC2086
grep -ohE '"/[A-Za-z0-9._~/{}-]*"' $server_files | tr -d '"' | grep -vx '/' | sort -u >"$T/routes"
python3 -c 'import sys, yaml; [print(p) for p in yaml.safe_load(open(sys.argv[1]))["paths"]]' "$doc" | sort >"$T/paths"
echo "routes in the source: $(xargs <"$T/routes")"
expect_eq "routes found in the source" true "$([ "$(wc -l <"$T/routes")" -ge 5 ] && echo true || echo false)"
# A literal ending in "/" is a prefix with something after it (/v1/jobs/ for /v1/jobs/{id}).
covered() { # ROUTE: is it a path of the document?
  if [[ $1 == */ ]]; then grep -q "^$1{[a-z_]*}\$" "$T/paths"; else grep -qxF "$1" "$T/paths"; fi
}
while read -r r; do
  expect_eq "route $r is in docs/openapi.yaml" true "$(covered "$r" && echo true || echo false)"
done <"$T/routes"
while read -r p; do
  lit=${p%%\{*}
  expect_eq "path $p of docs/openapi.yaml is a route of the server" true \
    "$(grep -qxF "$lit" "$T/routes" && echo true || echo false)"
done <"$T/paths"
# The check can fail: a route the document lacks is caught.
echo "/v1/no-such-route" >>"$T/routes"
expect_eq "a route missing from the document is caught" false "$(covered /v1/no-such-route && echo true || echo false)"
expect_eq "a prefix route missing from the document is caught" false "$(covered /webhooks/ && echo true || echo false)"

# ---- the daemon -------------------------------------------------------------------------------
start_mock
printf 'openapi-token-synthetic\n' >"$T/http.token"
LOG_LEVEL=info write_config "http_listen = 127.0.0.1:0
http_token_file = $T/http.token"
export CARTEIRO_SPOOL=$T/spool.db
start_ct
listening() { grep -qs 'http: listening on 127.0.0.1:' "$T/run.log"; }
wait_until 10 listening || { fail "no 'http: listening' line"; sed 's/^/  run: /' "$T/run.log" >&2; finish; exit 1; }
port=$(grep -o 'http: listening on 127.0.0.1:[0-9]*' "$T/run.log" | head -1 | sed 's/.*://')
# The status document has its spool part once the spool was counted (every two seconds).
counted() { [ "$(curl -s -H 'Authorization: Bearer openapi-token-synthetic' "http://127.0.0.1:$port/v1/status" | jq -r '.spool | type')" = object ]; }
wait_until 10 counted || fail "the status document has no spool part after 10 s"
rc=0
node "$(dirname "$0")/openapi_check.mjs" "$tools" "$doc" "http://127.0.0.1:$port" openapi-token-synthetic \
  >"$T/node.out" 2>&1 || rc=$?
grep -v "^ok: " "$T/node.out" || true
[ -z "${OPENAPI_SHOW:-}" ] || cat "$T/node.out"
expect_eq "openapi_check.mjs: exit status" 0 "$rc"
expect_eq "openapi_check.mjs: checks ran" true \
  "$([ "$(grep -c '^ok: ' "$T/node.out")" -ge 40 ] && echo true || echo false)"
stop_ct 20
expect_eq "carteiro exit status on SIGTERM" 0 "$ct_status"
finish
