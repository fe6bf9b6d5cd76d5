"""Voices: testimonies reach ``marts`` only after a person reviewed them; a withdrawal reaches every copy.

Three jobs, each run before dbt builds the marts (``refresh``, called by
``pipeline.prepare_transform`` and ``lnob voices refresh``):

**Detection** (:func:`detect`). Every published free-text column of a voices source (the registry's
``free_text`` fields and ``language``) is scanned for
  - phone numbers in any script: Unicode digits (Bengali, Devanagari, Arabic-Indic, full-width...)
    are normalised first, then ``phonenumbers.PhoneNumberMatcher`` with the partner's country, plus
    a digit-run rule (six digits or more, separators allowed) and spelled-out digits;
  - e-mail addresses, written or spelled out ("karim dot uddin at gmail dot com");
  - places: camp / block / house / shed ... numbers ("Kutupalong camp 3"), a capitalised name before
    camp, settlement, village..., and the registry's area names and aliases;
  - every value the same partner delivered in an identifier or pseudonymised column of ANY of its
    sources (names, phones, ids, GPS), matched as whole words, Unicode-normalised (NFKC) and
    case-folded, whatever the script; a phone also by its last nine digits;
  - names after cue words in several languages (English, Bengali, Hindi, Nepali, Swahili,
    Vietnamese, Filipino, French, Spanish, Portuguese), two or more capitalised words in a row,
    and ALL-CAPS text (where capitals say nothing, so every such text needs a person).
A finding is a kind and a span; the review table keeps kinds and offsets only, never the text.

**Review** (``lnob_meta.testimony_review``, one row per testimony: ``testimony_key`` is the same
keyed-hash pseudonym as ``marts.fct_voices.testimony_key``). States: pending, approved (with the
reviewer's edited text or not), rejected, withdrawn. ``int_testimonies_reviewed`` publishes only
approved rows whose reviewed version is the current one. An approval of a text with an automatic
finding (the original, or an edit that still has one) is refused unless the reviewer overrides,
which is recorded. Every decision is logged in ``lnob_meta.testimony_review_log`` (no text).

**Withdrawal**. A testimony's consent is the latest delivery by date AND the latest by load
order: a "no" delivered in an earlier-dated folder but loaded later withdraws it. A withdrawn
testimony is set ``withdrawn`` (its edited text dropped), deleted from ``marts`` and
``marts_previous`` at once, and removed from every file under the exports and reports folders
(CSV and Parquet rewritten without its rows, any other file that holds it deleted);
``lnob_meta.testimony_withdrawal`` records the key, when, and which files were cleaned.

The loader role owns ``lnob_meta`` and reads ``raw``: detection and decisions run as it; deleting
published rows runs as the transformer, which owns ``marts`` and ``marts_previous``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lnob.platform.config import (
    META_SCHEMA,
    PREVIOUS_SCHEMA,
    PUBLISHED_SCHEMA,
    RAW_SCHEMA,
    Settings,
    settings,
)

if TYPE_CHECKING:
    from lnob.registry import Source

log = logging.getLogger(__name__)

STATES = ("pending", "approved", "rejected", "withdrawn")
MART = "fct_voices"
#: Columns of a voices source that reach the marts as text besides the registry's free_text fields.
PUBLISHED_TEXT_FIELDS = ("language",)
#: ISO 3166 alpha-2 region of each registry country, for phonenumbers.
REGION = {
    "BGD": "BD",
    "IND": "IN",
    "KEN": "KE",
    "NPL": "NP",
    "VNM": "VN",
    "PHL": "PH",
    "DNK": "DK",
    "CAN": "CA",
    "MWI": "MW",
}
TAGS = {"email": "[email]", "phone": "[phone]", "id": "[id]", "name": "[name]", "place": "[place]"}


class ReviewError(ValueError):
    """A review decision that cannot be applied (unknown id, finding without override...)."""


# --------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    column: str
    kind: str  # email, phone, id, name, place, all_caps
    rule: str  # which rule found it
    start: int
    end: int

    @property
    def tag(self) -> str | None:
        return TAGS.get(self.kind)


def normalise_digits(text: str) -> str:
    """Every Unicode decimal digit (Bengali ০-৯, Devanagari ०-९, ...) as its ASCII digit; one
    character for one, so offsets stay valid."""
    return "".join(
        str(unicodedata.decimal(c)) if not c.isascii() and unicodedata.decimal(c, None) is not None else c
        for c in text
    )


def fold(text: str) -> str:
    """Unicode-normalised (NFKC), case-folded: the form identifiers are compared in."""
    return unicodedata.normalize("NFKC", text).casefold()


def _is_word_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LMN"


#: An ASCII text's words: its letters and digits are exactly its characters of categories L and N
#: (no ASCII character is a combining mark), and NFKC and case folding leave ASCII as ``lower()``.
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")


def tokens(text: str) -> list[tuple[int, int, str]]:
    """Words in any script: runs of letters, combining marks (Bengali, Devanagari vowel signs)
    and digits, with their offsets and folded form."""
    if text.isascii():  # the identifiers of a million respondents: a regex, not a loop per character
        return [(m.start(), m.end(), m.group().lower()) for m in _ASCII_WORD.finditer(text)]
    return _tokens_any_script(text)


def _tokens_any_script(text: str) -> list[tuple[int, int, str]]:
    out, start = [], None
    for i, c in enumerate(text + " "):
        if i < len(text) and _is_word_char(c):
            if start is None:
                start = i
        elif start is not None:
            out.append((start, i, fold(normalise_digits(text[start:i]))))
            start = None
    return out


_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_DOT = r"(?:\s*[\(\[\{<]\s*dot\s*[\)\]\}>]\s*|\s+dot\s+|\.)"
_AT = r"(?:\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*|\s+at\s+|\s*@\s*)"
_SPELLED_EMAIL = re.compile(
    rf"(?i)\b[\w+-]+(?:{_DOT}[\w+-]+)*{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}"
    r"(?:com|org|net|edu|gov|info|mail|io|co|[a-z]{2})\b"
)
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().\-/]{0,2}\d){5,}")
_NUMBER_WORDS = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)"
_SPELLED_DIGITS = re.compile(rf"(?i)\b{_NUMBER_WORDS}(?:[\s,-]+{_NUMBER_WORDS}){{5,}}\b")
_PLACE_WORDS = (
    r"camp|block|house|holding|plot|shed|room|flat|building|road|lane|street|sector|ward|"
    r"village|para|mohalla|gali|zone|phase|kambi|kijiji|nyumba|ganda|xóm|thôn|barangay|purok"
)
_PLACE_NUMBER = re.compile(
    rf"(?:\b[A-Z][\w'-]+\s+)?(?i:\b(?:{_PLACE_WORDS})\b)\s*(?i:no\.?|number|nr\.?|#)?\s*[A-Za-z]?\d+[A-Za-z]?\b"
    rf"(?:\s*(?i:block|shed|house|room)\s*[A-Za-z]?\d*[A-Za-z]?)?"
)
_PLACE_NAMED = re.compile(
    r"\b[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?\s+(?i:camp|settlement|village|slum|colony|upazila|union|"
    r"district|town|estate|market)\b"
)
#: Cue words after which a name follows, in the partnership's languages.
_CUES = [
    # English
    "my name is",
    "my name's",
    "name is",
    "i am",
    "i'm",
    "call me",
    "called",
    "named",
    "known as",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "mr.",
    "mrs.",
    "ms.",
    "dr.",
    "my husband",
    "my wife",
    "her husband",
    "his wife",
    "my son",
    "my daughter",
    "my brother",
    "my sister",
    "my mother",
    "my father",
    "the guard",
    "the officer",
    "the chairman",
    "the doctor",
    "the nurse",
    "the teacher",
    "the majhi",
    "the imam",
    # Bengali, Hindi, Nepali
    "আমার নাম",
    "আমি",
    "নাম",
    "मेरा नाम",
    "मेरी नाम",
    "मैं",
    "मेरो नाम",
    "नाम",
    # Swahili
    "jina langu ni",
    "jina langu",
    "naitwa",
    "ninaitwa",
    "mimi ni",
    "bwana",
    "bi",
    # Vietnamese
    "tên tôi là",
    "tôi tên là",
    "tôi tên",
    "tên là",
    "tôi là",
    "anh",
    "chị",
    "ông",
    "bà",
    # Filipino
    "ang pangalan ko ay",
    "pangalan ko ay",
    "ako si",
    "si",
    # French, Spanish, Portuguese
    "je m'appelle",
    "mon nom est",
    "me llamo",
    "mi nombre es",
    "meu nome é",
    "chamo-me",
]
_CUE = re.compile(
    r"(?i)(?<![\w'])(?:"
    + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in sorted(_CUES, key=len, reverse=True))
    + r")(?=\s)"
)
#: Words that end a name after a cue, or that are no name in a run of capitals.
_STOP = {
    "and",
    "or",
    "but",
    "from",
    "of",
    "in",
    "at",
    "on",
    "to",
    "the",
    "a",
    "an",
    "is",
    "was",
    "were",
    "are",
    "i",
    "we",
    "he",
    "she",
    "they",
    "it",
    "my",
    "our",
    "his",
    "her",
    "their",
    "this",
    "that",
    "not",
    "very",
    "so",
    "because",
    "when",
    "with",
    "for",
    "by",
    "who",
    "which",
    "told",
    "said",
    "also",
    "too",
    "here",
    "there",
    "now",
    "then",
    "years",
    "old",
    "year",
    "sick",
    "ill",
    "poor",
    "tired",
    "afraid",
    "happy",
    "sad",
    "one",
    "two",
    "three",
    "mother",
    "father",
    "wife",
    "husband",
    "son",
    "daughter",
    "ni",
    "na",
    "wa",
    "ya",
    "la",
    "là",
    "và",
    "của",
    "ay",
    "ang",
    "ng",
    "y",
    "et",
    "e",
    "que",
    "है",
    "हूँ",
    "हूं",
    "और",
    "छ",
    "हो",
    "হয়",
    "এবং",
    "আর",
    "ও",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "god",
    "allah",
}
_MAX_NAME_WORDS = 3


def _is_latin(word: str) -> bool:
    return all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in word if c.isalpha())


def _all_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha() and _is_latin(c)]
    upper_words = re.findall(r"\b[A-Z]{2,}\b", text)
    return (
        len(letters) >= 8 and len(upper_words) >= 3 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    )


@dataclass
class PartnerIdentifiers:
    """What one partner delivered in identifier columns of any of its sources: whole values as word
    sequences, single name words, and phone numbers by their last nine digits."""

    values: set[tuple[str, ...]] = field(default_factory=set)
    name_words: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    longest: int = 1

    def add(self, value: str | None) -> None:
        if value is None or not str(value).strip():
            return
        value = str(value)
        if value.isascii():  # as below, without a loop per character (see `tokens`)
            words = tuple(_ASCII_WORD.findall(value.lower()))
            digits = _NOT_ASCII_DIGIT.sub("", value)
            is_name = not digits
        else:
            words = tuple(t for _, _, t in tokens(value))
            digits = re.sub(r"\D", "", normalise_digits(value))
            is_name = all(not any(ch.isdigit() for ch in w) for w in words)
        if len("".join(words)) < 3:  # "n/a", "-", a lone digit: no identifier to look for
            return
        self.values.add(words)  # not empty: three characters of words at least
        self.longest = max(self.longest, min(len(words), 8))
        if len(digits) >= 7:
            self.phones.add(digits[-9:])
        if is_name:  # a name, not an id
            self.name_words.update(w for w in words if len(w) >= 3)


def detect(
    text: str | None,
    column: str = "text",
    region: str | None = None,
    partner: PartnerIdentifiers | None = None,
    places: Iterable[str] = (),
) -> list[Finding]:
    """Every identifying detail the rules see in ``text`` (see the module docstring)."""
    import phonenumbers

    if not text:
        return []
    found: list[Finding] = []

    def add(kind: str, rule: str, start: int, end: int) -> None:
        if end > start:
            found.append(Finding(column, kind, rule, start, end))

    digits = normalise_digits(text)
    for m in _EMAIL.finditer(text):
        add("email", "email", *m.span())
    for m in _SPELLED_EMAIL.finditer(text):
        add("email", "spelled_email", *m.span())
    phone_spans: list[tuple[int, int]] = []
    for pm in phonenumbers.PhoneNumberMatcher(digits, region or "ZZ", leniency=phonenumbers.Leniency.VALID):
        phone_spans.append((pm.start, pm.end))
        add("phone", "phonenumbers", pm.start, pm.end)
    for m in _DIGIT_RUN.finditer(digits):
        number = re.sub(r"\D", "", m.group())
        if any(s <= m.start() < e or s < m.end() <= e for s, e in phone_spans):
            continue
        if partner and number[-9:] in partner.phones:
            add("phone", "delivered_phone", *m.span())
        else:
            add(
                "phone" if m.group().startswith(("+", "0")) and len(number) >= 9 else "id",
                "digit_run",
                *m.span(),
            )
    for m in _SPELLED_DIGITS.finditer(text):
        add("phone", "spelled_digits", *m.span())
    for m in _PLACE_NUMBER.finditer(text):
        add("place", "place_number", *m.span())
    for m in _PLACE_NAMED.finditer(text):
        first = m.group().split()[0]
        if fold(first) not in _STOP:
            add("place", "place_name", *m.span())

    words = tokens(text)
    caps = _all_caps(text)
    if caps:
        add("all_caps", "all_caps", 0, len(text))
    # registry area names and the record's own places, as whole words
    place_values = {tuple(t for _, _, t in tokens(p)) for p in places if p and p.strip()}
    place_values.discard(())
    longest_place = max((len(p) for p in place_values), default=0)
    for i in range(len(words)):
        for n in range(min(longest_place, len(words) - i), 0, -1):
            if tuple(w for _, _, w in words[i : i + n]) in place_values:
                add("place", "registry_area", words[i][0], words[i + n - 1][1])
                break
    # values the partner delivered in identifier columns, whole; single name words when capitalised
    # (or in a script without capitals, or in all-caps text)
    if partner:
        for i in range(len(words)):
            for n in range(min(partner.longest, len(words) - i), 0, -1):
                if tuple(w for _, _, w in words[i : i + n]) in partner.values:
                    add("name", "delivered_identifier", words[i][0], words[i + n - 1][1])
                    break
            else:
                s, e, w = words[i]
                raw = text[s:e]
                if w in partner.name_words and (caps or raw[:1].isupper() or not _is_latin(raw)):
                    add("name", "delivered_name_word", s, e)
    # names after a cue: up to three name-like words (capitalised in Latin script, any in others)
    for m in _CUE.finditer(text):
        following = [t for t in words if t[0] >= m.end()]
        taken: list[tuple[int, int, str]] = []
        pos = m.end()
        for s, e, w in following[:_MAX_NAME_WORDS]:
            gap = text[pos:s]
            raw = text[s:e]
            if (taken and gap.strip(" .")) or (not taken and gap.strip()) or w in _STOP:
                break
            if _is_latin(raw) and not (raw[:1].isupper() or caps):
                break
            if raw.isdigit():
                break
            taken.append((s, e, w))
            pos = e
        if taken:
            add("name", "cue:" + fold(re.sub(r"\s+", " ", m.group()).strip(" .")), taken[0][0], taken[-1][1])
    # two or more capitalised words in a row that are not sentence openers or common words
    if not caps:
        run: list[tuple[int, int, str]] = []
        for idx, (s, e, w) in enumerate(words + [(len(text) + 1, len(text) + 1, "")]):
            raw = text[s:e]
            adjacent = run and text[run[-1][1] : s] in (" ", ". ", ".") and idx < len(words)
            capital = (
                idx < len(words)
                and _is_latin(raw)
                and raw[:1].isupper()
                and not raw.isupper()
                and w not in _STOP
            )
            if capital and (not run or adjacent):
                run.append((s, e, w))
                continue
            if len(run) >= 2:
                add("name", "capitalised_words", run[0][0], run[-1][1])
            run = [(s, e, w)] if capital else []
    return _dedupe(found)


def _dedupe(found: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for f in sorted(found, key=lambda f: (f.start, -f.end, f.kind)):
        if (f.kind, f.start, f.end) not in seen:
            seen.add((f.kind, f.start, f.end))
            out.append(f)
    return out


def mask(text: str, findings: Iterable[Finding]) -> str:
    """``text`` with every finding that has a tag replaced by it (overlaps merged, the most
    specific tag of a merged span kept: email, phone, id, name, place)."""
    order = list(TAGS)
    spans = sorted((f.start, f.end, f.kind) for f in findings if f.tag)
    merged: list[list] = []
    for s, e, k in spans:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            if order.index(k) < order.index(merged[-1][2]):
                merged[-1][2] = k
        else:
            merged.append([s, e, k])
    out, pos = [], 0
    for s, e, k in merged:
        out.append(text[pos:s] + TAGS[k])
        pos = e
    return "".join(out) + text[pos:]


def highlight(text: str, findings: Iterable[Finding]) -> str:
    """``text`` with each finding's span wrapped in ⟦ ⟧ and its kind, for the reviewer."""
    spans = sorted({(f.start, f.end, f.kind) for f in findings if f.kind != "all_caps"})
    out, pos = [], 0
    for s, e, k in spans:
        if s < pos:
            continue
        out.append(text[pos:s] + f"⟦{text[s:e]}⟧{{{k}}}")
        pos = e
    return "".join(out) + text[pos:]


