"""Check-digit helpers for the hand-written corpus.

Used only to (a) compute the last digit of a hand-chosen number so that it is
valid, and (b) let convert.py verify that every checksummed span is valid.
No values are generated here.
"""
import re
import string


_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3",
          "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
          "nine": "9"}


def spell_to_digits(s):
    """Turn spelled-out digits ('four one five') into digits for checking."""
    return re.sub(r"(?i)\b(" + "|".join(_WORDS) + r")\b",
                  lambda m: _WORDS[m.group(1).lower()], s)


def digits(s):
    return re.sub(r"\D", "", spell_to_digits(s))


# ---------- Luhn (credit cards, NPI) ----------
def luhn_ok(num):
    d = [int(c) for c in num]
    total = 0
    for i, v in enumerate(reversed(d)):
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return total % 10 == 0


def luhn_digit(payload):
    for c in "0123456789":
        if luhn_ok(payload + c):
            return c
    raise ValueError(payload)


def npi_digit(first9):
    return luhn_digit("80840" + first9)


def npi_ok(s):
    d = digits(s)
    return len(d) == 10 and d[0] in "12" and luhn_ok("80840" + d)


def card_ok(s):
    d = digits(s)
    return 13 <= len(d) <= 19 and luhn_ok(d)


# ---------- ABA routing ----------
def aba_ok(s):
    d = digits(s)
    if len(d) != 9:
        return False
    w = [3, 7, 1] * 3
    return sum(int(a) * b for a, b in zip(d, w)) % 10 == 0


def aba_digit(first8):
    for c in "0123456789":
        if aba_ok(first8 + c):
            return c
    raise ValueError(first8)


# ---------- IBAN ----------
def _iban_num(s):
    return int("".join(str(int(ch, 36)) for ch in s))


def iban_ok(s):
    s = re.sub(r"[\s-]", "", s).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", s):
        return False
    return _iban_num(s[4:] + s[:4]) % 97 == 1


def iban_make(country, bban):
    bban = bban.replace(" ", "").upper()
    chk = 98 - _iban_num(bban + country + "00") % 97
    return f"{country}{chk:02d}{bban}"


# ---------- DEA ----------
def dea_ok(s):
    s = re.sub(r"[\s-]", "", s).upper()
    m = re.fullmatch(r"([A-Z])([A-Z9])(\d{7})", s)
    if not m:
        return False
    d = [int(c) for c in m.group(3)]
    chk = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return chk == d[6]


def dea_digit(first6):
    d = [int(c) for c in first6]
    return str((d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10)


# ---------- SSN ----------
def ssn_ok(s):
    d = digits(s)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9":
        return False
    return group != "00" and serial != "0000"


# ---------- NANP phone ----------
def nanp_ok(s):
    """Check NANP numbers (area + exchange start 2-9). Non-NANP -> True."""
    core = re.split(r"(?i)\s*(?:ext\.?|x|extension)\s*\d+\s*$", s)[0]
    if core.strip().startswith("+") and not core.strip().startswith("+1"):
        return True
    d = digits(core)
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    if len(d) == 10:
        return d[0] in "23456789" and d[3] in "23456789"
    if len(d) == 7:
        return d[0] in "23456789"
    return False


if __name__ == "__main__":
    import sys
    kind, val = sys.argv[1], sys.argv[2]
    if kind == "card":
        print(val + luhn_digit(val))
    elif kind == "npi":
        print(val + npi_digit(val))
    elif kind == "aba":
        print(val + aba_digit(val))
    elif kind == "dea":
        print(val[:2] + val[2:] + dea_digit(val[2:]))
    elif kind == "iban":
        print(iban_make(val[:2], val[2:]))
