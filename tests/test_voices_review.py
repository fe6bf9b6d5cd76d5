"""Testimonies are published only after review, and a withdrawal reaches every copy.

One night of generated testimonies (BRAC, ActionAid Kenya) and BRAC's household survey is loaded
with a crafted BRAC delivery that plants what the attack on the demo found: names in Latin and
Bengali script, phone numbers in Latin and Bengali digits, an e-mail and a spelled-out e-mail, a
camp / block / house address, ALL-CAPS text, a name only the partner's *survey* delivered (in
another case), and a name and phone number typed into the ``language`` column. Everything runs for
real: ``lnob load``, ``lnob dbt build`` (which queues new testimonies with their automatic
findings), the offline review file through ``lnob voices review export|import``, ``lnob voices
approve``, publication (``publish.swap``) and the mart exports on disk. Then a withdrawal in an
earlier-dated folder, loaded after publication, must leave marts, marts_previous and every file.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from helpers import clean_warehouse, lnob
from lnob import registry
from lnob.platform.config import settings
from lnob.publish import export
from lnob.publish import swap as publish
from lnob.transform.pseudonym import pseudonym
from lnob_dev import sample
from privacy import published_identifier_leaks

pytestmark = pytest.mark.integration

NIGHT, SECOND, EARLIER = "2026-11-21", "2026-11-22", "2026-11-19"
SOURCES = ("brac_voices", "aak_voices", "brac_uhc_survey")
BUILD = ("dbt", "build", "--select", "+fct_voices", "--indirect-selection", "buildable")

# planted identifiers: none of them may be published or exported unless a reviewer edited it in
BENGALI_NAME = "ফাতেমা খাতুন"
BENGALI_PHONE = "০১৭১২৩৪৫৬৭৮"
PLANTED = [
    "Karim Uddin",
    "Rashed Khan",
    "FATIMA BEGUM",
    BENGALI_NAME,
    BENGALI_PHONE,
    "01712345678",
    "karim dot uddin",
    "gmail dot com",
    "Kutupalong",
    "camp 3",
    "block B12",
    "house 45",
    "fatema.k@example.org",
    "1812 345678",
    "Amina Hassan",
    "712 345 678",
]


def _crafted(head_name: str) -> dict[str, dict]:
    base = {
        "recorded_on": "2026-11-10",
        "area": "Dhaka",
        "community": "camp block",
        "group": "rohingya",
        "theme": "health",
        "language": "bn",
        "consent": "yes",
        "recorded_by": "brac_field_09",
    }
    texts = {
        "X-BEATEN": (
            "Nasrin Akter",
            "My sister and her husband Karim Uddin were beaten at the camp gate by the guard Rashed Khan.",
        ),
        "X-CAPS": ("Rokeya Islam", "MY NAME IS FATIMA BEGUM. THE CLINIC SENT US AWAY."),
        "X-BENGALI": (BENGALI_NAME, f"আমার নাম {BENGALI_NAME}, আমার ফোন নম্বর {BENGALI_PHONE}। ক্লিনিক অনেক দূরে।"),
        "X-EMAIL": (
            "Jannat Ali",
            "Write to karim dot uddin at gmail dot com, we stay in Kutupalong camp 3, block B12, house 45.",
        ),
        "X-MAIL2": (
            "Sharmin Hossain",
            "Mail fatema.k@example.org or call +880 1812 345678 about the clinic.",
        ),
        "X-SURVEY": ("Hasina Rahman", f"we went with {head_name.lower()} to the clinic but it was closed."),
        "X-CLEAN": ("Rahima Khatun", "The tap in our settlement has been broken for months."),
        "X-DHAKA": ("Anwar Hossain", "We moved to Dhaka last year to find work."),
        "X-REJECT": ("Sohel Rahman", "The health worker never comes to our hamlet."),
    }
    return {
        tid: {**base, "testimony_id": tid, "respondent_name": name, "text": text}
        for tid, (name, text) in texts.items()
    }


def _load(source_id: str, path: Path) -> None:
    r = lnob("load", source_id, str(path))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def _build() -> None:
    r = lnob(*BUILD)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def _key(source_id: str, testimony_id: str) -> str:
    return pseudonym(
        os.environ["LNOB_PSEUDONYM_KEY"], registry.load().source(source_id).partner, testimony_id
    )


def _publish_and_export(url: str, night: str) -> Path:
    """Publish as the pipeline does (the transformer swaps, the BI reader exports)."""
    from lnob import pipeline
    from lnob.platform import roles

    pipeline.secure(url)  # `lnob dbt` built as the configured user: objects go back to their roles
    out = settings().exports_dir / night / "marts"
    with psycopg2.connect(roles.as_role(url, roles.TRANSFORMER)) as conn:
        publish.swap(conn)
    with psycopg2.connect(roles.reader_url(url)) as conn:
        export.write_mart_csvs(conn, out)
        export.write_mart_parquet(conn, out)
    return out


def _texts(cur, schema: str) -> dict[str, tuple[str, str | None]]:
    cur.execute(f"select testimony_key, testimony_text, language from {schema}.fct_voices")
    return {r[0]: (r[1], r[2]) for r in cur.fetchall()}


def _exported(root: Path) -> str:
    """Everything the exports and reports hold, as text (Parquet decoded), for searching."""
    import pyarrow.parquet as pq

    parts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            parts.append(pq.read_table(path).to_pandas().to_csv())
        else:
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def reviewed(warehouse_url, tmp_path_factory):
    clean_warehouse(warehouse_url, landing=True)
    landing = settings().landing_dir
    files = sample.generate(landing, persons=4000, seed=11, day=date.fromisoformat(NIGHT), only=SOURCES)
    for path in files:
        source = (
            "brac_voices"
            if path.name.startswith("testimonies_")
            else "aak_voices"
            if path.name.startswith("voices_")
            else "brac_uhc_survey"
        )
        _load(source, path)
    survey = json.loads(next(p for p in files if p.name.startswith("submissions_")).read_text())
    head_name = survey["results"][0]["group_hh/head_name"]

    crafted = _crafted(head_name)
    folder = landing / "brac_bangladesh" / NIGHT
    path = folder / "testimonies_crafted.json"
    path.write_text(
        json.dumps({"partner": "brac_bangladesh", "testimonies": list(crafted.values())}, ensure_ascii=False),
        encoding="utf-8",
    )
    _load("brac_voices", path)
    aak = {
        "testimony_id": "X-LANG",
        "recorded_on": "2026-11-10",
        "area": "Turkana",
        "community": "camp",
        "group": "refugee",
        "theme": "water",
        "language": "Amina Hassan +254 712 345 678",
        "consent": "yes",
        "text": "We walk two hours to the water point.",
        "respondent_name": "Zawadi Chebet",
        "recorded_by": "aak_field_02",
    }
    aak_path = landing / "actionaid_kenya" / NIGHT / "voices_crafted.jsonl"
    aak_path.write_text(json.dumps(aak) + "\n", encoding="utf-8")
    _load("aak_voices", aak_path)

    _build()
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    cur = conn.cursor()
    before = {"published": _texts(cur, "marts_audit")}
    cur.execute("select state, count(*) from lnob_meta.testimony_review group by 1")
    before["states"] = dict(cur.fetchall())

    tmp = tmp_path_factory.mktemp("review")
    review = tmp / "review.csv"
    r = lnob("voices", "review", "export", str(review))
    assert r.returncode == 0, r.stderr
    mode = review.stat().st_mode & 0o777
    with review.open(encoding="utf-8", newline="") as fh:
        items = list(csv.DictReader(fh))
    exported_items = [dict(i) for i in items]

    keys = {tid: _key("brac_voices", tid) for tid in crafted} | {"X-LANG": _key("aak_voices", "X-LANG")}
    by_key = {v: k for k, v in keys.items()}
    for item in items:
        tid = by_key.get(item["testimony_key"])
        item["reviewer"] = "partner reviewer"
        if tid == "X-REJECT":
            item["decision"] = "reject"
        elif tid in ("X-CAPS", "X-DHAKA"):
            item["decision"] = (
                "approve"  # unedited, no override: X-CAPS must be refused, X-DHAKA is done below
            )
            if tid == "X-DHAKA":
                item["decision"] = ""
        elif tid == "X-CLEAN":
            item["decision"] = "approve"
        else:
            item["decision"] = "approve"
            if item["suggested_text"] != item["original_text"]:
                item["edited_text"] = item["suggested_text"]
    with review.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(items[0]))
        writer.writeheader()
        writer.writerows(items)
    first_import = lnob("voices", "review", "import", str(review))

    # the refused one again, now with an edit; the area name approved on purpose, with a reason
    second = tmp / "review2.json"
    assert lnob("voices", "review", "export", str(second)).returncode == 0
    doc = json.loads(second.read_text(encoding="utf-8"))
    for item in doc["testimonies"]:
        if item["testimony_key"] == keys["X-CAPS"]:
            item.update(decision="approve", edited_text="My name is [name]. The clinic sent us away.")
    second.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    second_import = lnob("voices", "review", "import", str(second))
    no_reason = lnob("voices", "approve", keys["X-DHAKA"][:12], "--override")
    override = lnob(
        "voices",
        "approve",
        keys["X-DHAKA"][:12],
        "--override",
        "--reason",
        "a first-level area is published anyway (area_code)",
    )

    _build()
    after_audit = _texts(cur, "marts_audit")
    out = _publish_and_export(warehouse_url, NIGHT)
    yield {
        "cur": cur,
        "crafted": crafted,
        "keys": keys,
        "before": before,
        "items": exported_items,
        "mode": mode,
        "imports": (first_import, second_import, no_reason, override),
        "audit": after_audit,
        "exports": out,
        "head_name": head_name,
        "url": warehouse_url,
    }
    conn.close()


def test_nothing_is_published_before_review(reviewed):
    assert reviewed["before"]["published"] == {}
    states = reviewed["before"]["states"]
    assert set(states) == {"pending"} and states["pending"] >= 10, states


def test_the_review_file_flags_every_planted_identifier(reviewed):
    assert reviewed["mode"] == 0o600
    items = {i["testimony_key"]: i for i in reviewed["items"] if i["column"] == "text"}
    keys = reviewed["keys"]
    for tid in ("X-BEATEN", "X-CAPS", "X-BENGALI", "X-EMAIL", "X-MAIL2", "X-SURVEY"):
        item = items[keys[tid]]
        assert item["findings"], tid
        for value in [*PLANTED, reviewed["head_name"].lower()]:
            assert value.lower() not in item["suggested_text"].lower(), (tid, value, item["suggested_text"])
        assert "⟦" in item["text_highlighted"]
    assert not items[keys["X-CLEAN"]]["findings"]
    assert items[keys["X-CLEAN"]]["suggested_text"] == reviewed["crafted"]["X-CLEAN"]["text"]
    assert "all_caps" in items[keys["X-CAPS"]]["findings"]
    assert "delivered_identifier" in items[keys["X-SURVEY"]]["findings"]
    assert "spelled_email" in items[keys["X-EMAIL"]]["findings"]
    # the language column is scanned too
    lang = [
        i for i in reviewed["items"] if i["testimony_key"] == keys["X-LANG"] and i["column"] == "language"
    ]
    assert lang and "phone" in lang[0]["findings"], lang


def test_decisions_round_trip_through_the_file_and_the_cli(reviewed):
    first, second, no_reason, override = reviewed["imports"]
    # approving a text with a finding, unedited and without override, is refused, naming row and key
    assert first.returncode == 1
    assert (
        reviewed["keys"]["X-CAPS"] in first.stderr and "row " in first.stderr and "override" in first.stderr
    )
    assert second.returncode == 0, second.stderr
    assert no_reason.returncode == 1 and "reason" in no_reason.stderr
    assert override.returncode == 0, override.stderr
    cur, keys = reviewed["cur"], reviewed["keys"]
    cur.execute("""select testimony_key, state, edited_text is not null, override, override_reason, reviewer
                   from lnob_meta.testimony_review""")
    review = {r[0]: r[1:] for r in cur.fetchall()}
    assert review[keys["X-REJECT"]][0] == "rejected"
    assert review[keys["X-CLEAN"]][:3] == ("approved", False, False)
    assert review[keys["X-BEATEN"]][:3] == ("approved", True, False)
    assert review[keys["X-CAPS"]][:2] == ("approved", True)
    assert review[keys["X-DHAKA"]][:3] == ("approved", False, True) and "area" in review[keys["X-DHAKA"]][3]
    assert {r[0] for r in review.values()} <= {"approved", "rejected"}, (
        [k for k, r in review.items() if r[0] == "pending"],
        keys,
    )
    # every decision is logged, without text
    cur.execute(
        "select count(*), count(*) filter (where override) from lnob_meta.testimony_review_log "
        "where state in ('approved', 'rejected')"
    )
    logged, overrides = cur.fetchone()
    assert logged == len(review) and overrides == 1
    cur.execute(
        "select column_name from information_schema.columns where table_schema = 'lnob_meta' "
        "and table_name in ('testimony_review_log', 'testimony_withdrawal')"
    )
    assert not {"text", "edited_text", "testimony_text"} & {r[0] for r in cur.fetchall()}


def test_only_approved_text_is_published(reviewed):
    published, keys, crafted = reviewed["audit"], reviewed["keys"], reviewed["crafted"]
    assert keys["X-REJECT"] not in published
    assert published[keys["X-CLEAN"]][0] == crafted["X-CLEAN"]["text"]  # approved unedited: as spoken
    assert published[keys["X-CAPS"]][0] == "My name is [name]. The clinic sent us away."
    assert published[keys["X-BEATEN"]][0] == (
        "My sister and her husband [name] were beaten at the camp gate by the guard [name]."
    )
    assert "Dhaka" in published[keys["X-DHAKA"]][0]  # the reviewer's override
    assert published[keys["X-LANG"]][1] is None  # a name and phone in `language` are not a language code


def test_planted_identifiers_reach_neither_marts_nor_exports(reviewed):
    cur = reviewed["cur"]
    published = _texts(cur, "marts")
    assert published == reviewed["audit"]
    exported = _exported(reviewed["exports"])
    assert reviewed["keys"]["X-CLEAN"] in exported  # the exports do hold the testimonies
    for text, language in published.values():
        for value in [*PLANTED, reviewed["head_name"]]:
            assert value.lower() not in f"{text} {language}".lower(), (value, text, language)
    for value in [*PLANTED, reviewed["head_name"]]:
        assert value.lower() not in exported.lower(), value


def test_no_registry_identifier_field_or_value_is_published(reviewed):
    assert published_identifier_leaks(reviewed["cur"], registry.load(), "marts") == []


def test_a_late_withdrawal_removes_the_testimony_everywhere(reviewed):
    cur, key = reviewed["cur"], reviewed["keys"]["X-CLEAN"]
    # a second night: what was published becomes marts_previous, both nights are exported
    _build()
    second = _publish_and_export(reviewed["url"], SECOND)
    report = settings().reports_dir / SECOND / "voices_digest.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(f"<p>{key}: {reviewed['crafted']['X-CLEAN']['text']}</p>", encoding="utf-8")
    for schema in ("marts", "marts_previous"):
        assert key in _texts(cur, schema), schema
    assert key in _exported(settings().exports_dir)

    # the speaker withdraws: the partner drops it in an EARLIER-dated folder, loaded after publication
    withdrawal = dict(reviewed["crafted"]["X-CLEAN"], consent="no")
    path = settings().landing_dir / "brac_bangladesh" / EARLIER / "testimonies_withdrawal.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"partner": "brac_bangladesh", "testimonies": [withdrawal]}), encoding="utf-8")
    _load("brac_voices", path)
    r = lnob("voices", "refresh")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    for schema in ("marts", "marts_previous"):
        remaining = _texts(cur, schema)
        assert key not in remaining and remaining, schema
    exported = _exported(settings().exports_dir)
    assert key not in exported and reviewed["keys"]["X-BEATEN"] in exported
    assert not report.exists()
    for night in (NIGHT, SECOND):
        with (settings().exports_dir / night / "marts" / "fct_voices.csv").open(encoding="utf-8") as fh:
            assert len(list(csv.DictReader(fh))) == len(_texts(cur, "marts")), night
    cur.execute(
        """select w.marts_rows, w.previous_rows, w.files_cleaned, r.state, r.edited_text
                   from lnob_meta.testimony_withdrawal w
                   join lnob_meta.testimony_review r using (source_id, testimony_key)
                   where w.testimony_key = %s""",
        (key,),
    )
    ((marts_rows, previous_rows, files, state, edited),) = cur.fetchall()
    assert (marts_rows, previous_rows, state, edited) == (1, 1, "withdrawn", None)
    cleaned = {
        (Path(f["path"]).relative_to(settings().exports_dir.parent).as_posix(), f["action"]) for f in files
    }
    assert {
        (f"exports/{n}/marts/fct_voices.{ext}", "rewritten")
        for n in (NIGHT, SECOND)
        for ext in ("csv", "parquet")
    } <= cleaned, cleaned
    assert (f"reports/{SECOND}/voices_digest.html", "deleted") in cleaned
    assert reviewed["crafted"]["X-CLEAN"]["text"] not in json.dumps(files)
    listed = lnob("voices", "list", "--state", "withdrawn")
    assert listed.returncode == 0 and key[:16] in listed.stdout, listed.stdout
    logged = lnob("voices", "withdrawals")
    assert (
        logged.returncode == 0 and key[:16] in logged.stdout and "marts 1, marts_previous 1" in logged.stdout
    )

    # the next build does not bring it back, and the gate passes on the smaller mart
    _build()
    assert key not in _texts(cur, "marts_audit")
    assert second.exists()