# --------------------------------------------------------------------------------------------------
# The warehouse side
# --------------------------------------------------------------------------------------------------

DDL = f"""
create table if not exists {META_SCHEMA}.testimony_review (
    source_id        text        not null,
    testimony_key    text        not null,
    partner_id       text        not null,
    delivery_id      bigint      not null,   -- the version under review: its delivery and row
    row_number       bigint      not null,
    text_fingerprint text        not null,   -- keyed hash of the version's text (a new text re-opens review)
    state            text        not null check (state in ('pending', 'approved', 'rejected', 'withdrawn')),
    findings         jsonb       not null default '[]',  -- kinds, rules and offsets; never the text
    edited_text      text,                    -- the reviewer's text, published instead of the original
    override         boolean     not null default false,
    override_reason  text,
    reviewer         text,
    note             text,
    detected_at      timestamptz not null default now(),
    decided_at       timestamptz,
    primary key (source_id, testimony_key)
);
create table if not exists {META_SCHEMA}.testimony_review_log (
    source_id        text        not null,
    testimony_key    text        not null,
    state            text        not null,
    edited           boolean     not null default false,
    override         boolean     not null default false,
    finding_kinds    text[],
    reviewer         text,
    reason           text,
    logged_at        timestamptz not null default now()
);
create table if not exists {META_SCHEMA}.testimony_withdrawal (
    source_id        text        not null,
    testimony_key    text        not null,
    delivery_id      bigint,                  -- the delivery that carried the withdrawal
    detected_at      timestamptz not null default now(),
    marts_rows       integer     not null default 0,
    previous_rows    integer     not null default 0,
    files_cleaned    jsonb       not null default '[]',  -- [{{path, action, rows_removed}}]
    files_purged_at  timestamptz,             -- when the exports and reports were last cleaned of it
    primary key (source_id, testimony_key, detected_at)
);
"""


