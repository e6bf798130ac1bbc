#!/usr/bin/env python3
"""Convert marked-up documents (docs/*.txt, inline [[TYPE|value]] markup) to JSONL.

Writes dev.jsonl (SHA-256 of id has even first byte) and holdout.jsonl (odd).
Fails loudly on malformed markup, unknown types, offset mismatches or overlaps.
"""
import hashlib, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "docs")
TYPES = {"PERSON", "STREET_ADDRESS", "ZIP_CODE", "EMAIL", "PHONE", "URL", "IP_ADDRESS",
         "MAC_ADDRESS", "DATE", "DATE_OF_BIRTH", "AGE_OVER_89", "US_SSN", "CREDIT_CARD",
         "IBAN", "US_BANK_ACCOUNT", "US_BANK_ROUTING", "MEDICAL_RECORD_NUMBER",
         "INSURANCE_ID", "NPI", "DEA_NUMBER", "DRIVER_LICENSE", "PASSPORT", "SECRET"}
MARK = re.compile(r"\[\[([A-Z_0-9]+)\|(.*?)\]\]", re.S)
NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.txt$")


def die(msg):
    sys.stderr.write("ERROR: " + msg + "\n")
    sys.exit(1)


def parse(raw, fname):
    out, spans, pos = [], [], 0
    length = 0
    for m in MARK.finditer(raw):
        typ, val = m.group(1), m.group(2)
        if typ not in TYPES:
            die(f"{fname}: unknown type {typ!r}")
        if not val or val != val.strip():
            die(f"{fname}: empty or padded value {val!r}")
        if "[[" in val or "|" in val:
            die(f"{fname}: nested/odd markup in value {val!r}")
        chunk = raw[pos:m.start()]
        out.append(chunk); length += len(chunk)
        start = length
        out.append(val); length += len(val)
        spans.append({"start": start, "end": length, "type": typ, "_val": val})
        pos = m.end()
    out.append(raw[pos:])
    text = "".join(out)
    if "[[" in text or "]]" in text:
        die(f"{fname}: stray markup brackets remain in text")
    spans.sort(key=lambda s: (s["start"], s["end"]))
    for s in spans:
        if text[s["start"]:s["end"]] != s["_val"]:
            die(f"{fname}: offset mismatch for {s['_val']!r}")
    for a, b in zip(spans, spans[1:]):
        if b["start"] < a["end"]:
            die(f"{fname}: overlapping spans {a['_val']!r} / {b['_val']!r}")
    for s in spans:
        del s["_val"]
    return text, spans


def main():
    files = sorted(f for f in os.listdir(DOCS) if f.endswith(".txt"))
    if not files:
        die("no documents found")
    seen = set()
    dev, hold = [], []
    for f in files:
        m = NAME.match(f)
        if not m:
            die(f"bad file name {f!r}")
        did, dtype = m.group(1), m.group(2)
        if did in seen:
            die(f"duplicate id {did}")
        seen.add(did)
        with open(os.path.join(DOCS, f), encoding="utf-8") as fh:
            raw = fh.read()
        text, spans = parse(raw.rstrip("\n") + "\n", f)
        rec = {"id": did, "doc_type": dtype, "text": text, "spans": spans}
        first = hashlib.sha256(did.encode("utf-8")).digest()[0]
        (dev if first % 2 == 0 else hold).append(rec)
    for name, recs in (("dev.jsonl", dev), ("holdout.jsonl", hold)):
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as fh:
            for r in recs:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(files)} documents: dev={len(dev)} holdout={len(hold)}")


if __name__ == "__main__":
    main()
