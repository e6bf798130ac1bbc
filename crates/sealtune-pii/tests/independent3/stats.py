#!/usr/bin/env python3
"""Print Markdown tables (documents by domain, doc types, spans per type) from all.jsonl."""
import collections
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DOMAINS = [  # by document id range, fixed when the corpus was written
    ("US health care", 1, 35),
    ("Banking / finance", 36, 60),
    ("Insurance", 61, 80),
    ("HR / IT support / customer service", 81, 100),
]

recs = [json.loads(l) for l in open(os.path.join(HERE, "all.jsonl"), encoding="utf-8")]


def domain(doc_id):
    n = int(doc_id)
    for name, lo, hi in DOMAINS:
        if lo <= n <= hi:
            return name
    return "other"


print("| Domain | Documents | Spans | Words |")
print("|---|---:|---:|---:|")
for name, lo, hi in DOMAINS:
    rs = [r for r in recs if domain(r["id"]) == name]
    print(f"| {name} ({lo:04d}–{hi:04d}) | {len(rs)} | {sum(len(r['spans']) for r in rs)} | "
          f"{sum(len(r['text'].split()) for r in rs)} |")
print(f"| **Total** | **{len(recs)}** | **{sum(len(r['spans']) for r in recs)}** | "
      f"**{sum(len(r['text'].split()) for r in recs)}** |")
print()
print("| Type | Spans | Documents containing |")
print("|---|---:|---:|")
c = collections.Counter(s["type"] for r in recs for s in r["spans"])
d = collections.Counter(t for r in recs for t in {s["type"] for s in r["spans"]})
for t, n in sorted(c.items(), key=lambda x: (-x[1], x[0])):
    print(f"| {t} | {n} | {d[t]} |")
print()
print("| Domain | Document types |")
print("|---|---|")
for name, lo, hi in DOMAINS:
    types = [f"{r['id']} {r['doc_type']}" for r in recs if domain(r["id"]) == name]
    print(f"| {name} | " + ", ".join(types) + " |")
