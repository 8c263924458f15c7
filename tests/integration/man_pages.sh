#!/usr/bin/env bash
# The man pages carteiro(1), carteiro.ini(5) and carteiro-run(8), as built:
#   - up to date: made again from the same binary and sources, they are byte for byte the same;
#   - clean under `mandoc -T lint` (every level, style included) and rendered by `man -l`;
#   - carteiro(1) has a subsection for every command line `carteiro --help` lists, holding
#     exactly the options that command's --help lists (cli_help holds --help to the parsers);
#   - carteiro.ini(5) describes every key of the configuration tables, with the default the
#     loader really gives it, and the environment variable it names is the one
#     `carteiro config check` really reads (each is set to a bad value and must be named);
#     the [tenant.*] and [templates.*] keys are the ones the loader compares names with;
#   - carteiro-run(8) lists the exit codes of `carteiro run --help`, the signals and the files.
# usage: man_pages.sh CARTEIRO CONFIG_KEYS MAN_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
ct=$1 keys_bin=$2 man=$3 src=$4
# The page gives the loader's defaults: configuration overrides from the environment the suite
# may run with (CARTEIRO_CARTEIRO_TRANSPORT=curl for the libcurl pass) are not defaults.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^CARTEIRO_(CARTEIRO|PROVIDER|CLUSTER)_' || true)
for tool in mandoc man python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (tools/setup installs it)" >&2; exit 1; }
done
pages="carteiro.1 carteiro.ini.5 carteiro-run.8"

# ---- built, current, lint-clean, rendered ----------------------------------------------------
version=$(sed -n 's/^project(carteiro VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
for p in $pages; do
  expect_eq "$p built" true "$([ -s "$man/$p" ] && echo true || echo false)"
  date=$(sed -n 's/^\.TH [^ ]* [0-9] \([0-9-]*\) .*/\1/p' "$man/$p")
  python3 "$src/tools/man/genman.py" --carteiro "$ct" --config-keys "$keys_bin" \
    --version "$version" --date "$date" "$src/docs/man/$p.in" "$T/$p"
  expect_eq "$p is current (made again: same bytes)" true "$(cmp -s "$man/$p" "$T/$p" && echo true || echo false)"
  lint_rc=0
  mandoc -T lint -W style "$man/$p" >"$T/lint.out" 2>&1 || lint_rc=$?
  expect_eq "$p: mandoc -T lint exit status" 0 "$lint_rc"
  expect_eq "$p: mandoc -T lint says nothing" "" "$(cat "$T/lint.out")"
  MANWIDTH=100 man -l "$man/$p" 2>"$T/man.err" | col -b >"$T/$p.txt"
  expect_eq "$p: man -l says nothing on stderr" "" "$(cat "$T/man.err")"
  expect_eq "$p: rendered with a NAME section" 1 "$(grep -c '^NAME$' "$T/$p.txt")"
done

# ---- carteiro(1): every command, exactly its options -------------------------------------------
# help_options FORM: the options FORM's --help lists, sorted, one a line.
help_options() {
  # shellcheck disable=SC2086 # the form is one or two words
  "$ct" $1 --help | sed -n '/^options:$/,/^$/p' | sed -nE 's/^  (--[a-z][a-z-]*).*/\1/p' | sort
}
# page_options FORM: the option tags in FORM's subsection of carteiro.1, sorted.
page_options() {
  awk -v ss=".SS \"carteiro $1\"" '$0 == ss { on = 1; next } /^\.S[SH] / { on = 0 }
    on && prev == ".TP" { print } { prev = $0 }' "$man/carteiro.1" |
    sed -nE 's/^\\fB(\\-\\-[a-z\\-]+)\\fR.*/\1/p' | sed 's/\\-/-/g' | sort
}
"$ct" --help | sed -n '/^commands:$/,/^$/p' | sed -nE 's/^  ([a-z]+( [a-z]+)?)  +.*/\1/p' >"$T/forms"
expect_eq "commands listed by carteiro --help" true "$([ "$(wc -l <"$T/forms")" -ge 13 ] && echo true || echo false)"
while read -r form; do
  expect_eq "carteiro.1: subsection for '$form'" 1 "$(grep -cxF ".SS \"carteiro $form\"" "$man/carteiro.1")"
  expect_eq "carteiro.1: options of '$form' are its --help's" "$(help_options "$form" | xargs)" \
    "$(page_options "$form" | xargs)"
  expect_eq "carteiro.1: '$form' in the rendered SYNOPSIS" 1 \
    "$(sed -n '/^SYNOPSIS$/,/^DESCRIPTION$/p' "$T/carteiro.1.txt" | grep -c "^ *carteiro $form\\b")"
