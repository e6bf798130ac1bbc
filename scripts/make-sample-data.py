#!/usr/bin/env python3
"""Write the synthetic sample dataset in datasets/sample/.

Every person, number and address here is invented by this script from a fixed
seed: the data looks like clinical notes and bank/insurance conversations with
PII in them, so that the pipeline has something realistic to mask, but none of
it refers to a real person. Card numbers pass Luhn and IBANs pass mod-97 so
that validators treat them as real; SSNs use the 9xx area, which is never
issued; phone numbers use the fictional 555-01xx block.

Every PII value written into a record is also listed, per record, in
datasets/sample-pii.json (synthetic values only), so that a test can check
that masking the sample leaves none of them behind.

Run: python3 scripts/make-sample-data.py   (output is byte-identical each run)
"""
import json
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "sample")
rng = random.Random(20261122)
# The PII values of the record being made, as (type, value) pairs.
VALUES = []


def v(kind, value):
    """Records a PII value of the current record and returns it."""
    VALUES.append({"type": kind, "value": value})
    return value

FIRST = ["Amara", "Bjorn", "Chiara", "Dmitri", "Elif", "Farhan", "Grace", "Hiroshi", "Ines", "Jamal",
         "Katarzyna", "Luis", "Mei", "Noah", "Oluwaseun", "Priya", "Quentin", "Rosa", "Sven", "Thandiwe",
         "Uriel", "Valentina", "Wei", "Ximena", "Yusuf", "Zofia", "José", "Zoë", "Anaïs", "Søren"]
LAST = ["Okafor", "Lindqvist", "Rossi", "Volkov", "Yilmaz", "Rahman", "O'Neill", "Tanaka", "Moreau", "Haddad",
        "Nowak", "García", "Chen", "Fischer", "Adeyemi", "Iyer", "Lefebvre", "Silva", "Berg", "Dlamini",
        "Cohen", "Romano", "Zhang", "Hernández", "Aydın", "Kowalczyk", "Müller", "Nguyen", "Kapoor", "Ødegaard"]
STREETS = ["Maple", "Harbor", "Cedar", "Lakeview", "Mill", "Juniper", "Orchard", "Riverside", "Summit", "Willow"]
SUFFIX = ["Street", "Ave", "Road", "Lane", "Blvd", "Drive", "Court"]
CITIES = [("Springfield", "IL", "627"), ("Riverton", "WY", "825"), ("Fairview", "OR", "970"),
          ("Madison", "WI", "537"), ("Greenville", "SC", "296"), ("Franklin", "TN", "370")]
CONDITIONS = [("type 2 diabetes", "metformin 500 mg twice daily"), ("hypertension", "lisinopril 10 mg daily"),
              ("asthma", "albuterol inhaler as needed"), ("hypothyroidism", "levothyroxine 50 mcg daily"),
              ("atrial fibrillation", "apixaban 5 mg twice daily"), ("migraine", "sumatriptan 50 mg as needed")]


def name():
    return rng.choice(FIRST), rng.choice(LAST)


def ssn():
    return v("US_SSN", f"9{rng.randint(0, 99):02d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}")


def phone():
    return v("PHONE", f"({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}")


def dob():
    return v("DATE_OF_BIRTH", f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1938, 2004)}")


def luhn_complete(prefix, length):
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return digits + str((10 - total % 10) % 10)


def card():
    c = luhn_complete(rng.choice(["4", "51", "2221", "37"]), 16 if rng.random() < 0.8 else 15)
    return v("CREDIT_CARD", " ".join(c[i:i + 4] for i in range(0, len(c), 4)))


def iban():
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))  # DE: 8-digit bank code + 10-digit account
    num = int("".join(str(int(ch, 36)) for ch in bban + "DE00"))
    check = 98 - num % 97
    return v("IBAN", f"DE{check:02d}{bban}")


def address():
    city, st, z3 = rng.choice(CITIES)
    unit = f", Apt {rng.randint(1, 40)}" if rng.random() < 0.3 else ""
    return v("STREET_ADDRESS", f"{rng.randint(10, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIX)}{unit}, {city}, {st} {z3}{rng.randint(10, 99)}")


def email(first, last):
    return v("EMAIL", f"{first.lower()[0]}{last.lower().replace(chr(39), '')}{rng.randint(1, 99)}@example.com")


