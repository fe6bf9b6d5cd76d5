"""The true signal in the synthetic deliveries, stated so tests (and the marts) can check it.

Every probability below is what the generator draws from. Marginalised groups fare worse than
the rest of the same sample by the stated amounts, persons with disability worse again, and a few
deliberately tiny groups exist so that small-cell suppression has something to suppress. The
numbers are invented for testing; they are not estimates of any real population.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Probability of each outcome for the rest of the sample and for the marginalised group.
#: Household outcomes (water, health spending, poverty) apply to every member of the household.
SIGNAL: dict[str, dict[str, float]] = {
    "safe_water": {"rest": 0.82, "marginalised": 0.55},  # SH_H2O_SAFE, household
    "birth_registered": {"rest": 0.88, "marginalised": 0.62},  # SG_REG_BRTH, children under 5
    "felt_discriminated": {"rest": 0.08, "marginalised": 0.30},  # VC_VOV_GDSD, ages 15+
    "health_access": {"rest": 0.80, "marginalised": 0.60},  # 3.8.1 proxy, among those in need
    "oop_over_10": {"rest": 0.15, "marginalised": 0.30},  # SH_XPD_EARN10, household
    "oop_over_25": {"rest": 0.04, "marginalised": 0.10},  # SH_XPD_EARN25, household
    "below_poverty_line": {"rest": 0.20, "marginalised": 0.45},  # SI_POV_NAHC, household
}

#: Added to the probability for a person with disability (for household outcomes: a household
#: with at least one member with disability).
DISABILITY_EFFECT: dict[str, float] = {
    "safe_water": -0.08,
    "birth_registered": 0.0,
    "felt_discriminated": 0.15,
    "health_access": -0.20,
    "oop_over_10": 0.12,
    "oop_over_25": 0.05,
    "below_poverty_line": 0.10,
}

#: Needing health care in the last 12 months (base, and extra for a person with disability).
P_HEALTH_NEED = 0.35
P_HEALTH_NEED_DISABILITY = 0.25

#: Share of persons with disability (Washington Group: a domain at 3 or 4) by age, ages 5+.
P_DISABILITY_BY_AGE = ((15, 0.03), (65, 0.08), (200, 0.30))

#: Age distribution (lower bound, upper bound inclusive, weight).
AGE_BANDS = ((0, 4, 12), (5, 14, 22), (15, 24, 18), (25, 64, 40), (65, 90, 8))

#: Edge cases, as shares of a delivery's records.
P_DUPLICATE = 0.005  # the same record sent twice
P_EDIT = 0.005  # an edit of a record delivered the night before (KoboToolbox, ODK)
P_WG_ALL_UNKNOWN = 0.01  # don't know / refused in every Washington Group domain
P_DONT_KNOW = 0.03  # don't know / refused on a yes-no question


@dataclass(frozen=True)
class Profile:
    """How one country's synthetic community sample is drawn."""

    iso3: str
    share: float  # of all persons generated
    marginalised_share: float  # of households
    marginalised_groups: tuple[tuple[str, float], ...]  # canonical group code, weight
    rest_groups: tuple[tuple[str, float], ...]
    marginalised_areas: tuple[str, ...]  # where marginalised households live
    rest_areas: tuple[str, ...]
    urban_share: float
    small_cells: tuple[tuple[str, str, int], ...] = ()  # area, group, persons (fixed, any scale)
    poverty_line: float = 0.0  # per person per month, local currency
    #: group codes that only live in some areas: group -> areas
    group_areas: tuple[tuple[str, tuple[str, ...]], ...] = ()


PROFILES: dict[str, Profile] = {
    "BGD": Profile(
        "BGD",
        0.25,
        0.45,
        (("DISP_REFUGEE", 1.0),),
        (("DISP_HOST", 1.0),),
        ("BD-B",),
        ("BD-A", "BD-B", "BD-C", "BD-D", "BD-E", "BD-F", "BD-G", "BD-H"),
        urban_share=0.3,
        small_cells=(("BD-C", "DISP_REFUGEE", 7),),
        poverty_line=3822.0,
    ),
    "IND": Profile(
        "IND",
        0.30,
        0.40,
        (("CASTE_SC", 0.6), ("CASTE_ST", 0.4)),
        (("CASTE_OTHER", 1.0),),
        ("IN-BR", "IN-JH", "IN-OD", "IN-UP", "IN-RJ", "IN-MH", "IN-TN", "IN-WB"),
        ("IN-BR", "IN-JH", "IN-OD", "IN-UP", "IN-RJ", "IN-MH", "IN-TN", "IN-WB"),
        urban_share=0.25,
        small_cells=(("IN-TN", "CASTE_ST", 8),),
        group_areas=(("CASTE_ST", ("IN-JH", "IN-OD", "IN-RJ")),),
    ),
    "KEN": Profile(
        "KEN",
        0.15,
        0.20,
        (("DISP_REFUGEE", 1.0),),
        (("DISP_HOST", 1.0),),
        ("KE-43", "KE-07"),
        ("KE-30", "KE-43", "KE-07", "KE-17", "KE-28", "KE-25"),
        urban_share=0.35,
        small_cells=(("KE-30", "DISP_REFUGEE", 6),),
    ),
    "NPL": Profile(
        "NPL",
        0.10,
        0.45,
        (("NP_DALIT", 0.45), ("NP_JANAJATI", 0.55)),
        (("NP_OTHER", 1.0),),
        ("NP-P1", "NP-P2", "NP-P3", "NP-P4", "NP-P5", "NP-P6", "NP-P7"),
        ("NP-P1", "NP-P2", "NP-P3", "NP-P4", "NP-P5", "NP-P6", "NP-P7"),
        urban_share=0.3,
        small_cells=(("NP-P3", "NP_DALIT", 6),),
        group_areas=(("NP_DALIT", ("NP-P2", "NP-P5", "NP-P6", "NP-P7")),),
    ),
    "VNM": Profile(
        "VNM",
        0.20,
        0.35,
        (("ETH_MINORITY", 1.0),),
        (("ETH_MAJORITY", 1.0),),
        ("VN-01", "VN-02", "VN-03", "VN-04", "VN-05", "VN-06"),
        ("VN-01", "VN-02", "VN-03", "VN-04", "VN-05", "VN-06", "VN-HN"),
        urban_share=0.3,
        small_cells=(("VN-HN", "ETH_MINORITY", 7),),
    ),
}


def probability(outcome: str, marginalised: bool, disabled: bool) -> float:
    """The stated probability of ``outcome`` for a person (or household) of this kind."""
    p = SIGNAL[outcome]["marginalised" if marginalised else "rest"]
    return min(max(p + (DISABILITY_EFFECT[outcome] if disabled else 0.0), 0.0), 1.0)
