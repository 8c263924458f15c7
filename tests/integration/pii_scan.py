"""Scans the logs the integration tests kept for personal data in clear.

usage: pii_scan.py LOG_DIR

Every line of every file under LOG_DIR is searched for
  - a CPF: 11 digits, bare or as ###.###.###-##, whose check digits are right (all-equal
    digit strings are not CPFs);
  - a Brazilian phone number: +55 or 55 followed by 10 or 11 digits, or written out with
    its area code and a hyphen (+55 11 98765-4321, (11) 98765-4321, 11 3456-7890);
  - an e-mail address.
carteiro's masks (***.***.***-09, +55 11 9****-4321, j***@example.com) do not match. Each
finding is printed as FILE:LINE: KIND MASKED (the value itself is never printed, so this
output stays clean too). Exits 1 when anything is found, 2 when LOG_DIR holds no log at all
(nothing was scanned, which must not pass for clean), 0 otherwise.
"""
import os
import re
import sys

CPF_FORMATTED = re.compile(r"(?<![0-9])\d{3}\.\d{3}\.\d{3}-\d{2}(?![0-9])")
# Bare digits: not inside a longer run of letters or digits (hex ids, barcode lines, times).
CPF_BARE = re.compile(r"(?<![0-9A-Za-z])\d{11}(?![0-9A-Za-z])")
PHONE = re.compile(r"(?:(?<![0-9])\+|(?<![0-9A-Za-z+]))55\d{10,11}(?![0-9A-Za-z])")
PHONE_WRITTEN = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+?55 ?)?(?:\(\d{2}\) ?|\d{2} )9?\d{4}-\d{4}(?![0-9])")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def cpf_valid(digits):
    d = [int(c) for c in digits]
    if len(d) != 11 or len(set(d)) == 1:
        return False
    for n in (9, 10):
        r = sum(d[i] * (n + 1 - i) for i in range(n)) * 10 % 11
        if (0 if r == 10 else r) != d[n]:
            return False
    return True


def findings(line):
    """Yields (kind, masked value) for each piece of personal data in `line`."""
    for m in CPF_FORMATTED.finditer(line):
        digits = re.sub(r"\D", "", m.group())
        if cpf_valid(digits):
            yield "cpf", "***.***.***-" + digits[9:]
    for m in CPF_BARE.finditer(line):
        if cpf_valid(m.group()):
            yield "cpf", "***.***.***-" + m.group()[9:]
    for m in PHONE.finditer(line):
        digits = m.group().lstrip("+")
        yield "phone", "+55 %s ****-%s" % (digits[2:4], digits[-4:])
    for m in PHONE_WRITTEN.finditer(line):
        digits = re.sub(r"\D", "", m.group())
        local = digits[2:] if len(digits) >= 12 else digits  # without the country code
        yield "phone", "+55 %s ****-%s" % (local[:2], digits[-4:])
    for m in EMAIL.finditer(line):
        v = m.group()
        yield "email", v[0] + "***" + v[v.index("@"):]


def main():
    if len(sys.argv) != 2:
        print("usage: pii_scan.py LOG_DIR", file=sys.stderr)
        return 64
    root = sys.argv[1]
    files = lines = found = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            files += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    lines += 1
                    for kind, masked in findings(line):
                        found += 1
                        print("%s:%d: %s %s" % (os.path.relpath(path, root), number, kind, masked))
    print("pii_scan: %d files, %d lines, %d findings of personal data in clear" % (files, lines, found))
    if files == 0:
        print("pii_scan: no logs under %s (run the integration tests first)" % root)
        return 2
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