def ensure(cur) -> None:
    """Create the review tables once (as the loader, owner of lnob_meta); the transformer reads
    them through the schema's default privileges (lnob.platform.roles)."""
    cur.execute("select pg_advisory_xact_lock(hashtext('lnob_voices_ddl'))")
    cur.execute(DDL)


def voices_sources(reg) -> list:
    return [s for s in reg.sources.values() if s.entity == "testimony"]


def text_fields(src) -> list[str]:
    """The columns of a voices source that are published as text and must be scanned."""
    names = {f.name for f in src.fields}
    return [f.name for f in src.fields if f.free_text] + [n for n in PUBLISHED_TEXT_FIELDS if n in names]


def _key() -> str:
    from lnob.transform.pseudonym import MISSING

    key = settings().pseudonym_key
    if not key:
        from lnob.platform.config import ConfigurationError

        raise ConfigurationError(MISSING)
    return key


def _fingerprint(key: str, partner: str, texts: Iterable[str | None]) -> str:
    payload = "\x1e".join(t or "" for t in texts)
    return hmac.new(key.encode(), f"review\x1f{partner}\x1f{payload}".encode(), hashlib.sha256).hexdigest()


def _table_exists(cur, schema: str, table: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f'{schema}."{table}"',))
    return bool(cur.fetchone()[0])


