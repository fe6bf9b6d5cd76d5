"""The partner's delivered identifiers that the nightly review reads are chosen in the warehouse
(lnob.transform.voices.partner_identifiers with ``texts``): only those that share a word or a phone
with the testimonies. Left out must mean "could not be found": every text gets exactly the findings
it gets against everything the partner delivered, whatever the script, case or digits."""

from __future__ import annotations

import random
import string
from types import SimpleNamespace

import pytest
from lnob.platform.config import RAW_SCHEMA
from lnob.transform.voices import PartnerIdentifiers, detect, partner_identifiers

pytestmark = pytest.mark.integration

TABLE = "zz_test_partner_identifiers"

# Real shapes: names in Latin script with diacritics, Bengali, Devanagari and Vietnamese; phones
# with separators, country codes and Bengali digits; ids; values a folding or a locale could change.
DELIVERED = [
    "Rahima Begum",
    "RAHIMA  begum",
    "Abdul Karim 2",
    "Nguyễn Văn An",
    "রহিমা বেগম",
    "सीता देवी",
    "Straße Müller",
    "STRASSE",
    "İsmail Yılmaz",
    "O'Neil",
    "+880 1712-345678",
    "০১৭১২৩৪৫৬৭৮",
    "0712 345 678",
    "0733 444 555",
    "P-000123",
    "ID 4471 2290",
    "n/a",
    "ab",
    "x_y__z",
    "Zawadi Chebet",
    "１２３４５６７８",
]

TEXTS = [
    "My name is Rahima Begum and I live near the market.",
    "rahima told me about the water point",
    "Call me on 01712 345678 or ০১৭১২-৩৪৫৬৭৮ any day",
    "Nguyễn Văn An đã nói với tôi",
    "আমার নাম রহিমা, আমি ক্যাম্পে থাকি",
    "मेरा नाम सीता है",
    "I work at the Strasse with Müller every week",
    "ISMAIL came with Yılmaz and O'NEIL",
    "My card says P-000123; the other is ID 4471 2290",
    "Zawadi said the clinic was closed. Chebet agreed.",
    "The number 12345678 is written on the door",
    "Nothing here names anyone at all.",
    "",
]


@pytest.fixture
def delivered(db):
    rng = random.Random(11)
    noise = ["".join(rng.choice(string.printable) for _ in range(rng.randint(0, 24))) for _ in range(3000)]
    words = sorted({w for v in DELIVERED for w in v.split()})
    mixed = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(1000)]
    rows = DELIVERED + noise + mixed
    with db.cursor() as cur:
        cur.execute(f"create schema if not exists {RAW_SCHEMA}")
        cur.execute(f'drop table if exists {RAW_SCHEMA}."{TABLE}"')
        cur.execute(f'create table {RAW_SCHEMA}."{TABLE}" (full_name text, phone text, national_id text)')
        cur.executemany(
            f'insert into {RAW_SCHEMA}."{TABLE}" values (%s, %s, %s)',
            [(v, rows[(i * 7) % len(rows)], rows[(i * 13) % len(rows)]) for i, v in enumerate(rows)],
        )
    field = SimpleNamespace
    source = SimpleNamespace(
        raw_table=TABLE,
        fields=[
            field(name="full_name", identifier=True, pseudonymise=False),
            field(name="phone", identifier=False, pseudonymise=True),
            field(name="national_id", identifier=True, pseudonymise=False),
        ],
    )
    reg = SimpleNamespace(sources_of=lambda partner: [source] if partner == "p1" else [])
    texts = TEXTS + [" ".join(rng.sample(mixed, 3)) + " and then " + rng.choice(noise) for _ in range(300)]
    yield reg, texts
    with db.cursor() as cur:
        cur.execute(f'drop table {RAW_SCHEMA}."{TABLE}"')


def test_identifiers_chosen_for_the_texts_give_every_text_the_same_findings(db, delivered):
    reg, texts = delivered
    with db.cursor() as cur:
        everything = partner_identifiers(cur, reg, "p1")
        chosen = partner_identifiers(cur, reg, "p1", texts=texts)
        nothing = partner_identifiers(cur, reg, "p1", texts=["... ?! —"])
        by_phone = "Reach me at 254733444555 tonight"  # "0733 444 555": no word shared, nine digits
        phone_only = partner_identifiers(cur, reg, "p1", texts=[by_phone])
    assert chosen.values < everything.values, "the warehouse chose nothing out"
    assert chosen.values and chosen.phones and chosen.name_words
    # a text without a word or a digit keeps only the values Python must tokenise
    with db.cursor() as cur:
        cur.execute(
            f'select full_name from {RAW_SCHEMA}."{TABLE}" union select phone from {RAW_SCHEMA}."{TABLE}" '
            f'union select national_id from {RAW_SCHEMA}."{TABLE}"'
        )
        not_ascii = PartnerIdentifiers()
        for (value,) in cur.fetchall():
            if value and not value.isascii():
                not_ascii.add(value)
    assert not_ascii.values and nothing.values == not_ascii.values
    assert [f.rule for f in detect(by_phone, "text", None, phone_only)] == ["delivered_phone"]
    assert detect(by_phone, "text", None, phone_only) == detect(by_phone, "text", None, everything)
    compared = 0
    for text in texts:
        for region in ("BD", "KE"):
            assert detect(text, "text", region, chosen) == detect(text, "text", region, everything), text
            compared += 1
    found = [f for t in TEXTS for f in detect(t, "text", "BD", chosen) if f.rule.startswith("delivered")]
    assert {f.rule for f in found} == {"delivered_identifier", "delivered_name_word", "delivered_phone"}
    assert compared == 2 * len(texts)
