#!/usr/bin/env python3
"""Strip [[TYPE|value]] markup from docs/*.txt, validate, write all.jsonl."""
import json
import os
import re
import sys

from helpers import aba_ok, iban_ok, luhn_ok, npi_ok

TYPES = {
    "PERSON", "EMAIL", "PHONE", "US_SSN", "CREDIT_CARD", "IBAN", "IP_ADDRESS",
    "MAC_ADDRESS", "URL", "DATE_OF_BIRTH", "DATE", "AGE_OVER_89", "STREET_ADDRESS",
    "ZIP_CODE", "MEDICAL_RECORD_NUMBER", "INSURANCE_ID", "US_BANK_ACCOUNT",
    "US_BANK_ROUTING", "NPI", "DEA_NUMBER", "DRIVER_LICENSE", "PASSPORT", "SECRET",
}
# The set's directory: this script's own, or the one given (the fifth set is converted
# with this script too: `python3 ../independent4/convert.py .`).
HERE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
OUT = os.path.join(HERE, "all.jsonl")
NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.txt$")


def parse(raw, fname, problems):
    out = []
    spans = []
    i = 0
    n = len(raw)
    while i < n:
        if raw.startswith("[[", i):
            bar = raw.find("|", i + 2)
            close = raw.find("]]", i + 2)
            if bar == -1 or close == -1 or bar > close:
                problems.append(f"{fname}: malformed markup at char {i}")
                return None, None
            typ = raw[i + 2:bar]
            val = raw[bar + 1:close]
            if typ not in TYPES:
                problems.append(f"{fname}: unknown type {typ!r}")
            if not val.strip():
                problems.append(f"{fname}: empty value for {typ}")
            if val != val.strip():
                problems.append(f"{fname}: value has outer whitespace: {val!r}")
            if "[[" in val or "|" in val:
                problems.append(f"{fname}: nested/odd markup in {val!r}")
            start = sum(len(x) for x in out)
            out.append(val)
            spans.append({"start": start, "end": start + len(val), "type": typ})
            i = close + 2
        elif raw.startswith("]]", i):
            problems.append(f"{fname}: stray ']]' at char {i}")
            return None, None
        else:
            j = raw.find("[[", i)
            k = raw.find("]]", i)
            cands = [x for x in (j, k) if x != -1]
            nxt = min(cands) if cands else n
            out.append(raw[i:nxt])
            i = nxt
    return "".join(out), spans


def check_digits(typ, val, fname, problems):
    if typ == "CREDIT_CARD" and not luhn_ok(val):
        problems.append(f"{fname}: CREDIT_CARD fails Luhn: {val}")
    elif typ == "US_BANK_ROUTING" and not aba_ok(val):
        problems.append(f"{fname}: US_BANK_ROUTING fails ABA check: {val}")
    elif typ == "IBAN" and not iban_ok(val):
        problems.append(f"{fname}: IBAN fails mod-97: {val}")
    elif typ == "NPI" and not npi_ok(val):
        problems.append(f"{fname}: NPI fails Luhn(80840): {val}")


def main():
    problems = []
    records = []
    files = sorted(f for f in os.listdir(DOCS) if f.endswith(".txt"))
    seen = set()
    for fname in files:
        m = NAME_RE.match(fname)
        if not m:
            problems.append(f"{fname}: bad file name")
            continue
        did, dtype = m.groups()
        if did in seen:
            problems.append(f"{fname}: duplicate id {did}")
        seen.add(did)
        with open(os.path.join(DOCS, fname), encoding="utf-8") as fh:
            raw = fh.read()
        text, spans = parse(raw, fname, problems)
        if text is None:
            continue
        for s in spans:
            check_digits(s["type"], text[s["start"]:s["end"]], fname, problems)
        spans.sort(key=lambda s: (s["start"], s["end"]))
        for a, b in zip(spans, spans[1:]):
            if b["start"] < a["end"]:
                problems.append(f"{fname}: overlapping spans {a} {b}")
        if not (300 <= len(text) <= 3000):
            problems.append(f"{fname}: length {len(text)} outside 300-3000")
        records.append({"id": did, "doc_type": dtype, "text": text, "spans": spans})
    if problems:
        for p in problems:
            print("ERROR", p, file=sys.stderr)
        print(f"{len(problems)} problem(s); all.jsonl not written", file=sys.stderr)
        return 1
    with open(OUT, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    nspans = sum(len(r["spans"]) for r in records)
    print(f"wrote {len(records)} documents, {nspans} spans to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
