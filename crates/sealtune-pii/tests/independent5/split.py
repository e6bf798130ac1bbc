#!/usr/bin/env python3
"""Split all.jsonl (written by convert.py) into dev.jsonl and holdout.jsonl.

A document goes to dev.jsonl when the first byte of SHA-256("independent5:" + id)
is even, to holdout.jsonl when it is odd. all.jsonl is removed afterwards: the two
parts are the committed files. Running convert.py then this script twice gives
byte-identical output.

Usage: python3 convert.py && python3 split.py
"""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    src = os.path.join(HERE, "all.jsonl")
    with open(src, encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    import json
    parts = {"dev.jsonl": [], "holdout.jsonl": []}
    for line in lines:
        doc_id = json.loads(line)["id"]
        first = hashlib.sha256(("independent5:" + doc_id).encode("utf-8")).digest()[0]
        parts["dev.jsonl" if first % 2 == 0 else "holdout.jsonl"].append(line)
    for name, part in parts.items():
        with open(os.path.join(HERE, name), "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(part)
        print(f"wrote {len(part)} documents to {name}")
    os.remove(src)


if __name__ == "__main__":
    main()
