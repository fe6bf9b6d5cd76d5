"""Draw synthetic households and their members, in canonical terms, from a country profile.

The partner writers then spell these canonical values the way each partner does. Drawing is
streamed (one household at a time) so a million persons need no more memory than a thousand.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from lnob_dev.sample import names
from lnob_dev.sample.signal import (
    AGE_BANDS,
    P_DISABILITY_BY_AGE,
    P_DONT_KNOW,
    P_HEALTH_NEED,
    P_HEALTH_NEED_DISABILITY,
    P_WG_ALL_UNKNOWN,
    Profile,
    probability,
)

_AGE_LOW = [lo for lo, _, _ in AGE_BANDS]
_AGE_HIGH = [hi for _, hi, _ in AGE_BANDS]
_AGE_WEIGHTS = [w for _, _, w in AGE_BANDS]


@dataclass(slots=True)
class Person:
    member_no: int
    name: str
    sex: str  # F | M
    age: int
    disabled: bool  # the truth the Washington Group answers encode (ages 5+)
    wg: list[str] | None  # six answers '1'..'4', '8' don't know, '9' refused; None under 5
    health_need: bool
    health_access: bool | None  # None when no need
    birth_registered: str | None  # '1' | '0' | 'DK' under 5, None otherwise
    felt_discriminated: str | None  # '1' | '0' | 'DK' ages 15+, None otherwise


@dataclass(slots=True)
class Household:
    index: int
    iso3: str
    area: str
    urban: bool
    group: str  # canonical group code
    marginalised: bool
    ultra_poor: bool
    safe_water: bool
    consumption_month: int  # household total, local currency
    oop_health_12m: int
    head_name: str
    phone: str
    lat: float
    lon: float
    interview: datetime
    members: list[Person] = field(default_factory=list)


def _age(rng: random.Random) -> int:
    band = rng.choices(range(len(AGE_BANDS)), weights=_AGE_WEIGHTS)[0]
    return rng.randint(_AGE_LOW[band], _AGE_HIGH[band])


def _p_disability(age: int) -> float:
    for upper, p in P_DISABILITY_BY_AGE:
        if age < upper:
            return p
    return P_DISABILITY_BY_AGE[-1][1]


def _wg(rng: random.Random, disabled: bool) -> list[str]:
    if rng.random() < P_WG_ALL_UNKNOWN:  # don't know / refused in every domain -> unknown
        return [rng.choice("89") for _ in range(6)]
    answers = ["2" if rng.random() < 0.15 else "1" for _ in range(6)]
    if disabled:
        for k in rng.sample(range(6), 1 if rng.random() < 0.7 else 2):
            answers[k] = "3" if rng.random() < 0.7 else "4"
    return answers


def _yes_no_dk(rng: random.Random, p_yes: float) -> str:
    if rng.random() < P_DONT_KNOW:
        return "DK"
    return "1" if rng.random() < p_yes else "0"


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _household(
    rng: random.Random,
    profile: Profile,
    index: int,
    day: date,
    size: int,
    group: str,
    marginalised: bool,
    area: str,
) -> Household:
    members: list[Person] = []
    for m in range(1, size + 1):
        age = rng.randint(18, 70) if m == 1 else _age(rng)
        sex = "F" if rng.random() < 0.5 else "M"
        disabled = age >= 5 and rng.random() < _p_disability(age)
        need = rng.random() < P_HEALTH_NEED + (P_HEALTH_NEED_DISABILITY if disabled else 0.0)
        members.append(
            Person(
                member_no=m,
                name=names.person(rng, profile.iso3, sex),
                sex=sex,
                age=age,
                disabled=disabled,
                wg=_wg(rng, disabled) if age >= 5 else None,
                health_need=need,
                health_access=(rng.random() < probability("health_access", marginalised, disabled))
                if need
                else None,
                birth_registered=_yes_no_dk(rng, probability("birth_registered", marginalised, False))
                if age < 5
                else None,
                felt_discriminated=_yes_no_dk(rng, probability("felt_discriminated", marginalised, disabled))
                if age >= 15
                else None,
            )
        )
    any_disabled = any(p.disabled for p in members)
    poor = rng.random() < probability("below_poverty_line", marginalised, any_disabled)
    line = profile.poverty_line or 100.0
    per_capita = line * (rng.uniform(0.45, 0.99) if poor else rng.uniform(1.01, 4.0))
    consumption = max(int(per_capita * size), 1)
    u = rng.random()
    if u < probability("oop_over_25", marginalised, any_disabled):
        share = rng.uniform(0.26, 0.6)
    elif u < probability("oop_over_10", marginalised, any_disabled):
        share = rng.uniform(0.11, 0.24)
    else:
        share = rng.uniform(0.0, 0.09) if rng.random() < 0.7 else 0.0
    oop = int(share * consumption * 12)
    lat, lon = names.coordinates(rng, profile.iso3)
    return Household(
        index=index,
        iso3=profile.iso3,
        area=area,
        urban=rng.random() < profile.urban_share,
        group=group,
        marginalised=marginalised,
        ultra_poor=poor and per_capita < 0.6 * line,
        safe_water=rng.random() < probability("safe_water", marginalised, any_disabled),
        consumption_month=consumption,
        oop_health_12m=oop,
        head_name=members[0].name,
        phone=names.phone(rng, profile.iso3),
        lat=lat,
        lon=lon,
        interview=datetime(day.year, day.month, day.day, tzinfo=UTC)
        - timedelta(days=rng.randint(0, 6), seconds=rng.randint(8 * 3600, 18 * 3600)),
        members=members,
    )


def households(profile: Profile, persons: int, rng: random.Random, day: date) -> Iterator[Household]:
    """Households of about ``persons`` persons in all, then the fixed small cells of the profile."""
    group_areas = dict(profile.group_areas)
    drawn = 0
    index = 0
    while drawn < persons:
        index += 1
        size = min(rng.choice((1, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7, 8)), persons - drawn)
        marginalised = rng.random() < profile.marginalised_share
        if marginalised:
            group = _weighted(rng, profile.marginalised_groups)
            area = rng.choice(group_areas.get(group, profile.marginalised_areas))
        else:
            group = _weighted(rng, profile.rest_groups)
            area = rng.choice(profile.rest_areas)
        drawn += size
        yield _household(rng, profile, index, day, size, group, marginalised, area)
    for area, group, n in profile.small_cells:
        index += 1
        yield _household(rng, profile, index, day, n, group, True, area)