def clinical(i):
    f, l = name()
    cond, med = rng.choice(CONDITIONS)
    mrn = f"MRN {v('MEDICAL_RECORD_NUMBER', str(rng.randint(10000000, 99999999)))}"
    dr_f, dr_l = name()
    note = (f"Patient: {v('PERSON', l.upper() + ', ' + f)}\nDOB: {dob()}  {mrn}\nSeen by Dr. {v('PERSON', dr_l)} on {v('DATE', str(rng.randint(1, 12)) + '/' + str(rng.randint(1, 28)) + '/2026')}.\n"
            f"{rng.randint(24, 88)}-year-old with {cond}, follow-up visit. BP {rng.randint(110, 160)}/{rng.randint(65, 95)}. "
            f"Continues {med}. Lives at {address()}; contact {phone()}.")
    summary = (f"Follow-up for {cond}. Blood pressure recorded; medication unchanged ({med}). "
               f"Next review in {rng.choice([4, 6, 8, 12])} weeks.")
    return {"messages": [
        {"role": "system", "content": "You summarise clinical notes for the care team without repeating identifiers."},
        {"role": "user", "content": "Summarise this note:\n" + note},
        {"role": "assistant", "content": summary},
    ]}


def bank(i):
    f, l = name()
    kind = rng.choice(["card", "iban", "address", "dispute"])
    if kind == "card":
        q = f"Hi, this is {v('PERSON', f + ' ' + l)}. My card {card()} was declined at a store today. My SSN is {ssn()} if you need it."
        a = ("I'm sorry about the declined payment. For your security please don't share your full card or Social Security "
             "number in chat. I've flagged the card for review; you can check its status in the app under Cards.")
    elif kind == "iban":
        q = f"Please send EUR {rng.randint(50, 5000)}.00 to {iban()} (account of {v('PERSON', rng.choice(FIRST) + ' ' + rng.choice(LAST))}). Reach me at {email(f, l)}."
        a = ("I can't start a transfer from chat. You can send an international transfer in the app under Payments; "
             "it will ask you to confirm the recipient's IBAN and name.")
    elif kind == "address":
        q = f"I moved. New address: {address()}. Phone {phone()}. — {v('PERSON', f + ' ' + l)}"
        a = "Thanks for letting us know. Address changes have to be confirmed in the app under Profile so we can verify them."
    else:
        q = f"I don't recognise a charge of ${rng.randint(5, 900)}.{rng.randint(0, 99):02d} on card ending {rng.randint(1000, 9999)}. Routing 021000021, account {v('US_BANK_ACCOUNT', str(rng.randint(10000000, 999999999)))}."
        a = "I've opened a dispute for that charge. You'll get a provisional credit within 10 business days while we investigate."
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def insurance(i):
    f, l = name()
    member = v("INSURANCE_ID", f"{rng.choice(['XKW', 'BHP', 'QMA'])}{rng.randint(100000000, 999999999)}")
    q = (f"Claim question for {v('PERSON', f + ' ' + l)}, member ID {member}, DOB {dob()}. I had an MRI on "
         f"{v('DATE', str(rng.randint(1, 12)) + '/' + str(rng.randint(1, 28)) + '/2026')} and the claim was denied. Call me at {phone()}.")
    a = rng.choice([
        "Denials for imaging usually mean a prior authorization was missing. Ask your provider to submit one and we will reprocess the claim.",
        "I can see why this is frustrating. You can appeal within 180 days; the appeal form is in the member portal under Claims.",
        "The claim was denied as out of network. If no in-network provider was available, you can request a network exception.",
    ])
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


LABELS = {}


def write(name, make, n):
    path = os.path.join(OUT, name)
    labels = []
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for i in range(n):
            VALUES.clear()
            record = make(i)
            text = json.dumps(record, ensure_ascii=False)
            for item in VALUES:
                assert item["value"] in "".join(m["content"] for m in record["messages"]), item
            labels.append(list(VALUES))
            fh.write(text + "\n")
    LABELS[name] = labels
    print(f"wrote {n} records to {os.path.relpath(path)}")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("clinical_notes.jsonl", clinical, 120)
    write("bank_chats.jsonl", bank, 120)
    write("insurance_chats.jsonl", insurance, 80)
    path = os.path.join(OUT, "..", "sample-pii.json")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(LABELS, fh, ensure_ascii=False, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"wrote the PII values of every record to {os.path.relpath(path)}")
