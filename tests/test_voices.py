"""Voices reach BI only with consent, after review, and without identifying details.

Two nights of generated testimonies of both voices sources and a re-delivery (one speaker
withdraws consent, another gives it with a text full of identifiers) are loaded and built into
fct_voices for real; what is published is compared with the delivered files themselves, read here
in Python, not with anything the warehouse computed.

Since testimonies are published only after review (lnob.transform.voices), each build is followed by a
reviewer who goes through the offline review file and approves every testimony with the masked
suggestion (the automatic findings replaced by tags) as the edited text, or unedited where nothing
was found; until then nothing is published (asserted).
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path

import pytest
from helpers import clean_warehouse, lnob
from lnob import registry
from lnob.platform.config import settings
from lnob.transform.pseudonym import pseudonym
from lnob_dev import sample
from lnob_dev.sample import names

pytestmark = pytest.mark.integration

SOURCES = ("brac_voices", "aak_voices")
NIGHTS = ("2026-11-20", "2026-11-21")
REDELIVERY = "2026-11-22"
BUILD = ("dbt", "build", "--select", "+fct_voices", "--indirect-selection", "buildable")
# identifiers planted by the re-delivery, on top of the generator's names and phone numbers
PLANTED = ("halima.adan@example.org", "0712 345 678", "27654321", "Zawadi Chebet")


def _source_of(path: Path) -> str:
    return "brac_voices" if path.name.startswith("testimonies_") else "aak_voices"


def _records(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return json.loads(path.read_text(encoding="utf-8"))["testimonies"]


def _load(path: Path) -> None:
    r = lnob("load", _source_of(path), str(path))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def _build() -> None:
    r = lnob(*BUILD)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def _review_everything(tmp: Path) -> None:
    """A reviewer approves every pending testimony through the offline file: the suggestion as
    edited text where the checks found something, the original where they found nothing."""
    path = tmp / "review.json"
    r = lnob("voices", "review", "export", str(path))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(path.read_text(encoding="utf-8"))
    for item in doc["testimonies"]:
        item["decision"] = "approve"
        if item["suggested_text"] != item["original_text"]:
            item["edited_text"] = item["suggested_text"]
        item["reviewer"] = "test reviewer"
    path.write_text(json.dumps(doc), encoding="utf-8")
    r = lnob("voices", "review", "import", str(path))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    path.unlink()


def _published_count(warehouse_url) -> int:
    import psycopg2

    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from marts_audit.fct_voices")
        return cur.fetchone()[0]


def _redeliver(night_one: list[dict], landing: Path) -> Path:
    """ActionAid Kenya sends two of the first night's testimonies again: a consented one whose
    speaker withdrew consent, and a refused one now consented, its text full of identifiers."""
    withdrawn = dict(next(r for r in night_one if r["consent"] == "yes"), consent="no")
    consented = next(r for r in night_one if r["consent"] == "no")
    consented = dict(
        consented,
        consent="Yes",
        text=(
            f"I am {PLANTED[3]} and {consented['respondent_name']} is my mother. Write to {PLANTED[0]} "
            f"or ring {PLANTED[1]}; my ID is {PLANTED[2]}. {consented['recorded_by']} wrote this down. "
            "We were 12 families in 2024."
        ),
    )
    folder = landing / "actionaid_kenya" / REDELIVERY
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"voices_{REDELIVERY}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (withdrawn, consented)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def delivered(warehouse_url, tmp_path_factory):
    """Every delivered testimony: (source, testimony id, delivery date, record), in load order."""

    clean_warehouse(warehouse_url)

    landing = settings().landing_dir
    out: list[tuple[str, str, str, dict]] = []
    for night in NIGHTS:
        for path in sample.generate(
            landing, persons=20_000, seed=5, day=date.fromisoformat(night), only=SOURCES
        ):
            _load(path)
            out += [(_source_of(path), r["testimony_id"], night, r) for r in _records(path)]
    _build()
    assert _published_count(warehouse_url) == 0, "a testimony nobody reviewed is published"
    _review_everything(tmp_path_factory.mktemp("review"))
    _build()

    night_one = [r for s, _, night, r in out if s == "aak_voices" and night == NIGHTS[0]]
    path = _redeliver(night_one, landing)
    _load(path)
    out += [("aak_voices", r["testimony_id"], REDELIVERY, r) for r in _records(path)]
    _build()  # incremental: stages the re-delivery only; the newly consented one waits for review
    _review_everything(tmp_path_factory.mktemp("review"))
    _build()
    return out


def _latest(delivered) -> dict[tuple[str, str], dict]:
    latest: dict[tuple[str, str], tuple[str, dict]] = {}
    for source, tid, night, record in delivered:
        if (source, tid) not in latest or night >= latest[(source, tid)][0]:
            latest[(source, tid)] = (night, record)
    return {k: v[1] for k, v in latest.items()}


def _key(source: str, testimony_id: str) -> str:
    partner = registry.load().source(source).partner
    return pseudonym(os.environ["LNOB_PSEUDONYM_KEY"], partner, testimony_id)


def _published(db) -> dict[str, tuple]:
    with db.cursor() as cur:
        cur.execute("select testimony_key, source_id, testimony_text from marts_audit.fct_voices")
        return {r[0]: r[1:] for r in cur.fetchall()}


def test_only_consented_latest_testimonies_are_published(delivered, db):
    latest = _latest(delivered)
    consented = {_key(s, tid): (s, tid) for (s, tid), r in latest.items() if r["consent"].lower() == "yes"}
    refused = {_key(s, tid): (s, tid) for (s, tid), r in latest.items() if r["consent"].lower() != "yes"}
    published = _published(db)
    assert refused and consented
    assert not set(published) & set(refused), "a testimony without consent is published"
    assert set(published) == set(consented)
    # the re-delivery decided: one consent withdrawn, one given
    redelivered = {
        _key("aak_voices", tid): r["consent"] for s, tid, night, r in delivered if night == REDELIVERY
    }
    assert sorted(redelivered.values()) == ["Yes", "no"]
    for key, consent in redelivered.items():
        assert (key in published) == (consent == "Yes")


def test_counts_match_the_consented_latest_records(delivered, db):
    latest = _latest(delivered)
    with db.cursor() as cur:
        cur.execute("select source_id, count(*) from marts_audit.fct_voices group by 1")
        counts = dict(cur.fetchall())
        cur.execute("select count(*) from raw.aak_voices")
        raw_aak = cur.fetchone()[0]
    expected = {
        s: sum(1 for (src, _), r in latest.items() if src == s and r["consent"].lower() == "yes")
        for s in SOURCES
    }
    assert counts == expected
    # every delivered row reached raw, the re-delivered ones too (so the counts above are not trivial)
    assert (
        raw_aak
        == sum(1 for s, *_ in delivered if s == "aak_voices")
        > sum(1 for (s, _) in latest if s == "aak_voices")
    )


def test_no_planted_identifier_is_published(delivered, db):
    texts = [text for _, text in _published(db).values()]
    raw_texts = [r["text"] for *_, r in delivered]
    phones = {m for t in raw_texts for m in re.findall(r"\+\d{2,3} \d{7,}", t)}
    cued = {m for t in raw_texts for m in re.findall(r"My name is ([A-Z]\w*(?: [A-Z]\w*)*)", t)}
    own = {r[k] for *_, r in delivered for k in ("respondent_name", "recorded_by")}
    assert phones and cued, "the generator planted phone numbers and names"
    assert any(p in t for t in raw_texts for p in PLANTED)
    words = {w for name in cued | own | {PLANTED[3]} for w in re.findall(r"\w+", name) if len(w) >= 2}
    words |= names.all_given_names()
    for text in texts:
        for value in phones | cued | own | set(PLANTED):
            assert value.lower() not in text.lower(), (value, text)
        assert not set(re.findall(r"\w+", text)) & words, text
        assert "@" not in text and not re.search(r"\d[\d ().-]{5,}\d", text), text
    # scrubbing leaves the rest of the testimony, and the placeholders say what was removed
    joined = " ".join(texts)
    for tag in ("[name]", "[phone]", "[email]", "[id]"):
        assert tag in joined, tag
    assert any("We were 12 families in 2024." in t for t in texts)


def test_no_identifier_leaves_staging(delivered, db):
    with db.cursor() as cur:
        cur.execute("""select table_name, column_name from information_schema.columns
                       where table_schema in ('staging', 'intermediate', 'marts_audit')
                         and table_name in ('stg_brac_voices__testimonies', 'stg_aak_voices__testimonies',
                                            'int_testimonies', 'fct_voices')""")
        columns = cur.fetchall()
    assert len({t for t, _ in columns}) == 4
    forbidden = {"testimony_id", "respondent_name", "recorded_by", "text", "community"}
    assert not [c for c in columns if c[1] in forbidden], columns


def test_the_gate_fails_on_a_planted_leak(delivered, db):
    """The mart gate's singular test names a leak, whether a pattern it knows (a phone number) or
    the record's own raw name, which no pattern knows."""
    (source, tid, _, record), *_ = [d for d in delivered if d[3]["consent"] == "yes" and d[2] == NIGHTS[1]]
    test = ("dbt", "test", "--select", "assert_no_identifier_in_voices")
    with db.cursor() as cur:
        cur.execute("create table marts_audit.fct_voices_clean as select * from marts_audit.fct_voices")
        try:
            cur.execute("""insert into marts_audit.fct_voices
                           select 'planted-pattern', partner_id, source_id, country_m49, country_iso3, area_code,
                                  theme, voice_group, group_label, cust_breakdown, disability_status,
                                  composite_breakdown, time_period, language, 'Call me on +254 712345678.'
                           from marts_audit.fct_voices limit 1""")
            cur.execute(
                """insert into marts_audit.fct_voices
                           select testimony_key, partner_id, source_id, country_m49, country_iso3, area_code,
                                  theme, voice_group, group_label, cust_breakdown, disability_status,
                                  composite_breakdown, time_period, language, %s
                           from marts_audit.fct_voices where testimony_key = %s""",
                (f"{record['respondent_name']} told us about the clinic.", _key(source, tid)),
            )
            assert cur.rowcount == 1
            r = lnob(*test)
            assert r.returncode != 0, r.stdout[-3000:]
            assert re.search(r"FAIL 2 assert_no_identifier_in_voices", r.stdout), r.stdout[-3000:]
        finally:
            cur.execute("truncate marts_audit.fct_voices")
            cur.execute("insert into marts_audit.fct_voices select * from marts_audit.fct_voices_clean")
            cur.execute("drop table marts_audit.fct_voices_clean")
    r = lnob(*test)
    assert r.returncode == 0, r.stdout[-3000:]
