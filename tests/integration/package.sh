#!/usr/bin/env bash
# The Debian package, built from this tree and installed on this machine:
#   - dpkg-buildpackage builds it (Debian's flags; no -Werror) and lintian finds nothing (the
#     one override in debian/carteiro.lintian-overrides says why);
#   - it holds the daemon, the unit and tmpfiles entry exactly as deploy/ has them,
#     /etc/carteiro/carteiro.ini as its only conffile, the man pages, the completion, the
#     runbook, and Depends computed from the binary (shlibdeps);
#   - `dpkg -i` makes the carteiro system user, the secrets and spool directories with their
#     modes; `carteiro --version` names this tree's commit; the shipped configuration names
#     exactly the secrets an operator must supply, and passes `carteiro config check` once
#     they are there; `systemd-analyze verify` accepts the installed unit, which is neither
#     enabled nor started; installing again keeps an edited conffile;
#   - `dpkg --purge` leaves nothing: no file of the package, no /etc/carteiro, no spool, no
#     systemd state. The system user stays (Debian's practice for system users); this test
#     removes it afterwards when it made it.
# It changes the machine, so: it needs root and skips (77) without it; one run at a time (a
# lock); a carteiro package installed by anyone else is left alone (skip); a run that died
# half-way is cleaned up by the next one (a marker in /run says what it installed).
# usage: package.sh SOURCE_DIR
. "$(dirname "$0")/lib.sh"
src=$(readlink -f "$1")

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the package test installs carteiro with dpkg -i: run it as root (tools/test as root does)"
  exit 77
fi
for tool in dpkg-buildpackage dh lintian dpkg dpkg-deb systemd-analyze flock adduser man; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found (tools/setup installs it)" >&2; exit 1; }
done

marker=/run/carteiro-package-test.state
exec 9>/run/lock/carteiro-package-test.lock
flock -w 1800 9 || { echo "FAIL: another package test held the lock for 30 minutes" >&2; exit 1; }

installed_by_us=false user_made_by_us=false
pkg_status() { dpkg-query -W -f='${db:Status-Status}' carteiro 2>/dev/null || echo not-installed; }
undo() {
  if $installed_by_us && [ "$(pkg_status)" != not-installed ]; then
    dpkg --purge carteiro >/dev/null 2>&1 || echo "WARNING: dpkg --purge carteiro failed" >&2
  fi
  if $user_made_by_us && getent passwd carteiro >/dev/null; then
    userdel carteiro 2>/dev/null || true
  fi
  if $user_made_by_us && getent group carteiro >/dev/null; then
    groupdel carteiro 2>/dev/null || true
  fi
  rm -f "$marker"
}
trap 'undo; cleanup' EXIT

# What a run that died left behind is ours to clean; anything else is not ours to touch.
if [ -e "$marker" ]; then
  echo "a previous run left: $(cat "$marker"); cleaning up first"
  installed_by_us=true
  grep -q 'user=made' "$marker" && user_made_by_us=true
  undo
  installed_by_us=false user_made_by_us=false
fi
if [ "$(pkg_status)" != not-installed ]; then
  echo "SKIP: a carteiro package is on this machine ($(pkg_status)) and this test did not install it: left alone"
  trap cleanup EXIT
  exit 77
fi

