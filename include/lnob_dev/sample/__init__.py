"""Synthetic partner deliveries for one night, deterministic by seed.

Real partner data is private, so the pipeline is exercised on generated deliveries that look like
the real ones: each partner's own column names, code spellings, encoding and file format, the
platforms' real response shapes, and a true signal (:mod:`lnob_dev.sample.signal`) that the marts must
recover. ``generate`` writes the landing layout ``<out>/<partner_id>/<YYYY-MM-DD>/...``; the same
seed and date give byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from lnob import registry as registry_mod

from lnob_dev.sample import community, official, voices
from lnob_dev.sample.population import households
from lnob_dev.sample.signal import PROFILES

#: The community sources the generator can write, and the country each draws from.
COMMUNITY = {
    "brac_uhc_survey": "BGD",
    "wnta_hotspot_survey": "IND",
    "plan_india_hotspot_survey": "IND",
    "aak_clm_survey": "KEN",
    "vso_np_household_survey": "NPL",
    "aavn_household_survey": "VNM",
}
OFFICIAL = ("unsd_sdg_api", "knbs_sdg_sdmx", "statcan_open_sdg")
VOICES = ("brac_voices", "aak_voices")
ALL_SOURCES = (*COMMUNITY, *OFFICIAL, *VOICES)


def _persons_per_country(persons: int, countries: Iterable[str]) -> dict[str, int]:
    countries = sorted(set(countries))
    total_share = sum(PROFILES[c].share for c in countries)
    counts = {c: int(persons * PROFILES[c].share / total_share) for c in countries}
    if countries:  # rounding remainder to the largest, so the total is exactly ``persons``
        counts[max(countries, key=lambda c: PROFILES[c].share)] += persons - sum(counts.values())
    return counts


def generate(
    out: Path,
    persons: int = 20_000,
    seed: int = 42,
    day: date | None = None,
    only: Iterable[str] | None = None,
    registry: registry_mod.Registry | None = None,
) -> list[Path]:
    """Write one night's deliveries of every source (or of the sources in ``only``).

    ``persons`` is the number of community survey respondents across the selected sources,
    shared between countries in fixed proportions, plus the fixed small cells of each country.
    Returns the paths written, in a stable order.
    """
    day = day or date.today()
    out = Path(out)
    reg = registry or registry_mod.load()
    selected = [s for s in (only or ALL_SOURCES) if s in reg.sources]
    unknown = set(only or ()) - set(ALL_SOURCES)
    if unknown:
        raise ValueError(f"the generator has no writer for {sorted(unknown)}; it writes {list(ALL_SOURCES)}")
    chosen = set(selected)
    counts = _persons_per_country(persons, {COMMUNITY[s] for s in selected if s in COMMUNITY})

    def folder(source_id: str) -> Path:
        return out / reg.source(source_id).partner / day.isoformat()

    def rng(name: str) -> random.Random:
        # One stream per source (or country), so adding a source never changes another's bytes.
        return random.Random(f"{seed}|{name}|{day.isoformat()}")

    def people(iso3: str):
        return households(PROFILES[iso3], counts[iso3], rng(f"population:{iso3}"), day)

    written: list[Path] = []
    if "brac_uhc_survey" in chosen:
        fmt = reg.source("brac_uhc_survey").format
        written += community.write_kobo(
            folder("brac_uhc_survey"),
            people("BGD"),
            rng("brac_uhc_survey"),
            day,
            seed,
            "brac_uhc_survey",
            fmt["asset_uid"],
            fmt.get("page_size", 500),
        )
    india = {
        reg.source(s).partner for s in ("wnta_hotspot_survey", "plan_india_hotspot_survey") if s in chosen
    }
    if india:
        written += community.write_india(out, people("IND"), rng("india"), day, india)
    if "aak_clm_survey" in chosen:
        fmt = reg.source("aak_clm_survey").format
        written += community.write_odk(
            folder("aak_clm_survey"),
            people("KEN"),
            rng("aak_clm_survey"),
            day,
            seed,
            "aak_clm_survey",
            fmt["project_id"],
            fmt["form_id"],
            fmt.get("page_size", 500),
        )
    if "vso_np_household_survey" in chosen:
        written += community.write_nepal(
            folder("vso_np_household_survey"), people("NPL"), rng("vso_np_household_survey"), day
        )
    if "aavn_household_survey" in chosen:
        written += community.write_vietnam(
            folder("aavn_household_survey"), people("VNM"), rng("aavn_household_survey"), day
        )

    if "unsd_sdg_api" in chosen:
        fmt = reg.source("unsd_sdg_api").format
        written += official.write_unsd(
            folder("unsd_sdg_api"), seed, day, fmt["series"], fmt["areas"], fmt.get("page_size", 50)
        )
    if "knbs_sdg_sdmx" in chosen:
        written += official.write_sdmx_ml(folder("knbs_sdg_sdmx"), seed, day)
    if "statcan_open_sdg" in chosen:
        written += official.write_open_sdg(folder("statcan_open_sdg"), seed, day)

    n_voices = max(5, persons // 400)
    if "brac_voices" in chosen:
        records = voices.testimonies(
            rng("brac_voices"),
            n_voices,
            "BGD",
            "BRAC",
            day,
            ["Chattogram", "Cox's Bazar", "Dhaka", "Khulna"],
            ["Rohingya", "host community", "ultra-poor", "person with disability"],
            "bn",
        )
        written += voices.write_json(
            folder("brac_voices") / f"testimonies_{day.isoformat()}.json",
            reg.source("brac_voices").partner,
            records,
            day,
        )
    if "aak_voices" in chosen:
        records = voices.testimonies(
            rng("aak_voices"),
            n_voices,
            "KEN",
            "AAK",
            day,
            ["Turkana", "Garissa", "Nairobi", "Kisumu"],
            ["refugee", "host community", "person with disability"],
            "sw",
        )
        written += voices.write_jsonl(folder("aak_voices") / f"voices_{day.isoformat()}.jsonl", records)
    return written