done <"$T/forms"
expect_eq "carteiro.1: top-level options are carteiro --help's" "$(help_options "" | xargs)" \
  "$(awk '/^\.SH OPTIONS$/ { on = 1; next } /^\.SH / { on = 0 } on && prev == ".TP" { print } { prev = $0 }' \
       "$man/carteiro.1" | sed -nE 's/^\\fB(\\-\\-[a-z\\-]+)\\fR.*/\1/p' | sed 's/\\-/-/g' | sort | xargs)"
# The exit codes the top-level --help names are in EXIT STATUS.
for code in $("$ct" --help | sed -n '/^Exit codes/,/^$/p' | grep -oE '\b[0-9]{2}\b' | sort -u); do
  expect_eq "carteiro.1: exit code $code in EXIT STATUS" 1 \
    "$(sed -n '/^EXIT STATUS$/,/^FILES$/p' "$T/carteiro.1.txt" | grep -cE "^ +$code( |\$)")"
done

# ---- carteiro.ini(5): every key, its real default and environment variable ---------------------
"$keys_bin" >"$T/keys.tsv"
expect_eq "config tables read" true "$([ "$(wc -l <"$T/keys.tsv")" -ge 50 ] && echo true || echo false)"
undescribed=$(awk '/^\.SH KEYS NOT DESCRIBED YET$/ { on = 1; next } /^\.SH / { on = 0 }
  on && prev == ".TP" { print } { prev = $0 }' "$man/carteiro.ini.5" | sed -nE 's/^\\fB([a-z0-9_]+)\\fR.*/\1/p' | xargs)
expect_eq "carteiro.ini.5: every key has its paragraph (add '.\\\" @key SECTION KEY' and prose to docs/man/carteiro.ini.5.in)" \
  "" "$undescribed"
# One pass over the page: each key's entry, its default against the loader's, and the
# variable it names ("var SECTION KEY TYPE NAME" lines for the environment check below).
python3 - "$man/carteiro.ini.5" "$T/keys.tsv" "$src/tools/man" >"$T/ini.out" <<'PY' || echo "FAIL: the page check crashed" >>"$T/ini.out"
import re, sys
page, keys_tsv, tools = sys.argv[1:]
sys.path.insert(0, tools)
import genman
heads = {'.SH "[carteiro] SECTION"': "carteiro", '.SH "[provider.NAME] SECTIONS"': "provider",
         '.SH "[cluster] SECTION"': "cluster"}
entries, sec, cur, prev = {}, None, None, ""
for ln in open(page).read().splitlines():
    if ln.startswith(".SH "):
        sec, cur = heads.get(ln), None
    elif sec and prev == ".TP":
        m = re.match(r"^\\fB([a-z0-9_]+)\\fR = ", ln)
        cur = (sec, m.group(1)) if m else None
        if cur:
            entries.setdefault(cur, [])
    if sec and cur:
        entries[cur].append(ln)
    prev = ln
def check(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    return cond
for ln in open(keys_tsv).read().splitlines():
    section, key, typ, lo, hi, default = ln.split("\t")
    e = entries.get((section, key))
    if not check(e is not None, f"carteiro.ini.5: [{section}] {key} has an entry"):
        continue
    want = genman.duration(default) if typ == "duration" else default
    want = ("Default none" if want == "-" else "Default empty" if want == "" else
            "Default \\fB" + want.replace("-", "\\-") + "\\fR")
    check(any(want in x for x in e), f"carteiro.ini.5: [{section}] {key} default is the loader's ({want})")
    var = [m.group(1) for x in e for m in [re.match(r"^Environment: \\fB\\%(.*?)\\fR", x)] if m]
    if check(len(var) == 1, f"carteiro.ini.5: [{section}] {key} names its variable"):
        print("var", section, key, typ, var[0].replace("\\fINAME\\fB", "WA_1"))
PY
grep '^FAIL' "$T/ini.out" >&2 || true
expect_eq "carteiro.ini.5: entries checked" 0 "$(grep -c '^FAIL' "$T/ini.out" || true)"
expect_eq "carteiro.ini.5: every key checked" "$(wc -l <"$T/keys.tsv")" "$(grep -c '^var ' "$T/ini.out" || true)"

# The environment variables the page names, set to bad values: config check names each one.
printf '[provider.wa-1]\nkind = email\nbase_url = https://127.0.0.1\nsender = a@example.com\n[cluster]\nnats = nats://127.0.0.1:4222\n' >"$T/min.ini"
expect_status "the minimal configuration loads" 0 env CARTEIRO_PROVIDER_WA_1_SECRET=synthetic "$ct" config check "$T/min.ini"
long=$(head -c 5000 /dev/zero | tr '\0' x)
for section in carteiro provider cluster; do
  env_args=()
  : >"$T/vars"
  while read -r _ s key type var; do
    [ "$s" = "$section" ] || continue
    case $type in text) bad=$long ;; *) bad=not-a-valid-value ;; esac
    env_args+=("$var=$bad")
    echo "$var" >>"$T/vars"
  done < <(grep '^var ' "$T/ini.out")
  rc=0
  env CARTEIRO_PROVIDER_WA_1_SECRET=synthetic "${env_args[@]}" "$ct" config check "$T/min.ini" \
    >/dev/null 2>"$T/env.err" || rc=$?
  expect_eq "[$section]: bad values from the environment refused" 78 "$rc"
  while read -r var; do
    expect_eq "config check reads $var" 1 "$(grep -c "environment $var: " "$T/env.err")"
  done <"$T/vars"