@dataclass(frozen=True)
class TextKeys:
    """What a delivered identifier must share with the texts about to be scanned to give a finding
    in any of them: one of their words (folded, as :func:`tokens` gives them to :func:`detect`) or
    the last nine digits of one of their digit runs (as :func:`detect` compares phones)."""

    words: frozenset[str]
    tails: frozenset[str]


def text_keys(texts: Iterable[str | None]) -> TextKeys:
    words: set[str] = set()
    tails: set[str] = set()
    for text in texts:
        if not text:
            continue
        words.update(w for _, _, w in tokens(text))
        for m in _DIGIT_RUN.finditer(normalise_digits(text)):
            tails.add(re.sub(r"\D", "", m.group())[-9:])
    return TextKeys(frozenset(words), frozenset(tails))


#: The delivered values that could match ``keys``, chosen in the warehouse so a million identifiers
#: never cross to Python to be dropped there. Exact for ASCII values, where the words of
#: :meth:`PartnerIdentifiers.add` are the runs of [a-z0-9] of the lower-cased value (``translate``:
#: ASCII lower case, whatever the collation) and its phone the last nine of its digits; a value that
#: is not ASCII (more bytes than characters in UTF-8) is always kept, for Python's own tokens. A
#: value left out shares no word and no phone with the texts: :func:`detect` could not find it.
_RELEVANT = """
with delivered as materialized ({union}),
     ascii as (select v, regexp_replace(v, '[^0-9]', '', 'g') as digits
               from delivered where octet_length(v) = char_length(v))
select v from delivered where octet_length(v) <> char_length(v)
union
select v from ascii
    cross join lateral regexp_split_to_table(translate(v, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
                                                          'abcdefghijklmnopqrstuvwxyz'), '[^a-z0-9]+') w(word)
    where w.word = any(%(words)s::text[])
union
select v from ascii where length(digits) >= 7 and right(digits, 9) = any(%(tails)s::text[])
"""


def partner_identifiers(
    cur, reg, partner_id: str, texts: Iterable[str | None] | None = None
) -> PartnerIdentifiers:
    """Every value the partner delivered in an identifier or pseudonymised column of any source;
    with ``texts``, only those that could be found in them (the same findings for those texts,
    :data:`_RELEVANT`): every text later scanned with the result must be among ``texts``."""
    out = PartnerIdentifiers()
    keys = text_keys(texts) if texts is not None else None
    if keys is not None:
        cur.execute("show server_encoding")
        if cur.fetchone()[0] != "UTF8":  # octet_length = char_length says ASCII only in UTF-8
            keys = None
    for src in reg.sources_of(partner_id):
        cols = [f.name for f in src.fields if f.identifier or f.pseudonymise]
        if not cols or not _table_exists(cur, RAW_SCHEMA, src.raw_table):
            continue
        union = " union ".join(f'select "{c}"::text as v from {RAW_SCHEMA}."{src.raw_table}"' for c in cols)
        if keys is None:
            cur.execute(union)
        else:
            cur.execute(
                _RELEVANT.format(union=union), {"words": sorted(keys.words), "tails": sorted(keys.tails)}
            )
        for (value,) in cur:
            out.add(value)
    return out


def registry_places(reg, iso3: str | None) -> list[str]:
    country = reg.countries.get(iso3) if iso3 else None
    if not country:
        return []
    return [name for a in country.areas for name in (a.name, *a.aliases)]


@dataclass
class Version:
    testimony_id: str
    delivery_id: int
    row_number: int
    delivery_date: str
    consent: bool
    texts: dict[str, str | None]
    own: dict[str, str | None]  # the record's own identifier and place values (community)


def _versions(cur, src) -> dict[str, list[Version]]:
    """Every loaded version of every testimony of a voices source, oldest load first."""
    yes = {k for k, v in src.codes["yes_no"].codes.items() if v == "1"} if "yes_no" in src.codes else {"yes"}
    consent_field = next(f.name for f in src.fields if f.codes == "yes_no")
    fields = text_fields(src)
    own = [f.name for f in src.fields if f.identifier] + [
        f for f in ("community",) if f in {x.name for x in src.fields}
    ]
    cols = ", ".join(f'r."{c}"::text' for c in [*fields, *own])
    cur.execute(f"""select r.testimony_id::text, r._delivery_id, r._row_number, r._delivery_date::text,
                           lower(trim(r."{consent_field}"::text)), {cols}
                    from {RAW_SCHEMA}."{src.raw_table}" r
                    join {META_SCHEMA}.delivery_ledger l on l.delivery_id = r._delivery_id and l.status = 'loaded'
                    order by r._delivery_id, r._row_number""")
    out: dict[str, list[Version]] = {}
    for row in cur.fetchall():
        tid, did, rn, ddate, consent, *rest = row
        out.setdefault(tid.strip(), []).append(
            Version(
                tid.strip(),
                did,
                rn,
                ddate,
                (consent or "") in yes,
                dict(zip(fields, rest[: len(fields)], strict=True)),
                dict(zip(own, rest[len(fields) :], strict=True)),
            )
        )
    return out


