#!/usr/bin/env python3
"""Writes carteiro's man pages from their sources in docs/man/*.in.

The pages are prose around facts that come from the program itself, so they cannot drift:

  .\\" @help FORM     the text of `carteiro FORM --help` (FORM empty: `carteiro --help`),
                     turned into man(7): synopsis, paragraphs, options, exit status, example
  .\\" @synopsis      the usage lines of `carteiro --help` and of every command
  .\\" @synopsis-of FORM  the usage lines of FORM alone
  .\\" @options FORM  the options of FORM alone
  .\\" @commands      every command line `carteiro --help` lists, each as a subsection with
                     its summary and its @help
  .\\" @key SECTION KEY
                     one configuration key: its type, bounds, default and environment
                     variable, from the config tables (tools/man/config_keys.c prints them
                     from src/config/config.c), then the prose that follows in the source
  .\\" @undescribed   every key of the tables that no @key describes (facts only), so the page
                     is complete even before someone writes its prose; tests/integration/
                     man_pages.sh fails while this list is not empty
  @VERSION@ @DATE@   the version and the date (SOURCE_DATE_EPOCH, as CMake gives it)

usage: genman.py --carteiro BIN [--config-keys BIN] --version V --date YYYY-MM-DD IN OUT
"""
import argparse
import re
import subprocess
import sys
import textwrap

SECTIONS = {"carteiro": "[carteiro]", "provider": "[provider.NAME]", "cluster": "[cluster]"}


def esc(text, dashes=False):
    """Escapes text for man(7): backslashes always, hyphens where they are typed options."""
    text = text.replace("\\", "\\e")
    if dashes:
        text = text.replace("-", "\\-")
    return text


def line_safe(text):
    """A text line must not start with a control character."""
    return "\\&" + text if text[:1] in (".", "'") else text


def prose(text):
    """Text as man(7) lines of at most 80 bytes (mandoc -T lint's style limit)."""
    return [line_safe(ln) for ln in textwrap.wrap(esc(text), 78, break_long_words=False,
                                                   break_on_hyphens=False)]


