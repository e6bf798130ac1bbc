"""Check-digit helpers only (used to finish hand-chosen numbers and by convert.py)."""
import re


def digits(s):
    return re.sub(r"\D", "", s)


def luhn_ok(num):
    d = digits(num)
    if not d:
        return False
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_complete(partial):
    d = digits(partial)
    for c in "0123456789":
        if luhn_ok(d + c):
            return d + c


def aba_ok(num):
    d = digits(num)
    if len(d) != 9:
        return False
    w = [3, 7, 1] * 3
    return sum(int(a) * b for a, b in zip(d, w)) % 10 == 0


def aba_complete(partial8):
    d = digits(partial8)
    for c in "0123456789":
        if aba_ok(d + c):
            return d + c


def iban_ok(iban):
    s = re.sub(r"\s", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", s):
        return False
    r = s[4:] + s[:4]
    n = "".join(str(int(ch, 36)) for ch in r)
    return int(n) % 97 == 1


def iban_complete(country, bban):
    bban = re.sub(r"\s", "", bban).upper()
    r = bban + country + "00"
    n = "".join(str(int(ch, 36)) for ch in r)
    check = 98 - int(n) % 97
    return f"{country}{check:02d}{bban}"


def npi_ok(npi):
    d = digits(npi)
    return len(d) == 10 and luhn_ok("80840" + d)


def npi_complete(partial9):
    d = digits(partial9)
    for c in "0123456789":
        if npi_ok(d + c):
            return d + c


def dea_complete(prefix2, six):
    d = digits(six)
    s = int(d[0]) + int(d[2]) + int(d[4]) + 2 * (int(d[1]) + int(d[3]) + int(d[5]))
    return f"{prefix2}{d}{s % 10}"
