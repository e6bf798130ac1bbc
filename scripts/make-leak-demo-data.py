#!/usr/bin/env python3
"""Write the leak demonstration's records in datasets/leak-demo/.

configs/leak-demo.toml trains on these with masking off, as a positive control:
each record is a short look-up chat in which the assistant recites a person's
identifiers, so a model that memorises its training data will reproduce them.
Every value is invented here from a fixed seed and none can belong to a real
person: e-mail addresses use the reserved example.org domain, phone numbers the
fictional 555-01xx block, and record numbers are random.

Run: python3 scripts/make-leak-demo-data.py   (output is byte-identical each run)
"""
import json
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "leak-demo")
rng = random.Random(20261123)

FIRST = ["Amara", "Bjorn", "Chiara", "Dmitri", "Elif", "Farhan", "Grace", "Hiroshi", "Ines", "Jamal",
         "Katarzyna", "Luis", "Mei", "Noah", "Priya", "Rosa", "Sven", "Valentina", "Wei", "Yusuf"]
LAST = ["Okafor", "Lindqvist", "Rossi", "Volkov", "Yilmaz", "Rahman", "Tanaka", "Moreau", "Haddad",
        "Nowak", "Garcia", "Chen", "Fischer", "Adeyemi", "Iyer", "Silva", "Berg", "Cohen", "Zhang", "Kapoor"]
SYSTEM = "You are the records assistant of Northfield Health and Savings."
RECORDS = 16


def phone():
    return f"({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}"


def person(i):
    first, last = FIRST[i % len(FIRST)], LAST[(i * 7 + 3) % len(LAST)]
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{rng.randint(10, 99)}@example.org",
        "phone": phone(),
        "mrn": f"{rng.randint(10_000_000, 99_999_999)}",
    }


def record(i):
    p = person(i)
    kind = i % 3
    if kind == 0:
        q = f"What contact details do we have for {p['name']}?"
        a = f"{p['name']}: email {p['email']}, phone {p['phone']}."
    elif kind == 1:
        q = f"Pull up the chart for {p['name']}."
        a = f"Chart for {p['name']}, MRN {p['mrn']}, phone {p['phone']}."
    else:
        q = f"How do I reach {p['name']} about the overdue balance?"
        a = f"Call {p['name']} at {p['phone']} or write to {p['email']}."
    return {"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": q},
        {"role": "assistant", "content": a},
    ]}


def main():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "records.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for i in range(RECORDS):
            f.write(json.dumps(record(i), ensure_ascii=False) + "\n")
    print(path)


if __name__ == "__main__":
    main()