def run_help(binary, form):
    args = [binary] + (form.split() if form else []) + ["--help"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return out.splitlines()


def blocks(lines):
    """Splits help text into blocks separated by blank lines."""
    cur = []
    for ln in lines:
        if ln.strip() == "":
            if cur:
                yield cur
            cur = []
        else:
            cur.append(ln.rstrip())
    if cur:
        yield cur


def parse_options(block):
    """'  --opt ARG   text' lines with indented continuations -> [(opt, arg, text)]."""
    opts = []
    for ln in block:
        m = re.match(r"^ {2}(--?[A-Za-z][A-Za-z0-9-]*)((?: [^ ].*?)?)(?: {2,}(.*))?$", ln)
        if m and not ln.startswith("   "):
            opts.append([m.group(1), (m.group(2) or "").strip(), (m.group(3) or "").strip()])
        elif opts and ln.startswith("   "):
            opts[-1][2] = (opts[-1][2] + " " + ln.strip()).strip()
        else:
            raise SystemExit(f"genman: cannot read option line {ln!r}")
    return opts


def commands(binary):
    """The command lines `carteiro --help` lists, with their summaries."""
    out, inside = [], False
    for ln in run_help(binary, ""):
        if ln == "commands:":
            inside = True
        elif inside and ln.strip() == "":
            break
        elif inside:
            m = re.match(r"^  ([a-z]+(?: [a-z]+)?)  +(.*)$", ln)
            if not m:
                raise SystemExit(f"genman: cannot read command line {ln!r}")
            out.append((m.group(1), m.group(2)))
    if not out:
        raise SystemExit("genman: carteiro --help lists no commands")
    return out


def usage_lines(binary, form):
    """The usage block of FORM's --help, as man(7) lines (without .nf/.fi)."""
    first = next(blocks(run_help(binary, form)))
    if not first[0].startswith("usage: "):
        raise SystemExit(f"genman: carteiro {form} --help does not start with 'usage: '")
    out = []
    for i, ln in enumerate(first):
        text = ln[len("usage: "):] if i == 0 else "    " + ln.strip()
        head = "carteiro " + form if form else "carteiro"
        if i == 0 and text.startswith(head):
            out.append(f"\\fB{esc(head, True)}\\fR{esc(text[len(head):], True)}")
        else:
            out.append(line_safe(esc(text, True)))
    return out


def options_lines(opts):
    out = []
    for opt, arg, text in opts:
        out.append(".TP")
        tag = f"\\fB{esc(opt, True)}\\fR"
        if arg:
            tag += " " + re.sub(r"([A-Z][A-Z0-9_.]*)", r"\\fI\1\\fR", esc(arg, True))
        out.append(tag)
        out.extend(prose(text))
    return out


def help_to_man(binary, form, only=None):
    """FORM's --help as man(7): usage, paragraphs, options, example. only="options" gives
    the options alone."""
    _, *rest = list(blocks(run_help(binary, form)))
    out = [] if only else [".nf", *usage_lines(binary, form), ".fi"]
    for blk in rest:
        head = blk[0]
        if head == "commands:":
            continue  # @commands has them, one subsection each
        if head == "options:":
            if not only:
                out.append(".PP")
                out.append("Options:")
            out.extend(options_lines(parse_options(blk[1:])))
            continue
        if only:
            continue
        if head == "Example:":
            out.append(".PP")
            out.append("Example:")
            out.append(".PP")
            out.append(".EX")
            out.extend(line_safe(esc(ln[2:] if ln.startswith("  ") else ln, True)) for ln in blk[1:])
            out.append(".EE")
            continue
        out.append(".PP")
        # prose lines are joined; a block of indented lines is kept as it is
        if all(ln.startswith("  ") for ln in blk):
            out.append(".EX")
            out.extend(line_safe(esc(ln[2:], True)) for ln in blk)
            out.append(".EE")
        else:
            out.extend(prose(" ".join(ln.strip() for ln in blk)))
    return out


# ---- configuration keys -------------------------------------------------------------------

def duration(ms):
    ms = int(ms)
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
        if ms != 0 and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def read_keys(config_keys):
    """The keys as tools/man/config_keys.c prints them from the loader's own tables."""
    out = subprocess.run([config_keys], check=True, capture_output=True, text=True).stdout
    keys = {}
    for ln in out.splitlines():
        section, key, typ, lo, hi, default = ln.split("\t")
        keys[(section, key)] = {"type": typ, "min": lo, "max": hi, "default": default}
    return keys


def env_name(section, key):
    sec = {"carteiro": "carteiro", "cluster": "cluster", "provider": "provider.NAME"}[section]
    name = re.sub(r"[^A-Za-z0-9]", "_", f"CARTEIRO_{sec}_{key}").upper()
    return name


def key_entry(section, key, k):
    """The tag of a key's entry, and the facts that close it (after its prose)."""
    typ = k["type"]
    bounds = ""
    default = k["default"]
    if typ == "duration":
        what, bounds = "duration", f"{duration(k['min'])} to {duration(k['max'])}"
        default = duration(default)
    elif typ == "integer":
        what, bounds = "whole number", f"{k['min']} to {k['max']}"
    elif typ == "number":
        what, bounds = "number", f"{k['min']} to {k['max']}"
    elif typ == "channel":
        what = "whatsapp | sms | email"
    elif typ == "loglevel":
        what = "debug | info | warn | error"
    else:
        what = "text"
    if default == "-":
        default = "none"
    elif default == "":
        default = "empty"
    else:
        default = f"\\fB{esc(default, True)}\\fR"
    env = env_name(section, key)
    if section == "provider":
        env = env.replace("_NAME_", "_\\fINAME\\fB_")
    facts = [".br", f"Default {default}" + (f"; {bounds}." if bounds else "."), ".br",
             f"Environment: \\fB\\%{env}\\fR" +
             (" (with a [cluster] section in the file)." if section == "cluster" else ".")]
    return [".TP", f"\\fB{esc(key)}\\fR = \\fI{esc(what)}\\fR"], facts


def expand(args, src_lines):
    keys = read_keys(args.config_keys) if args.config_keys else {}
    described = set()
    out = []
    pending = []  # the facts of the last @key, written after its prose
    for ln in src_lines:
        if pending and (ln.startswith((".SH", ".SS", ".TP")) or ln.startswith('.\\" @')):
            out.extend(pending)
            pending = []
        ln = ln.replace("@VERSION@", args.version).replace("@DATE@", args.date)
        m = re.match(r'^\.\\" @(\w+)(?: (.*))?$', ln)
        if not m:
            out.append(ln)
            continue
        verb, arg = m.group(1), (m.group(2) or "").strip()
        if verb == "help":
            out.extend(help_to_man(args.carteiro, arg))
        elif verb == "synopsis-of":
            out.append(".nf")
            out.extend(usage_lines(args.carteiro, arg))
            out.append(".fi")
        elif verb == "options":
            out.extend(help_to_man(args.carteiro, arg, only="options"))
        elif verb == "synopsis":
            out.append(".nf")
            out.extend(usage_lines(args.carteiro, ""))
            for form, _ in commands(args.carteiro):
                out.extend(usage_lines(args.carteiro, form))
            out.append(".fi")
        elif verb == "commands":
            for form, summary in commands(args.carteiro):
                out.append(f'.SS "carteiro {esc(form)}"')
                out.extend(prose(summary[0].upper() + summary[1:] + "."))
                out.append(".PP")
                out.extend(help_to_man(args.carteiro, form))
        elif verb == "key" and not keys:
            raise SystemExit("genman: @key needs --config-keys")
        elif verb == "key":
            section, key = arg.split()
            if (section, key) not in keys:
                raise SystemExit(f"genman: @key {section} {key}: no such key in the config "
                                 "tables of src/config/config.c")
            described.add((section, key))
            tag, pending = key_entry(section, key, keys[(section, key)])
            out.extend(tag)
        elif verb == "undescribed":
            missing = sorted(set(keys) - described)
            if missing:
                out.append(".SH KEYS NOT DESCRIBED YET")
                out.append("These keys exist but this page has no prose for them yet.")
                for section, key in missing:
                    tag, facts = key_entry(section, key, keys[(section, key)])
                    out.extend(tag)
                    out.append(f"In {esc(SECTIONS[section])}; not described yet.")
                    out.extend(facts)
        else:
            raise SystemExit(f"genman: unknown directive @{verb}")
    out.extend(pending)
    return out


def wrap_long(lines):
    """Text lines longer than 80 bytes, outside .nf/.EX blocks, broken at spaces."""
    out, keep = [], False
    for ln in lines:
        if ln.startswith((".nf", ".EX")):
            keep = True
        elif ln.startswith((".fi", ".EE")):
            keep = False
        if keep or ln.startswith((".", "'")) or len(ln.encode()) <= 80:
            out.append(ln)
        else:
            out.extend(line_safe(w) for w in textwrap.wrap(ln, 78, break_long_words=False,
                                                          break_on_hyphens=False))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--carteiro", required=True)
    ap.add_argument("--config-keys")
    ap.add_argument("--version", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("source")
    ap.add_argument("output")
    args = ap.parse_args()
    with open(args.source) as f:
        src = f.read().splitlines()
    text = "\n".join(wrap_long(expand(args, src))) + "\n"
    with open(args.output, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
