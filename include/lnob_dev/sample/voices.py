"""Voices: short testimonies in people's own words, with consent flags.

Some speakers did not consent to publication; some testimonies carry a name or a phone number
inside the text. Both must never reach a published mart: the generator plants them on purpose.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

from lnob_dev.sample import names
from lnob_dev.sample.files import atomic

P_NO_CONSENT = 0.2
P_NAME_IN_TEXT = 0.15
P_PHONE_IN_TEXT = 0.10

_TEXTS = {
    "health": [
        "The clinic is {distance} away and the road floods, so we only go when someone is very sick.",
        "When my son needed an operation we sold our goat to pay the hospital.",
        "The health worker does not come to our {place} because nobody told her we live here.",
    ],
    "water": [
        "We collect water from the {source} before sunrise; in the dry season it is not clean.",
        "The tap in our {place} has been broken for months and nobody has come to fix it.",
    ],
    "birth registration": [
        "My daughter has no birth certificate, so the school asks us for papers we do not have.",
        "The registration office wanted money we could not pay, so our baby is not registered.",
    ],
    "discrimination": [
        "At the market they tell us to wait until the others are served because of who we are.",
        "Because I use a wheelchair the officials speak to my brother instead of me.",
        "People in the {place} say our community brings bad luck and keep their children away.",
    ],
    "poverty": [
        "We eat twice a day when there is work, once a day when there is not.",
        "The ultra-poor programme gave us two goats; now my wife sells milk.",
    ],
}
_FILL = {
    "distance": ["two hours", "twelve kilometres", "a day's walk"],
    "place": ["camp block", "settlement", "village", "hamlet", "ward"],
    "source": ["river", "pond", "open well", "water truck"],
}


def _text(rng: random.Random, theme: str, iso3: str) -> str:
    text = rng.choice(_TEXTS[theme])
    for slot, options in _FILL.items():
        text = text.replace("{" + slot + "}", rng.choice(options))
    if rng.random() < P_NAME_IN_TEXT:
        text = f"My name is {names.person(rng, iso3, rng.choice('FM'))}. " + text
    if rng.random() < P_PHONE_IN_TEXT:
        text += f" You can call me on {names.phone(rng, iso3)}."
    return text


def testimonies(
    rng: random.Random,
    count: int,
    iso3: str,
    prefix: str,
    day: date,
    areas: list[str],
    groups: list[str],
    language: str,
) -> list[dict]:
    out = []
    for i in range(1, count + 1):
        theme = rng.choice(sorted(_TEXTS))
        out.append(
            {
                "testimony_id": f"{prefix}-{day.strftime('%Y%m%d')}-{i:04d}",
                "recorded_on": (day - timedelta(days=rng.randint(1, 20))).isoformat(),
                "area": rng.choice(areas),
                "community": rng.choice(_FILL["place"]),
                "group": rng.choice(groups),
                "theme": theme,
                "language": language,
                "text": _text(rng, theme, iso3),
                "consent": "no" if rng.random() < P_NO_CONSENT else "yes",
                "respondent_name": names.person(rng, iso3, rng.choice("FM")),
                "recorded_by": f"{prefix.lower()}_field_{rng.randint(1, 12):02d}",
            }
        )
    return out


def write_json(path: Path, partner: str, records: list[dict], day: date) -> list[Path]:
    """BRAC exports its testimonies as one JSON document."""
    with atomic(path, "w", encoding="utf-8") as fh:
        json.dump(
            {"partner": partner, "exported_on": day.isoformat(), "testimonies": records},
            fh,
            ensure_ascii=False,
            indent=2,
        )
    return [path]


def write_jsonl(path: Path, records: list[dict]) -> list[Path]:
    """ActionAid Kenya exports one JSON object per line."""
    with atomic(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return [path]