def current(versions: list[Version]) -> tuple[Version, bool]:
    """The version whose text is published (latest delivery date, then load order: as
    int_testimonies) and whether the speaker consents: the latest by date AND the latest by load
    must both say yes, so a "no" loaded later from an earlier-dated folder still withdraws."""
    by_date = max(versions, key=lambda v: (v.delivery_date, v.delivery_id, v.row_number))
    by_load = max(versions, key=lambda v: (v.delivery_id, v.row_number))
    return by_date, by_date.consent and by_load.consent


def _scan(
    version: Version, src, reg, ids: PartnerIdentifiers, text: dict[str, str | None] | None = None
) -> list[Finding]:
    partner = reg.partners[src.partner]
    iso3 = src.country or partner.country
    places = registry_places(reg, iso3) + [v for k, v in version.own.items() if k == "community" and v]
    out: list[Finding] = []
    for column, value in (text or version.texts).items():
        out += detect(value, column, REGION.get(iso3 or ""), ids, places)
    return out


def _findings_json(findings: list[Finding]) -> str:
    return json.dumps(
        [
            {"column": f.column, "kind": f.kind, "rule": f.rule, "start": f.start, "end": f.end}
            for f in findings
        ]
    )


def _log_decision(
    cur,
    source_id: str,
    key: str,
    state: str,
    edited: bool = False,
    override: bool = False,
    kinds: Iterable[str] = (),
    reviewer: str | None = None,
    reason: str | None = None,
) -> None:
    cur.execute(
        f"""insert into {META_SCHEMA}.testimony_review_log
                    (source_id, testimony_key, state, edited, override, finding_kinds, reviewer, reason)
                    values (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (source_id, key, state, edited, override, sorted(set(kinds)), reviewer, reason),
    )


@dataclass
class RefreshResult:
    queued: int = 0
    reopened: int = 0
    withdrawn: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    findings: dict[str, int] = field(default_factory=dict)


def sync_queue(cur, reg, key: str) -> RefreshResult:
    """Bring the review table up to date with raw: queue new consented testimonies (with their
    findings), re-open a review whose text changed or that a new finding hits, and mark withdrawn
    testimonies. Returns what changed; the withdrawals still have to be purged."""
    from lnob.transform.pseudonym import pseudonym

    ensure(cur)
    result = RefreshResult()
    for src in voices_sources(reg):
        if not _table_exists(cur, RAW_SCHEMA, src.raw_table):
            continue
        versions = _versions(cur, src)
        cur.execute(
            f"""select testimony_key, delivery_id, row_number, text_fingerprint, state, edited_text, override
                        from {META_SCHEMA}.testimony_review where source_id = %s""",
            (src.id,),
        )
        reviews = {r[0]: r[1:] for r in cur.fetchall()}
        # every text this source's loop may scan: any loaded version, any reviewer's edit
        scanned = [t for vs in versions.values() for v in vs for t in v.texts.values()]
        scanned += [r[4] for r in reviews.values()]
        ids: PartnerIdentifiers | None = None
        for tid, vs in versions.items():
            tkey = pseudonym(key, src.partner, tid)
            version, consent = current(vs)
            existing = reviews.get(tkey)
            if not consent:
                if existing is None and any(v.consent for v in vs):
                    # consented once but never queued (published before reviews existed, or withdrawn
                    # before the night that would queue it): record it, so every copy is purged
                    cur.execute(
                        f"""insert into {META_SCHEMA}.testimony_review
                                    (source_id, testimony_key, partner_id, delivery_id, row_number,
                                     text_fingerprint, state)
                                    values (%s, %s, %s, %s, %s, %s, 'pending')""",
                        (
                            src.id,
                            tkey,
                            src.partner,
                            version.delivery_id,
                            version.row_number,
                            _fingerprint(key, src.partner, version.texts.values()),
                        ),
                    )
                    existing = (version.delivery_id, version.row_number, "", "pending", None, False)
                if existing and existing[3] != "withdrawn":
                    withdrawal = max(vs, key=lambda v: (v.delivery_id, v.row_number))
                    cur.execute(
                        f"""update {META_SCHEMA}.testimony_review
                                    set state = 'withdrawn', edited_text = null, decided_at = now(),
                                        note = 'consent withdrawn'
                                    where source_id = %s and testimony_key = %s""",
                        (src.id, tkey),
                    )
                    _log_decision(
                        cur,
                        src.id,
                        tkey,
                        "withdrawn",
                        reason=f"consent withdrawn (delivery {withdrawal.delivery_id})",
                    )
                    result.withdrawn.append((src.id, tkey))
                    cur.execute(
                        f"""insert into {META_SCHEMA}.testimony_withdrawal (source_id, testimony_key, delivery_id)
                                    values (%s, %s, %s)""",
                        (src.id, tkey, withdrawal.delivery_id),
                    )
                continue
            fingerprint = _fingerprint(key, src.partner, version.texts.values())
            if existing and existing[3] == "rejected" and existing[2] == fingerprint:
                continue
            if ids is None:
                ids = partner_identifiers(cur, reg, src.partner, texts=scanned)
            if existing and existing[3] == "approved" and existing[2] == fingerprint:
                # an approval stands while what it published has no finding it did not override
                published = dict(version.texts)
                if existing[4] is not None:
                    published[text_fields(src)[0]] = existing[4]
                # the other text columns are published only as codes (staging): only the text counts
                findings = [
                    f for f in _scan(version, src, reg, ids, published) if f.column == text_fields(src)[0]
                ]
                cur.execute(
                    f"""update {META_SCHEMA}.testimony_review set delivery_id = %s, row_number = %s
                                where source_id = %s and testimony_key = %s""",
                    (version.delivery_id, version.row_number, src.id, tkey),
                )
                if findings and not existing[5]:
                    cur.execute(
                        f"""update {META_SCHEMA}.testimony_review
                                    set state = 'pending', findings = %s, note = 'a new automatic finding re-opened it'
                                    where source_id = %s and testimony_key = %s""",
                        (_findings_json(findings), src.id, tkey),
                    )
                    _log_decision(
                        cur,
                        src.id,
                        tkey,
                        "pending",
                        kinds=[f.kind for f in findings],
                        reason="new finding in approved text",
                    )
                    result.reopened += 1
                continue
            findings = _scan(version, src, reg, ids)
            for f in findings:
                result.findings[f.kind] = result.findings.get(f.kind, 0) + 1
            if existing is None:
                cur.execute(
                    f"""insert into {META_SCHEMA}.testimony_review
                                (source_id, testimony_key, partner_id, delivery_id, row_number, text_fingerprint,
                                 state, findings)
                                values (%s, %s, %s, %s, %s, %s, 'pending', %s)""",
                    (
                        src.id,
                        tkey,
                        src.partner,
                        version.delivery_id,
                        version.row_number,
                        fingerprint,
                        _findings_json(findings),
                    ),
                )
                _log_decision(cur, src.id, tkey, "pending", kinds=[f.kind for f in findings], reason="queued")
                result.queued += 1
            elif existing[2] != fingerprint or existing[3] in ("withdrawn", "pending"):
                reopened = existing[3] != "pending"
                cur.execute(
                    f"""update {META_SCHEMA}.testimony_review
                                set delivery_id = %s, row_number = %s, text_fingerprint = %s, state = 'pending',
                                    findings = %s, edited_text = null, override = false, override_reason = null,
                                    note = case when %s then 'new version: review again' else note end,
                                    detected_at = now()
                                where source_id = %s and testimony_key = %s""",
                    (
                        version.delivery_id,
                        version.row_number,
                        fingerprint,
                        _findings_json(findings),
                        reopened,
                        src.id,
                        tkey,
                    ),
                )
                if reopened:
                    _log_decision(
                        cur,
                        src.id,
                        tkey,
                        "pending",
                        kinds=[f.kind for f in findings],
                        reason="new version or consent given again",
                    )
                    result.reopened += 1
    cur.execute(f"select count(*) from {META_SCHEMA}.testimony_review where state = 'pending'")
    result.pending = cur.fetchone()[0]
    return result


# --------------------------------------------------------------------------------------------------
# Withdrawal: every copy
# --------------------------------------------------------------------------------------------------


def purge_published(cur, keys: set[str]) -> dict[str, dict[str, int]]:
    """Delete the testimonies from ``marts`` and ``marts_previous`` (and a built, unpublished
    ``marts_audit``); returns, per key, the rows deleted per schema."""
    from lnob.platform.config import AUDIT_SCHEMA

    deleted: dict[str, dict[str, int]] = {}
    for schema in (PUBLISHED_SCHEMA, PREVIOUS_SCHEMA, AUDIT_SCHEMA):
        if keys and _table_exists(cur, schema, MART):
            cur.execute(
                f'delete from {schema}."{MART}" where testimony_key = any(%s) returning testimony_key',
                (sorted(keys),),
            )
            for (k,) in cur.fetchall():
                deleted.setdefault(k, {}).setdefault(schema, 0)
                deleted[k][schema] += 1
    return deleted


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def purge_files(keys: set[str], roots: Iterable[Path]) -> list[dict]:
    """Remove the testimonies from every file under ``roots`` (the exports and reports folders):
    a CSV or Parquet file with a ``testimony_key`` column is rewritten without their rows; any other
    file that holds one of the keys is deleted. Returns what was done, file by file, with the keys
    each file held."""
    done: list[dict] = []
    if not keys:
        return done
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            if path.suffix == ".parquet":
                import pyarrow as pa
                import pyarrow.compute as pc
                import pyarrow.parquet as pq

                if "testimony_key" not in pq.read_schema(path).names:
                    continue
                table = pq.read_table(path)
                held = keys & set(table["testimony_key"].to_pylist())
                if held:
                    kept = table.filter(
                        pc.invert(pc.is_in(table["testimony_key"], value_set=pa.array(sorted(held))))
                    )
                    _atomic_write(path, lambda tmp, kept=kept: pq.write_table(kept, tmp))
                    done.append(
                        {
                            "path": str(path),
                            "action": "rewritten",
                            "rows_removed": table.num_rows - kept.num_rows,
                            "keys": sorted(held),
                        }
                    )
                continue
            data = path.read_bytes()
            held = {k for k in keys if k.encode() in data}
            if not held:
                continue
            if path.suffix == ".csv":
                rows = list(csv.reader(data.decode("utf-8").splitlines(keepends=True)))
                if rows and "testimony_key" in rows[0]:
                    i = rows[0].index("testimony_key")
                    kept_rows = [rows[0]] + [r for r in rows[1:] if not (len(r) > i and r[i] in held)]

                    def write(tmp, kept_rows=kept_rows):
                        with open(tmp, "w", encoding="utf-8", newline="") as fh:
                            csv.writer(fh).writerows(kept_rows)

                    _atomic_write(path, write)
                    done.append(
                        {
                            "path": str(path),
                            "action": "rewritten",
                            "rows_removed": len(rows) - len(kept_rows),
                            "keys": sorted(held),
                        }
                    )
                    if not any(k.encode() in path.read_bytes() for k in held):
                        continue
            path.unlink()
            done.append({"path": str(path), "action": "deleted", "keys": sorted(held)})
    return done


def process_withdrawals(url: str, cfg: Settings | None = None, all_files: bool = False) -> dict:
    """Purge withdrawn testimonies from the published schemas and from the files on disk, and
    record what was cleaned in ``lnob_meta.testimony_withdrawal`` (keys, counts, paths; no text).
    The published schemas are purged of every withdrawn testimony every night (a rolled-back
    schema is cleaned again); the exports and reports folders of the withdrawals not purged yet,
    or of all of them with ``all_files`` (after restoring files from a backup)."""
    from lnob.platform import roles, warehouse

    cfg = cfg or settings()
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        ensure(cur)
        cur.execute(f"""select r.testimony_key, bool_or(w.files_purged_at is null)
                        from {META_SCHEMA}.testimony_review r
                        left join {META_SCHEMA}.testimony_withdrawal w using (source_id, testimony_key)
                        where r.state = 'withdrawn' group by 1""")
        rows = cur.fetchall()
    keys = {r[0] for r in rows}
    file_keys = {r[0] for r in rows if all_files or r[1]}
    if not keys:
        return {"testimonies": 0, "rows_deleted": {}, "files": []}
    with warehouse.connect(roles.step_url(url, roles.TRANSFORMER)) as conn, conn.cursor() as cur:
        deleted = purge_published(cur, keys)
    files = purge_files(file_keys, [cfg.exports_dir, cfg.reports_dir])
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        for k in sorted(keys):
            rows = deleted.get(k, {})
            mine = [{kk: v for kk, v in f.items() if kk != "keys"} for f in files if k in f["keys"]]
            if not rows and not mine and k not in file_keys:
                continue
            cur.execute(
                f"""update {META_SCHEMA}.testimony_withdrawal
                            set marts_rows = marts_rows + %s, previous_rows = previous_rows + %s,
                                files_cleaned = files_cleaned || %s::jsonb,
                                files_purged_at = case when %s then now() else files_purged_at end
                            where testimony_key = %s
                              and detected_at = (select max(detected_at) from {META_SCHEMA}.testimony_withdrawal
                                                 where testimony_key = %s)""",
                (
                    rows.get(PUBLISHED_SCHEMA, 0),
                    rows.get(PREVIOUS_SCHEMA, 0),
                    json.dumps(mine),
                    k in file_keys,
                    k,
                    k,
                ),
            )
    summary = {"testimonies": len(keys), "rows_deleted": deleted, "files": files}
    if deleted or files:
        log.info(
            "withdrawals purged: %d rows, %d files",
            sum(sum(v.values()) for v in deleted.values()),
            len(files),
        )
    return summary


def refresh(url: str, reg=None, cfg: Settings | None = None, all_files: bool = False) -> dict:
    """The voices step of a night (before dbt): sync the review queue, then purge withdrawals."""
    from lnob import registry
    from lnob.platform import roles, warehouse

    reg = reg or registry.load()
    cfg = cfg or settings()
    key = _key()
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        result = sync_queue(cur, reg, key)
    purged = process_withdrawals(url, cfg, all_files)
    out = {**asdict(result), "purged": purged}
    log.info(
        "voices: %d queued, %d re-opened, %d withdrawn, %d pending review",
        result.queued,
        result.reopened,
        len(result.withdrawn),
        result.pending,
    )
    return out


# --------------------------------------------------------------------------------------------------
# Review: list, decide, the offline file
# --------------------------------------------------------------------------------------------------


def _find(cur, ident: str) -> tuple[str, str]:
    """(source_id, testimony_key) of a key or an unambiguous prefix of one (8 characters or more)."""
    ident = ident.strip()
    if len(ident) < 8:
        raise ReviewError(f"{ident!r}: give the testimony key or at least its first 8 characters")
    cur.execute(
        f"select source_id, testimony_key from {META_SCHEMA}.testimony_review where testimony_key like %s",
        (ident.replace("%", "").replace("_", r"\_") + "%",),
    )
    rows = cur.fetchall()
    if not rows:
        raise ReviewError(
            f"{ident}: no testimony with this key in {META_SCHEMA}.testimony_review (see `lnob voices list`)"
        )
    if len(rows) > 1:
        raise ReviewError(f"{ident}: {len(rows)} testimonies start with this; give more of the key")
    return rows[0]


def _version_of(cur, reg, source_id: str, tkey: str, cache: dict | None = None) -> tuple[Version, Source]:
    """The version under review of one testimony; ``cache`` (one per file import or export) keeps
    each source's versions by key so a file of many decisions reads raw once per source."""
    from lnob.transform.pseudonym import pseudonym

    src = reg.source(source_id)
    cache = {} if cache is None else cache
    cur.execute(
        f"""select delivery_id, row_number from {META_SCHEMA}.testimony_review
                    where source_id = %s and testimony_key = %s""",
        (source_id, tkey),
    )
    did, rn = cur.fetchone()
    if ("versions", source_id) not in cache:
        key = _key()
        cache[("versions", source_id)] = {
            pseudonym(key, src.partner, tid): vs for tid, vs in _versions(cur, src).items()
        }
    for v in cache[("versions", source_id)].get(tkey, []):
        if v.delivery_id == did and v.row_number == rn:
            return v, src
    raise ReviewError(
        f"{tkey}: the reviewed version (delivery {did}, row {rn}) is no longer loaded; "
        "run `lnob voices refresh`"
    )


def decide(
    cur,
    reg,
    ident: str,
    decision: str,
    edited_text: str | None = None,
    override: bool = False,
    reason: str | None = None,
    reviewer: str | None = None,
    cache: dict | None = None,
) -> dict:
    """Apply one review decision. ``approve`` publishes the original text, or ``edited_text`` when
    given; either is scanned again and refused while it has an automatic finding, unless
    ``override`` (with a reason, recorded). ``reject`` keeps it out for good (until a new text)."""
    if decision not in ("approve", "reject"):
        raise ReviewError(f"decision {decision!r}: expected approve or reject")
    source_id, tkey = _find(cur, ident)
    cur.execute(
        f"select state from {META_SCHEMA}.testimony_review where source_id = %s and testimony_key = %s",
        (source_id, tkey),
    )
    (state,) = cur.fetchone()
    if state == "withdrawn":
        raise ReviewError(f"{tkey}: consent was withdrawn; it cannot be approved or rejected")
    edited = (edited_text or "").strip() or None
    reviewer = reviewer or os.environ.get("USER") or "unknown"
    kinds: list[str] = []
    if decision == "approve":
        cache = {} if cache is None else cache
        version, src = _version_of(cur, reg, source_id, tkey, cache)
        if ("ids", src.partner) not in cache:
            cache[("ids", src.partner)] = partner_identifiers(cur, reg, src.partner)
        column = text_fields(src)[0]
        if edited is not None and edited == (version.texts.get(column) or "").strip():
            edited = None
        texts = dict(version.texts)
        if edited is not None:
            texts[column] = edited
        findings = _scan(version, src, reg, cache[("ids", src.partner)], texts)
        findings = [f for f in findings if f.column == column]  # other columns are codes checked in staging
        kinds = [f.kind for f in findings]
        if findings and not override:
            what = "the edited text" if edited else "the original text"
            raise ReviewError(
                f"{tkey}: {what} still has automatic findings ({', '.join(sorted(set(kinds)))}); "
                "edit it, or approve with an explicit override and a reason"
            )
        if override and not (reason or "").strip():
            raise ReviewError(f"{tkey}: an override needs a reason")
    new_state = "approved" if decision == "approve" else "rejected"
    cur.execute(
        f"""update {META_SCHEMA}.testimony_review
                    set state = %s, edited_text = %s, override = %s, override_reason = %s, reviewer = %s,
                        note = %s, decided_at = now()
                    where source_id = %s and testimony_key = %s""",
        (
            new_state,
            edited if decision == "approve" else None,
            bool(override and kinds),
            reason if override and kinds else None,
            reviewer,
            reason if not (override and kinds) else None,
            source_id,
            tkey,
        ),
    )
    _log_decision(
        cur, source_id, tkey, new_state, edited is not None, bool(override and kinds), kinds, reviewer, reason
    )
    return {
        "testimony_key": tkey,
        "source_id": source_id,
        "state": new_state,
        "edited": edited is not None,
        "override": bool(override and kinds),
    }


def listing(cur, state: str | None = None) -> list[dict]:
    ensure(cur)
    where, params = ("where state = %s", (state,)) if state else ("", ())
    cur.execute(
        f"""select testimony_key, source_id, state, jsonb_array_length(findings), edited_text is not null,
                           override, reviewer, decided_at
                    from {META_SCHEMA}.testimony_review {where} order by source_id, detected_at, testimony_key""",
        params,
    )
    cols = ["testimony_key", "source_id", "state", "findings", "edited", "override", "reviewer", "decided_at"]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


FILE_FIELDS = [
    "testimony_key",
    "source_id",
    "partner_id",
    "column",
    "findings",
    "text_highlighted",
    "original_text",
    "suggested_text",
    "decision",
    "edited_text",
    "override",
    "override_reason",
    "reviewer",
]


def export_pending(cur, reg, path: Path, include_all: bool = False) -> int:
    """Write the pending testimonies (or every undecided and decided one with ``include_all``) to a
    CSV or JSON file (by suffix) a partner reviews offline. The file holds the original text: it
    is written owner-only (0600) and must be handled like raw data."""
    ensure(cur)
    states = ("pending", "approved", "rejected") if include_all else ("pending",)
    cur.execute(
        f"""select source_id, testimony_key, partner_id, state, edited_text from {META_SCHEMA}.testimony_review
                    where state = any(%s) order by source_id, detected_at, testimony_key""",
        (list(states),),
    )
    items = []
    ids_cache: dict[str, PartnerIdentifiers] = {}
    cache: dict = {}
    for source_id, tkey, partner_id, state, edited_text in cur.fetchall():
        version, src = _version_of(cur, reg, source_id, tkey, cache)
        if partner_id not in ids_cache:
            ids_cache[partner_id] = partner_identifiers(cur, reg, partner_id)
        findings = _scan(version, src, reg, ids_cache[partner_id])
        column = text_fields(src)[0]
        for col, text in version.texts.items():
            fs = [f for f in findings if f.column == col]
            if col != column and not fs:
                continue  # other published text columns only when something was found in them
            original = text or ""
            items.append(
                {
                    "testimony_key": tkey,
                    "source_id": source_id,
                    "partner_id": partner_id,
                    "column": col,
                    "findings": "; ".join(f"{f.kind} ({f.rule}): {original[f.start : f.end]}" for f in fs),
                    "text_highlighted": highlight(original, fs),
                    "original_text": original,
                    "suggested_text": mask(original, fs),
                    "decision": ""
                    if state == "pending"
                    else {"approved": "approve", "rejected": "reject"}[state],
                    "edited_text": (edited_text or "") if col == column else "",
                    "override": "",
                    "override_reason": "",
                    "reviewer": "",
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        if path.suffix.lower() == ".json":
            json.dump(
                {"instructions": REVIEW_INSTRUCTIONS, "testimonies": items}, fh, ensure_ascii=False, indent=2
            )
        else:
            writer = csv.DictWriter(fh, fieldnames=FILE_FIELDS)
            writer.writeheader()
            writer.writerows(items)
    return len(items)


REVIEW_INSTRUCTIONS = (
    "For each testimony set decision to approve or reject. approve publishes edited_text when it is "
    "filled, else original_text; suggested_text masks what the automatic checks found (copy it into "
    "edited_text to accept it). A text that still has a finding is refused unless override is true "
    "and override_reason says why. Rows for other columns (e.g. language) are for information: those "
    "columns are published only as codes. Keep this file as private as the raw data; delete it after import."
)


def _read_file(path: Path) -> list[dict]:
    if path.suffix.lower() == ".json":
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc["testimonies"] if isinstance(doc, dict) else doc
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "y", "x")


def import_decisions(cur, reg, path: Path, reviewer: str | None = None) -> tuple[list[dict], list[str]]:
    """Apply every decision of a review file; a row that cannot be applied is reported (file, row,
    key, why) and the others still are. Returns (applied, errors)."""
    applied, errors = [], []
    cache: dict = {}
    for i, item in enumerate(_read_file(path), start=2 if path.suffix.lower() != ".json" else 1):
        decision = str(item.get("decision") or "").strip().lower()
        if not decision:
            continue
        src = reg.sources.get(item.get("source_id") or "")
        if src is not None and item.get("column") and item["column"] != text_fields(src)[0]:
            continue
        try:
            cur.execute("savepoint review_item")
            applied.append(
                decide(
                    cur,
                    reg,
                    str(item.get("testimony_key") or ""),
                    decision,
                    item.get("edited_text") or None,
                    _truthy(item.get("override", "")),
                    item.get("override_reason") or None,
                    item.get("reviewer") or reviewer,
                    cache,
                )
            )
            cur.execute("release savepoint review_item")
        except (ReviewError, KeyError) as exc:
            cur.execute("rollback to savepoint review_item")
            errors.append(f"{path}: {'item' if path.suffix.lower() == '.json' else 'row'} {i}: {exc}")
    return applied, errors


def withdrawals(cur) -> list[dict]:
    ensure(cur)
    cur.execute(f"""select source_id, testimony_key, delivery_id, detected_at, marts_rows, previous_rows, files_cleaned
                    from {META_SCHEMA}.testimony_withdrawal order by detected_at""")
    cols = [
        "source_id",
        "testimony_key",
        "delivery_id",
        "detected_at",
        "marts_rows",
        "previous_rows",
        "files_cleaned",
    ]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def iter_published_text_columns(cur, schema: str = PUBLISHED_SCHEMA) -> Iterator[tuple[str, str]]:
    """(table, column) of every text column of every table and view of ``schema``."""
    cur.execute(
        """select table_name, column_name from information_schema.columns
                   where table_schema = %s and data_type in ('text', 'character varying')
                   order by table_name, ordinal_position""",
        (schema,),
    )
    yield from cur.fetchall()
