#!/usr/bin/env python3
"""Build crates/sealtune-pii/data/names.tsv, the person-name gazetteer, and
crates/sealtune-pii/data/words.txt, the common-word safe list.

Sources (both obtained through package registries, no hand-typed names):
  * PyPI sdist `names==0.3.0` (MIT code); its data files dist.male.first,
    dist.female.first and dist.all.last are the 1990 US Census name
    frequency tables, which are public domain (US government work).
  * Debian package `wamerican` (/usr/share/dict/american-english, SCOWL
    word list, permissive licence), used only to flag names that are also
    ordinary lower-case English words ("will", "brown", "grace").

Output: one line per name, sorted by bytes, `name<TAB>flags`, where name
is lower-case ASCII and flags is a subset of "flw" (first name, last name,
common English word). Surnames are kept when their 1990 frequency is at
least 0.001 percent. words.txt: one lower-case ASCII word per line, sorted,
every all-lower-case alphabetic entry of the word list (two letters or more)
and every contraction with its apostrophe dropped ("youre"), that is not
already in names.tsv: the safe list that tells a capitalised
ordinary word ("Findings", "Customer") from a name in a name context.
Running the script twice gives byte-identical output.

Usage: python3 scripts/build-name-gazetteer.py [--check]
  (needs `pip` and `apt-get install wamerican`)
"""
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

SDIST = "names-0.3.0.tar.gz"
SDIST_SHA256 = "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671"
WORDS = "/usr/share/dict/american-english"
MIN_SURNAME_FREQ = 0.001
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "sealtune-pii", "data", "names.tsv")
WORDS_OUT = os.path.join(ROOT, "crates", "sealtune-pii", "data", "words.txt")


def fetch_sdist(tmp):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--no-binary", ":all:", "names==0.3.0", "-d", tmp],
        check=True,
    )
    path = os.path.join(tmp, SDIST)
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"{SDIST}: sha256 {digest} differs from pinned {SDIST_SHA256}")
    return data


def read_table(tar, member, min_freq):
    names = []
    text = tar.extractfile(member).read().decode("ascii")
    for line in io.StringIO(text):
        parts = line.split()
        if len(parts) != 4:
            continue
        if float(parts[1]) < min_freq:
            continue
        names.append(parts[0].lower())
    return names


def main():
    if not os.path.exists(WORDS):
        sys.exit(f"{WORDS} missing: run `apt-get install wamerican` first")
    with tempfile.TemporaryDirectory() as tmp:
        data = fetch_sdist(tmp)
    tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    base = "names-0.3.0/names/"
    first = set(read_table(tar, base + "dist.male.first", 0.0))
    first |= set(read_table(tar, base + "dist.female.first", 0.0))
    last = set(read_table(tar, base + "dist.all.last", MIN_SURNAME_FREQ))
    with open(WORDS, encoding="utf-8") as f:
        words = {w.strip() for w in f if w.strip() and w.strip().islower()}
    # Contractions without their apostrophe ("you're" -> "youre"), as the detector folds them.
    words |= {w.replace("'", "") for w in words if "'" in w and not w.endswith("'s")}
    lines = []
    for name in sorted(first | last):
        if not name.isascii() or not name.isalpha():
            continue
        flags = ("f" if name in first else "") + ("l" if name in last else "")
        if name in words:
            flags += "w"
        lines.append(f"{name}\t{flags}\n")
    out = "".join(lines).encode("ascii")
    named = {line.split("\t")[0] for line in lines}
    common = sorted(
        w for w in words
        if w.isascii() and w.isalpha() and len(w) >= 2 and w not in named
    )
    words_out = "".join(w + "\n" for w in common).encode("ascii")
    for path, data, what in ((OUT, out, f"{len(lines)} names"),
                             (WORDS_OUT, words_out, f"{len(common)} words")):
        if "--check" in sys.argv:
            with open(path, "rb") as f:
                if f.read() != data:
                    sys.exit(f"{path} is not what the script generates")
            print(f"{path}: up to date ({what})")
            continue
        with open(path, "wb") as f:
            f.write(data)
        print(f"wrote {path}: {what}, {len(data)} bytes")


if __name__ == "__main__":
    main()