# ---- build ----------------------------------------------------------------------------------
version=$(sed -n 's/^project(carteiro VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
expect_eq "debian/changelog is the project's version" "$version" \
  "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)"
tree=$T/carteiro-$version
mkdir -p "$tree"
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
  # the work tree as it is (tracked and new files, nothing ignored: no build trees)
  git -C "$src" ls-files -co --exclude-standard -z | (cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$tree"
else
  (cd "$src" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$tree"
fi
# As a release tarball carries it (git archive fills COMMIT in): the commit cmake would find.
cmake -DSRC="$src" -DOUT="$T/version.h" -DVERSION="$version" -P "$src/cmake/version.cmake"
commit=$(sed -n 's/^#define CARTEIRO_COMMIT "\(.*\)"$/\1/p' "$T/version.h")
printf '%s\n' "${commit%-dirty}" >"$tree/COMMIT"
echo "building carteiro $version (commit ${commit%-dirty}) with dpkg-buildpackage"
build_rc=0
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$T/build.out" 2>&1 || build_rc=$?
expect_eq "dpkg-buildpackage exit status" 0 "$build_rc"
if [ "$build_rc" != 0 ]; then tail -n 40 "$T/build.out" | sed 's/^/  build: /' >&2; finish; exit 1; fi
deb=$(ls "$T"/carteiro_"$version"_*.deb)
expect_eq "Debian's hardening flags used" true "$(grep -q -- '-fstack-protector-strong' "$T/build.out" && grep -q -- '_FORTIFY_SOURCE=2' "$T/build.out" && echo true || echo false)"
expect_eq "no -Werror in the package build" 0 "$(grep -c -- ' -Werror ' "$T/build.out" || true)"
expect_eq "no compiler warning in the package build" 0 "$(grep -c 'warning:' "$T/build.out" || true)"

lint_rc=0
lintian -I --fail-on error,warning,info "$T"/carteiro_"$version"_*.changes >"$T/lintian.out" 2>&1 || lint_rc=$?
grep -v '^running with root privileges' "$T/lintian.out" >"$T/lintian.tags" || true
expect_eq "lintian exit status" 0 "$lint_rc"
expect_eq "lintian tags (errors, warnings, info)" "" "$(cat "$T/lintian.tags")"

# ---- contents -------------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's#^\./#/#' >"$T/contents"
for f in /usr/bin/carteiro /lib/systemd/system/carteiro.service /usr/lib/tmpfiles.d/carteiro.conf \
         /etc/carteiro/carteiro.ini /usr/share/man/man1/carteiro.1.gz /usr/share/man/man5/carteiro.ini.5.gz \
         /usr/share/man/man8/carteiro-run.8.gz /usr/share/bash-completion/completions/carteiro \
         /usr/share/doc/carteiro/README.md /usr/share/doc/carteiro/RUNBOOK.md \
         /usr/share/doc/carteiro/examples/carteiro.ini /usr/share/doc/carteiro/copyright \
         /usr/share/carteiro/prometheus/alerts.yml /usr/share/carteiro/grafana/carteiro.json \
         /usr/share/carteiro/openapi.yaml; do
  expect_eq "package holds $f" 1 "$(grep -cxF "$f" "$T/contents")"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles >"$T/conffiles"
expect_eq "conffiles" "/etc/carteiro/carteiro.ini" "$(cat "$T/conffiles")"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in $(readelf -d "$tree"/obj-*/bin/carteiro | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !p { print $NF; p = 1 }') # no early exit: pipefail
  pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)
  pkg=${pkg%%:*}
  expect_eq "Depends names $pkg for $lib (shlibdeps)" true "$([ -n "$pkg" ] && grep -qE "(^|, )$pkg( |,|$)" <<<"$depends" && echo true || echo false)"
done
dpkg-deb -x "$deb" "$T/x"
expect_eq "the unit is deploy/carteiro.service" true "$(cmp -s "$T/x/lib/systemd/system/carteiro.service" "$src/deploy/carteiro.service" && echo true || echo false)"
expect_eq "the tmpfiles entry is deploy/'s" true "$(cmp -s "$T/x/usr/lib/tmpfiles.d/carteiro.conf" "$src/deploy/carteiro.tmpfiles.conf" && echo true || echo false)"
expect_eq "the conffile is deploy/carteiro.ini" true "$(cmp -s "$T/x/etc/carteiro/carteiro.ini" "$src/deploy/carteiro.ini" && echo true || echo false)"

# ---- install --------------------------------------------------------------------------------
getent passwd carteiro >/dev/null && user_note=existed || user_note=made
echo "user=$user_note" >"$marker"
installed_by_us=true
[ "$user_note" = made ] && user_made_by_us=true
install_rc=0
dpkg -i "$deb" >"$T/install.out" 2>&1 || install_rc=$?
expect_eq "dpkg -i exit status" 0 "$install_rc"
[ "$install_rc" = 0 ] || sed 's/^/  dpkg: /' "$T/install.out" >&2
expect_eq "installed" installed "$(pkg_status)"
expect_status "carteiro --version" 0 carteiro --version
expect_eq "carteiro --version names the version and this tree's commit" \
  "carteiro $version (commit ${commit%-dirty})" "$(cat "$T/out")"
expect_eq "it is the installed binary" /usr/bin/carteiro "$(command -v carteiro)"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd carteiro)
expect_eq "carteiro is a system user" true "$([ "$uid" -lt 1000 ] && echo true || echo false)"
expect_eq "carteiro's home" /var/lib/carteiro "$home"
expect_eq "carteiro cannot log in" /usr/sbin/nologin "$shell"
expect_eq "carteiro's group" carteiro "$(getent group "$gid" | cut -d: -f1)"
expect_eq "spool directory" "700 carteiro carteiro" "$(stat -c '%a %U %G' /var/lib/carteiro)"
expect_eq "secrets directory" "750 root carteiro" "$(stat -c '%a %U %G' /etc/carteiro/secrets)"

# The shipped configuration: exactly the secrets an operator must supply are missing...
expect_status "config check before the secrets" 78 carteiro config check /etc/carteiro/carteiro.ini
# (the key and the path of each; the reason's wording belongs to the CLI)
expect_eq "config check names the missing secrets, and only them" \
"[provider.wa-tim-1]: secret_file /etc/carteiro/secrets/wa-tim-1.token
[provider.sms-banco]: secret_file /etc/carteiro/secrets/sms-banco.token
[provider.email-banco]: secret_file /etc/carteiro/secrets/email-banco.key
[carteiro] http_token_file: /etc/carteiro/secrets/http.token
4 problems" "$(sed -E 's#^/etc/carteiro/carteiro.ini: ##; s#^(.*(secret_file|http_token_file:) [^:]*):.*#\1#' "$T/err")"
# ... and with them (from the environment: nothing written to /etc) it is usable.
expect_status "carteiro config check /etc/carteiro/carteiro.ini" 0 env \
  CARTEIRO_PROVIDER_WA_TIM_1_SECRET=synthetic CARTEIRO_PROVIDER_SMS_BANCO_SECRET=synthetic \
  CARTEIRO_PROVIDER_EMAIL_BANCO_SECRET=synthetic CARTEIRO_HTTP_TOKEN=synthetic \
  carteiro config check /etc/carteiro/carteiro.ini
expect_eq "config check: ok" "/etc/carteiro/carteiro.ini: ok (3 providers, 1 tenants, 1 template locales)" "$(cat "$T/out")"
# The installed unit.
verify_rc=0
systemd-analyze verify /lib/systemd/system/carteiro.service >"$T/verify.out" 2>&1 || verify_rc=$?
expect_eq "systemd-analyze verify: exit status" 0 "$verify_rc"
expect_eq "systemd-analyze verify: nothing said" "" "$(cat "$T/verify.out")"
expect_eq "unit not enabled on install" "" "$(ls /etc/systemd/system/*.wants/carteiro.service 2>/dev/null)"
expect_eq "man carteiro" /usr/share/man/man1/carteiro.1.gz "$(man -w carteiro)"
expect_eq "man carteiro.ini" /usr/share/man/man5/carteiro.ini.5.gz "$(man -w 5 carteiro.ini)"
expect_eq "man carteiro-run" /usr/share/man/man8/carteiro-run.8.gz "$(man -w 8 carteiro-run)"
expect_eq "man carteiro renders" 1 "$(MANWIDTH=100 man 1 carteiro 2>/dev/null | col -b | grep -c '^NAME$')"

# Installing again: the edited conffile is kept, the user is the same one.
echo "; edited by the operator" >>/etc/carteiro/carteiro.ini
expect_status "dpkg -i again" 0 dpkg -i "$deb"
expect_eq "the edited conffile is kept" "; edited by the operator" "$(tail -n 1 /etc/carteiro/carteiro.ini)"
expect_eq "same user after a reinstall" "$uid" "$(id -u carteiro)"

# ---- purge ----------------------------------------------------------------------------------
dpkg -L carteiro >"$T/files"
expect_status "dpkg --purge carteiro" 0 dpkg --purge carteiro
expect_eq "not installed after purge" not-installed "$(pkg_status)"
left=""
while read -r f; do
  [ -d "$f" ] && continue # shared directories (/usr/bin, ...) stay
  if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done <"$T/files"
for d in /etc/carteiro /var/lib/carteiro /usr/share/doc/carteiro /etc/systemd/system/carteiro.service \
         /var/lib/systemd/deb-systemd-helper-enabled/carteiro.service.dsh-also \
         /var/lib/systemd/deb-systemd-helper-masked/carteiro.service; do
  if [ -e "$d" ]; then left="$left $d"; fi
done
expect_eq "nothing of the package is left" "" "${left# }"
expect_eq "the carteiro user stays after purge (Debian practice)" true "$(getent passwd carteiro >/dev/null && echo true || echo false)"
installed_by_us=false
finish
