#!/usr/bin/env python3
"""Convert inline-marked documents in docs/ to all.jsonl.

Markup: [[TYPE|value]] ; value may contain newlines but not '[[', ']]' or '|'-prefixed markup.
Exits non-zero on any problem.
"""
import json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
OUT = os.path.join(HERE, "all.jsonl")

TYPES = {
    "PERSON", "STREET_ADDRESS", "ZIP_CODE", "EMAIL", "PHONE", "URL", "IP_ADDRESS",
    "MAC_ADDRESS", "DATE", "DATE_OF_BIRTH", "AGE_OVER_89", "US_SSN", "CREDIT_CARD",
    "IBAN", "US_BANK_ACCOUNT", "US_BANK_ROUTING", "MEDICAL_RECORD_NUMBER",
    "INSURANCE_ID", "NPI", "DEA_NUMBER", "DRIVER_LICENSE", "PASSPORT", "SECRET",
}
NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.txt$")
OPEN_RE = re.compile(r"\[\[([A-Za-z0-9_]*)\|")


def parse(raw, fname, errors):
    text = []
    spans = []
    i = 0
    n = len(raw)
    out_len = 0
    while i < n:
        m = OPEN_RE.search(raw, i)
        # look for a stray ']]' before the next opener
        nxt = m.start() if m else n
        stray_close = raw.find("]]", i, nxt)
        if stray_close != -1:
            errors.append(f"{fname}: stray ']]' at raw offset {stray_close}")
        chunk = raw[i:nxt]
        if "[[" in chunk:
            errors.append(f"{fname}: stray '[[' at raw offset {i + chunk.find('[[')}")
        text.append(chunk)
        out_len += len(chunk)
        if not m:
            break
        typ = m.group(1)
        if typ not in TYPES:
            errors.append(f"{fname}: unknown type {typ!r} at raw offset {m.start()}")
        vstart = m.end()
        close = raw.find("]]", vstart)
        if close == -1:
            errors.append(f"{fname}: unterminated markup at raw offset {m.start()}")
            return "".join(text), spans
        value = raw[vstart:close]
        if "[[" in value:
            errors.append(f"{fname}: '[[' inside value at raw offset {m.start()}")
        if value == "" or value != value.strip():
            errors.append(f"{fname}: empty value or surrounding whitespace {value!r}")
        spans.append({"start": out_len, "end": out_len + len(value), "type": typ, "_value": value})
        text.append(value)
        out_len += len(value)
        i = close + 2
    return "".join(text), spans


def main():
    errors = []
    records = []
    files = sorted(f for f in os.listdir(DOCS) if f.endswith(".txt"))
    seen_ids = set()
    for fname in files:
        m = NAME_RE.match(fname)
        if not m:
            errors.append(f"{fname}: bad file name")
            continue
        doc_id, doc_type = m.group(1), m.group(2)
        if doc_id in seen_ids:
            errors.append(f"{fname}: duplicate id {doc_id}")
        seen_ids.add(doc_id)
        with open(os.path.join(DOCS, fname), encoding="utf-8") as fh:
            raw = fh.read()
        text, spans = parse(raw, fname, errors)
        # stray brackets remaining in the output text that look like markup
        if OPEN_RE.search(text):
            errors.append(f"{fname}: markup-like '[[TYPE|' left in output text")
        for s in spans:
            if text[s["start"]:s["end"]] != s["_value"]:
                errors.append(f"{fname}: offset mismatch for {s['_value']!r}")
        spans.sort(key=lambda s: (s["start"], s["end"]))
        for a, b in zip(spans, spans[1:]):
            if b["start"] < a["end"]:
                errors.append(f"{fname}: overlapping spans {a['_value']!r} / {b['_value']!r}")
        records.append({
            "id": doc_id,
            "doc_type": doc_type,
            "text": text,
            "spans": [{"start": s["start"], "end": s["end"], "type": s["type"]} for s in spans],
        })
    if errors:
        for e in errors:
            print("ERROR:", e, file=sys.stderr)
        print(f"{len(errors)} problem(s); {OUT} not written", file=sys.stderr)
        sys.exit(1)
    with open(OUT, "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, sort_keys=False) + "\n")
    print(f"wrote {len(records)} documents, {sum(len(r['spans']) for r in records)} spans to {OUT}")


if __name__ == "__main__":
    main()
