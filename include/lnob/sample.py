"""Synthetic partner deliveries, deterministic by seed.

Real partner data is private, so the pipeline is exercised on generated deliveries that look like
the real ones: the partner's own column names and code spellings, its encoding, and a true signal
(marginalised groups fare worse) that the marts must recover.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

PROVINCES = ["VN-01", "VN-02", "VN-03", "VN-04", "VN-05", "VN-06"]
MINORITIES = ["Hmong", "Thai", "Tay", "Dao", "Khmer", "Muong"]
SEX_SPELLINGS = {"F": ["female", "F", "2", "Female"], "M": ["male", "M", "1", "Male"]}

#: The true signal, stated so tests can check the marts recover it: probability of safely
#: managed drinking water and of having felt discriminated against, by group.
P_SAFE_WATER = {"majority": 0.85, "minority": 0.55}
DISABILITY_PENALTY_WATER = 0.10
P_DISCRIMINATED = {"majority": 0.08, "minority": 0.30}
DISABILITY_EXTRA_DISCRIMINATION = 0.15
SHARE_MINORITY = 0.35
SHARE_WITH_DISABILITY = 0.12

HEADER = [
    "respondent_id", "household_id", "respondent_name", "phone", "province", "area_type", "sex",
    "age", "ethnicity", "wg_seeing", "wg_hearing", "wg_walking", "wg_remembering", "wg_selfcare",
    "wg_communicating", "safe_water", "felt_discriminated", "weight", "interview_date",
]


def _wg_answers(rng: random.Random, disabled: bool) -> list[str]:
    answers = [rng.choices(["1", "2"], weights=[85, 15])[0] for _ in range(6)]
    if disabled:
        for k in rng.sample(range(6), rng.choice([1, 1, 2])):
            answers[k] = rng.choice(["3", "3", "4"])
    if rng.random() < 0.01:  # don't know / refused in every domain -> disability unknown
        answers = [rng.choice(["8", "9"]) for _ in range(6)]
    return answers


def vietnam_rows(persons: int, seed: int, day: date):
    """Yield the rows of one ActionAid Vietnam household-survey delivery."""
    rng = random.Random(seed)
    household = 0
    in_household = 0
    hh_size = 0
    for i in range(persons):
        if in_household >= hh_size:
            household += 1
            in_household = 0
            hh_size = rng.randint(1, 6)
            minority = rng.random() < SHARE_MINORITY
            province = rng.choice(PROVINCES)
            area = rng.choice(["Rural", "Rural", "Urban"]) if minority else rng.choice(["Urban", "Rural"])
            ethnicity_hh = rng.choice(MINORITIES) if minority else "Kinh"
            water_p = P_SAFE_WATER["minority" if minority else "majority"]
        in_household += 1
        sex = rng.choice(["F", "M"])
        age = rng.randint(5, 90)
        disabled = rng.random() < SHARE_WITH_DISABILITY + (0.15 if age >= 65 else 0.0)
        group = "minority" if minority else "majority"
        p_water = water_p - (DISABILITY_PENALTY_WATER if disabled else 0.0)
        p_disc = P_DISCRIMINATED[group] + (DISABILITY_EXTRA_DISCRIMINATION if disabled else 0.0)
        safe = rng.random() < p_water
        disc = rng.random() < p_disc
        yield [
            f"AAVN-{seed}-{i:07d}",
            f"HH-{seed}-{household:06d}",
            f"Person {i}",
            f"+84 9{rng.randint(10_000_000, 99_999_999)}",
            province,
            area,
            rng.choice(SEX_SPELLINGS[sex]),
            str(age),
            ethnicity_hh,
            *_wg_answers(rng, disabled),
            rng.choice(["Yes", "yes", "1"]) if safe else rng.choice(["No", "no", "0"]),
            "Yes" if disc else "No",
            f"{rng.uniform(0.5, 2.0):.4f}",
            (day - timedelta(days=rng.randint(0, 6))).isoformat(),
        ]


def generate(out: Path, persons: int = 20_000, seed: int = 42, day: date | None = None) -> list[Path]:
    """Write one night's deliveries into the landing layout ``<out>/<partner_id>/<YYYY-MM-DD>/``."""
    day = day or date.today()
    folder = Path(out) / "actionaid_vietnam" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"household_survey_{day.isoformat()}.csv"
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(vietnam_rows(persons, seed, day))
    tmp.replace(path)  # a partner's file appears whole or not at all
    return [path]
