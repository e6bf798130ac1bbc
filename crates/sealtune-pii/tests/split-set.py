#!/usr/bin/env python3
"""Split an independent set's all.jsonl (written by its convert.py) into dev.jsonl
and holdout.jsonl.

A document goes to dev.jsonl when the first byte of SHA-256("<set>:" + id) is even,
to holdout.jsonl when it is odd, where <set> is the set's directory name
(independent2 ... independent6). all.jsonl is removed afterwards: the two parts are
the committed files. Running the set's convert.py then this script gives
byte-identical output.

Usage, from a set's directory: python3 convert.py && python3 ../split-set.py
"""
import hashlib
import json
import os
import sys


def main():
    here = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.getcwd())
    name = os.path.basename(here)
    src = os.path.join(here, "all.jsonl")
    with open(src, encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    parts = {"dev.jsonl": [], "holdout.jsonl": []}
    for line in lines:
        doc_id = json.loads(line)["id"]
        first = hashlib.sha256((name + ":" + doc_id).encode("utf-8")).digest()[0]
        parts["dev.jsonl" if first % 2 == 0 else "holdout.jsonl"].append(line)
    for part_name, part in parts.items():
        with open(os.path.join(here, part_name), "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(part)
        print(f"wrote {len(part)} documents to {part_name}")
    os.remove(src)


if __name__ == "__main__":
    main()
