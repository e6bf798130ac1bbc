#!/usr/bin/env python3
"""Convert hand-labelled docs/NNNN_<doc_type>.txt into all.jsonl.

Markup: [[TYPE|value]]  (value may span lines; no nesting).
Offsets are Python code-point offsets into the stripped text, end exclusive.
Exits non-zero on any problem.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import helpers  # noqa: E402

TYPES = {
    "PERSON", "EMAIL", "PHONE", "US_SSN", "CREDIT_CARD", "IBAN", "IP_ADDRESS",
    "MAC_ADDRESS", "URL", "DATE_OF_BIRTH", "DATE", "AGE_OVER_89",
    "STREET_ADDRESS", "ZIP_CODE", "MEDICAL_RECORD_NUMBER", "INSURANCE_ID",
    "US_BANK_ACCOUNT", "US_BANK_ROUTING", "NPI", "DEA_NUMBER",
    "DRIVER_LICENSE", "PASSPORT", "SECRET",
}

CHECKS = {
    "CREDIT_CARD": helpers.card_ok,
    "US_BANK_ROUTING": helpers.aba_ok,
    "IBAN": helpers.iban_ok,
    "NPI": helpers.npi_ok,
    "DEA_NUMBER": helpers.dea_ok,
    "US_SSN": helpers.ssn_ok,
    "PHONE": helpers.nanp_ok,
}

NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.txt$")


class MarkupError(Exception):
    pass


def line_col(raw, pos):
    line = raw.count("\n", 0, pos) + 1
    col = pos - (raw.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} col {col}"


def parse(raw):
    out = []
    spans = []
    i = 0
    n = len(raw)
    while i < n:
        o = raw.find("[[", i)
        c = raw.find("]]", i)
        if c != -1 and (o == -1 or c < o):
            raise MarkupError(f"stray ']]' at {line_col(raw, c)}")
        if o == -1:
            out.append(raw[i:])
            break
        out.append(raw[i:o])
        close = raw.find("]]", o + 2)
        if close == -1:
            raise MarkupError(f"unterminated '[[' at {line_col(raw, o)}")
        inner = raw[o + 2:close]
        if "[[" in inner:
            raise MarkupError(f"nested or overlapping markup at {line_col(raw, o)}")
        if "|" not in inner:
            raise MarkupError(f"markup without '|' at {line_col(raw, o)}")
        typ, value = inner.split("|", 1)
        if typ not in TYPES:
            raise MarkupError(f"unknown type {typ!r} at {line_col(raw, o)}")
        if not value:
            raise MarkupError(f"empty value at {line_col(raw, o)}")
        if value != value.strip():
            raise MarkupError(f"value with surrounding whitespace {value!r} at {line_col(raw, o)}")
        start = sum(len(x) for x in out)
        out.append(value)
        spans.append({"start": start, "end": start + len(value), "type": typ, "_value": value,
                      "_where": line_col(raw, o)})
        i = close + 2
    text = "".join(out)
    return text, spans


def main():
    docdir = os.path.join(HERE, "docs")
    names = sorted(os.listdir(docdir))
    problems = []
    records = []
    seen_ids = set()
    for name in names:
        m = NAME_RE.match(name)
        if not m:
            problems.append(f"{name}: bad file name")
            continue
        doc_id, doc_type = m.groups()
        if doc_id in seen_ids:
            problems.append(f"{name}: duplicate id {doc_id}")
        seen_ids.add(doc_id)
        with open(os.path.join(docdir, name), encoding="utf-8") as fh:
            raw = fh.read()
        raw = raw.replace("\r\n", "\n")
        if raw.endswith("\n"):
            raw = raw.rstrip("\n")
        try:
            text, spans = parse(raw)
        except MarkupError as e:
            problems.append(f"{name}: {e}")
            continue
        for s in spans:
            if text[s["start"]:s["end"]] != s["_value"]:
                problems.append(f"{name}: offset mismatch at {s['_where']}")
            chk = CHECKS.get(s["type"])
            if chk and not chk(s["_value"]):
                problems.append(f"{name}: {s['type']} {s['_value']!r} fails validity check ({s['_where']})")
        spans.sort(key=lambda s: (s["start"], s["end"]))
        for a, b in zip(spans, spans[1:]):
            if b["start"] < a["end"]:
                problems.append(f"{name}: overlapping spans")
        records.append({
            "id": doc_id,
            "doc_type": doc_type,
            "text": text,
            "spans": [{"start": s["start"], "end": s["end"], "type": s["type"]} for s in spans],
        })
    if problems:
        for p in problems:
            print("ERROR:", p, file=sys.stderr)
        print(f"{len(problems)} problem(s); all.jsonl not written", file=sys.stderr)
        return 1
    records.sort(key=lambda r: r["id"])
    with open(os.path.join(HERE, "all.jsonl"), "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")
    nspans = sum(len(r["spans"]) for r in records)
    print(f"wrote {len(records)} documents, {nspans} spans to all.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