done
# [tenant.*] and [templates.*]: the names the loader compares keys with.
for key in $(sed -n '/^static void on_tenant_key/,/^}/p; /^static void on_template_key/,/^}/p' "$src/src/config/config.c" |
               grep -oE 'strcmp\(name, "[a-z_]+"\)' | sed -E 's/.*"(.*)".*/\1/' | sort -u); do
  expect_eq "carteiro.ini.5: tenant/templates key $key" 1 "$(grep -cxF ".B $key" "$man/carteiro.ini.5")"
done

# ---- carteiro-run(8): exit codes, signals, files -----------------------------------------------
for code in $("$ct" run --help | sed -n '/^Exit status/,/^$/p' | grep -oE '\b[0-9]+\b' | sort -u); do
  expect_eq "carteiro-run.8: exit code $code" 1 \
    "$(sed -n '/^EXIT STATUS$/,/^LOGGING$/p' "$T/carteiro-run.8.txt" | grep -cE "^ +$code( |\$)")"
done
for sig in SIGTERM SIGINT SIGHUP SIGKILL; do
  expect_eq "carteiro-run.8: $sig" true "$(sed -n '/^SIGNALS$/,/^FILES$/p' "$T/carteiro-run.8.txt" | grep -q "$sig" && echo true || echo false)"
done
for f in /etc/carteiro/carteiro.ini /var/lib/carteiro/spool.db /var/lib/carteiro/documents/; do
  expect_eq "carteiro-run.8: FILES names $f" 1 "$(sed -n '/^FILES$/,/^EXIT STATUS$/p' "$T/carteiro-run.8.txt" | grep -cxE " +$f")"
done
expect_eq "carteiro-run.8: the default configuration is run --help's" true \
  "$("$ct" run --help | grep -q '/etc/carteiro/carteiro.ini' && echo true || echo false)"
expect_eq "carteiro-run.8: options are run --help's" "$(help_options run | xargs)" \
  "$(awk '/^\.SH OPTIONS$/ { on = 1; next } /^\.SH / { on = 0 } on && prev == ".TP" { print } { prev = $0 }' \
       "$man/carteiro-run.8" | sed -nE 's/^\\fB(\\-\\-[a-z\\-]+)\\fR.*/\1/p' | sed 's/\\-/-/g' | sort | xargs)"
finish
