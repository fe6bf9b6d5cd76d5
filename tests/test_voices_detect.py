"""Automatic detection of identifying details in testimonies (lnob.transform.voices.detect), rule by rule,
on the very sentences the attack on the demo found published, and on clean text that must stay."""

from __future__ import annotations

import pytest
from lnob.transform.voices import PartnerIdentifiers, detect, mask, normalise_digits

pytestmark = pytest.mark.unit


def _delivered(*values: str) -> PartnerIdentifiers:
    ids = PartnerIdentifiers()
    for v in values:
        ids.add(v)
    return ids


def _kinds(
    text: str, region: str = "BD", ids: PartnerIdentifiers | None = None, places=()
) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in detect(text, "text", region, ids, places):
        out.setdefault(f.kind, set()).add(text[f.start : f.end])
    return out


def test_unicode_digits_are_normalised_one_for_one():
    assert normalise_digits("০১৭১২ ३४५ ٦٧٨ １２") == "01712 345 678 12"


def test_the_published_sentences_of_the_attack_are_caught():
    ids = _delivered("Karim Uddin")
    text = "My sister and her husband Karim Uddin were beaten at the camp gate by the guard Rashed Khan."
    assert mask(text, detect(text, "text", "BD", ids)) == (
        "My sister and her husband [name] were beaten at the camp gate by the guard [name]."
    )
    caps = _kinds("MY NAME IS FATIMA BEGUM.")
    assert "FATIMA BEGUM" in caps["name"] and caps["all_caps"]
    text = "আমার নাম ফাতেমা খাতুন, আমার ফোন নম্বর ০১৭১২৩৪৫৬৭৮।"
    assert mask(text, detect(text, "text", "BD")) == "আমার নাম [name], আমার ফোন নম্বর [phone]।"
    text = "Write to karim dot uddin at gmail dot com, we stay in Kutupalong camp 3, block B12, house 45."
    assert mask(text, detect(text, "text", "BD")) == "Write to [email], we stay in [place], [place], [place]."
    assert _kinds("Amina Hassan +254 712 345 678", "KE")["phone"] == {"+254 712 345 678"}


@pytest.mark.parametrize(
    "text, region, expected",
    [
        ("Mail fatema.k@example.org today", "BD", "Mail [email] today"),
        ("write to halima (at) example [dot] org please", "KE", "write to [email] please"),
        ("call 0712 345 678 or +880 1712-345678", "BD", "call [phone] or [phone]"),
        ("मेरा नाम सीता देवी है और मेरा नंबर ९८७६५४३२१० है", "IN", "मेरा नाम [name] है और मेरा नंबर [phone] है"),
        (
            "Jina langu ni Wanjiru Kamau, nipigie 0722 123 456.",
            "KE",
            "Jina langu ni [name], nipigie [phone].",
        ),
        ("Tên tôi là Giang Thị Mai.", "VN", "Tên tôi là [name]."),
        ("my ID is 27654321.", "KE", "my ID is [id]."),
        ("zero seven one two three four five six seven", "KE", "[phone]"),
    ],
)
def test_each_rule(text, region, expected):
    assert mask(text, detect(text, "text", region)) == expected


def test_values_the_partner_delivered_anywhere_are_found_whatever_case_or_script():
    ids = _delivered("Fatema Uddin", "+880 1964947489", "BRC-20261121-000001", "ফাতেমা খাতুন", "brac_field_03")
    found = _kinds(
        "we went with fatema uddin; her number 01964-947489, card brc-20261121-000001. "
        "ফাতেমা খাতুন came too, brac_field_03 wrote it",
        ids=ids,
    )
    assert {"fatema uddin", "ফাতেমা খাতুন", "brac_field_03"} <= found["name"]
    assert "01964-947489" in found["phone"]
    # a single word of a delivered name when it stands as a name (capitalised), not as a word
    assert _kinds("Then Uddin came.", ids=ids)["name"] == {"Uddin"}


def test_registry_areas_are_places():
    assert _kinds("We moved to Dhaka last year.", places=["Dhaka"])["place"] == {"Dhaka"}


@pytest.mark.parametrize(
    "text",
    [
        "The clinic is two hours away and the road floods, so we only go when someone is very sick.",
        "In 2024 we had 3 goats and 12 children.",
        "We collect water from the river before sunrise; in the dry season it is not clean.",
        "My daughter has no birth certificate, so the school asks us for papers we do not have.",
    ],
)
def test_clean_text_has_no_finding(text):
    assert detect(text, "text", "BD", _delivered("Karim Uddin"), ["Dhaka"]) == []


def test_ascii_words_are_found_as_in_any_script():
    """The ASCII path of ``tokens`` (a regex, for a million identifiers a night) gives exactly the
    words, offsets and folded forms of the path for any script."""
    import random
    import string

    from lnob.transform.voices import _tokens_any_script, tokens

    rng = random.Random(17)
    alphabet = string.printable
    texts = ["Rahima Begum, P-000123", "  +880 1712-345678 ", "Camp 14, Block B_7", "O'Neil  x_y__z", ""]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    for text in texts:
        assert tokens(text) == _tokens_any_script(text), text
    assert tokens("Nguyễn Văn An") == _tokens_any_script("Nguyễn Văn An")


def test_an_ascii_identifier_is_kept_as_in_any_script():
    """``PartnerIdentifiers.add``'s ASCII path keeps the same words, phones and name words as the
    path for any script (a trailing no-break space, which is neither word nor digit, forces it)."""
    import random
    import string

    rng = random.Random(5)
    values = ["Rahima Begum", "P-000123", "+880 1712-345678", "n/a", "ab", "Abdul  Karim 2", "x_y_z"]
    values += ["".join(rng.choice(string.printable) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    fast, slow = PartnerIdentifiers(), PartnerIdentifiers()
    for value in values:
        fast.add(value)
        slow.add(value + "\u00a0")
    assert fast.values and fast.phones and fast.name_words
    assert (fast.values, fast.phones, fast.name_words, fast.longest) == (
        slow.values,
        slow.phones,
        slow.name_words,
        slow.longest,
    )
