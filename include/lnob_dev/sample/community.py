"""Community deliveries, spelled the way each partner spells them.

One writer per source in the registry. Each takes the canonical households of its country and
writes the partner's own shape: column names, code spellings (several per partner: "female", "F",
"2"), encoding, file format, paging. Deliberate edge cases ride along at stated rates (see
:mod:`lnob_dev.sample.signal`): duplicate records, edits of the previous night's records, don't-know
and refused answers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lnob_dev.sample.files import atomic, atomic_path
from lnob_dev.sample.population import Household, Person
from lnob_dev.sample.signal import P_DUPLICATE, P_EDIT

AREA_NAMES = {
    "BD-A": "barishal",
    "BD-B": "chattogram",
    "BD-C": "dhaka",
    "BD-D": "khulna",
    "BD-E": "rajshahi",
    "BD-F": "rangpur",
    "BD-G": "sylhet",
    "BD-H": "mymensingh",
    "IN-BR": "Bihar",
    "IN-JH": "Jharkhand",
    "IN-OD": "Odisha",
    "IN-UP": "Uttar Pradesh",
    "IN-RJ": "Rajasthan",
    "IN-MH": "Maharashtra",
    "IN-TN": "Tamil Nadu",
    "IN-WB": "West Bengal",
    "KE-30": "nairobi",
    "KE-43": "turkana",
    "KE-07": "garissa",
    "KE-17": "kisumu",
    "KE-28": "mombasa",
    "KE-25": "marsabit",
    "NP-P1": "Koshi",
    "NP-P2": "Madhesh",
    "NP-P3": "Bagmati",
    "NP-P4": "Gandaki",
    "NP-P5": "Lumbini",
    "NP-P6": "Karnali",
    "NP-P7": "Sudurpashchim",
    "VN-01": "Lai Chau",
    "VN-02": "Lao Cai",
    "VN-03": "Ha Giang",
    "VN-04": "Cao Bang",
    "VN-05": "Son La",
    "VN-06": "Yen Bai",
    "VN-HN": "Ha Noi",
}
#: Alternative spellings some deliveries use for the same area.
AREA_ALIASES = {
    "BD-A": "barisal",
    "BD-B": "chittagong",
    "IN-OD": "Orissa",
    "NP-P1": "Province 1",
    "NP-P7": "Far-Western",
    "VN-HN": "Hanoi",
}
INDIA_STATES = ("IN-BR", "IN-JH", "IN-OD", "IN-UP", "IN-RJ", "IN-MH", "IN-TN", "IN-WB")
HOTSPOTS = 100
WNTA_HOTSPOTS = 60  # hotspots 1..60 report through the coalition lead, 61..100 through Plan India

SAFE_SOURCES_LABELS = (
    "Piped into dwelling",
    "Piped to yard/plot",
    "Tube well/borehole",
    "Protected dug well",
)
UNSAFE_SOURCES_LABELS = ("Public tap", "Unprotected dug well", "Surface water", "Tanker truck")
SAFE_SOURCES_CHOICES = ("piped_dwelling", "piped_yard", "tubewell", "protected_well", "bottled")
UNSAFE_SOURCES_CHOICES = ("public_tap", "unprotected_well", "surface_water", "tanker")
WG_CHOICES = {
    "1": "no_difficulty",
    "2": "some_difficulty",
    "3": "a_lot_of_difficulty",
    "4": "cannot_do_at_all",
    "8": "dont_know",
    "9": "refused",
}
YES_NO_CHOICES = {"1": "yes", "0": "no", "DK": "dont_know"}


def _uuid(*parts: object) -> str:
    """A stable UUID for a record: the same seed, source, date and index give the same id."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _day_number(day: date) -> int:
    return day.toordinal() - date(2020, 1, 1).toordinal()


def _area(rng: random.Random, code: str, alias_rate: float = 0.1) -> str:
    if code in AREA_ALIASES and rng.random() < alias_rate:
        return AREA_ALIASES[code]
    return AREA_NAMES[code]


def _water_label(rng: random.Random, safe: bool) -> str:
    return rng.choice(SAFE_SOURCES_LABELS if safe else UNSAFE_SOURCES_LABELS)


def _yes_no(rng: random.Random, value: str | None, yes=("Yes",), no=("No",), dk=("Don't know",)) -> str:
    if value is None:
        return ""
    return rng.choice(yes if value == "1" else no if value == "0" else dk)


def _bool_text(rng: random.Random, value: bool | None, yes=("Yes",), no=("No",)) -> str:
    if value is None:
        return ""
    return rng.choice(yes if value else no)


def _members_with_duplicates(
    rng: random.Random, households: Iterable[Household]
) -> Iterator[tuple[Household, Person]]:
    """Every member of every household; a few sent twice (a duplicate submission)."""
    for hh in households:
        for p in hh.members:
            yield hh, p
            if rng.random() < P_DUPLICATE:
                yield hh, p


# --------------------------------------------------------------------------------------------
# Viet Nam: ActionAid Vietnam, UTF-8 CSV with a byte-order mark
# --------------------------------------------------------------------------------------------

VIETNAM_HEADER = [
    "respondent_id",
    "household_id",
    "respondent_name",
    "phone",
    "province",
    "area_type",
    "sex",
    "age",
    "ethnicity",
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_remembering",
    "wg_selfcare",
    "wg_communicating",
    "safe_water",
    "felt_discriminated",
    "weight",
    "interview_date",
]
_VN_MINORITIES = ("Hmong", "Thai", "Tay", "Dao", "Khmer", "Muong", "Nung")
_SEX_MIXED = {"F": ("female", "F", "2", "Female"), "M": ("male", "M", "1", "Male")}


def write_vietnam(folder: Path, households: Iterable[Household], rng: random.Random, day: date) -> list[Path]:
    path = folder / f"household_survey_{day.isoformat()}.csv"
    stamp = day.strftime("%Y%m%d")
    with atomic(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(VIETNAM_HEADER)
        ethnicity: dict[int, str] = {}
        for hh, p in _members_with_duplicates(rng, households):
            if hh.index not in ethnicity:
                ethnicity[hh.index] = (
                    rng.choice(_VN_MINORITIES)
                    if hh.marginalised
                    else ("Kinh" if rng.random() < 0.95 else "Hoa")
                )
            weight = rng.uniform(0.4, 0.9) if hh.marginalised else rng.uniform(1.1, 1.9)
            writer.writerow(
                [
                    f"AAVN-{stamp}-{hh.index:06d}-{p.member_no:02d}",
                    f"HH-{stamp}-{hh.index:06d}",
                    p.name,
                    hh.phone,
                    hh.area if rng.random() < 0.8 else AREA_NAMES[hh.area],
                    "Urban" if hh.urban else "Rural",
                    rng.choice(_SEX_MIXED[p.sex]),
                    p.age,
                    ethnicity[hh.index],
                    *(p.wg or [""] * 6),
                    _bool_text(rng, hh.safe_water, ("Yes", "yes", "1"), ("No", "no", "0")),
                    _yes_no(rng, p.felt_discriminated, dk=("dk",)),
                    f"{weight:.4f}",
                    hh.interview.date().isoformat(),
                ]
            )
    return [path]


# --------------------------------------------------------------------------------------------
# India: 100 hotspots; the coalition lead (UTF-8 ",") and Plan India (Latin-1 ";", late)
# --------------------------------------------------------------------------------------------

WNTA_HEADER = [
    "hotspot_id",
    "family_id",
    "member_sl",
    "member_name",
    "mobile",
    "state",
    "district",
    "rural_urban",
    "gender",
    "age_years",
    "social_group",
    "wg_see",
    "wg_hear",
    "wg_walk",
    "wg_remember",
    "wg_selfcare",
    "wg_communicate",
    "birth_certificate",
    "drinking_water_source",
    "survey_date",
]
PLAN_HEADER = [
    "Hotspot",
    "HH_No",
    "Member",
    "Name",
    "State",
    "Area",
    "Sex",
    "Age",
    "Category",
    "Seeing",
    "Hearing",
    "Walking",
    "Remembering",
    "Selfcare",
    "Communicating",
    "Birth_Reg",
    "Water_Source",
    "Remarks",
    "Date",
]
_CASTE = {
    "CASTE_SC": ("SC", "Scheduled Caste", "Dalit"),
    "CASTE_ST": ("ST", "Scheduled Tribe", "Adivasi"),
    "CASTE_OTHER": ("OBC", "General", "Other Backward Class"),
}
_REMARKS = (
    "",
    "",
    "",
    "",
    "Water source ½ km from hamlet",
    "Survey at 42°C, resumed next day",
    "Family returned from seasonal migration",
    "Member away for work",
    "Handpump broken since May",
)
_DISTRICTS = {
    "IN-BR": "Gaya",
    "IN-JH": "Ranchi",
    "IN-OD": "Koraput",
    "IN-UP": "Bahraich",
    "IN-RJ": "Barmer",
    "IN-MH": "Nandurbar",
    "IN-TN": "Dharmapuri",
    "IN-WB": "Purulia",
}


def india_hotspot(rng: random.Random, area: str) -> int:
    """Hotspots are spread over the states in order; a household lives in one of its state's."""
    k = INDIA_STATES.index(area)
    first = k * HOTSPOTS // len(INDIA_STATES) + 1
    last = (k + 1) * HOTSPOTS // len(INDIA_STATES)
    return rng.randint(first, last)


def write_india(
    out: Path, households: Iterable[Household], rng: random.Random, day: date, partners: set[str]
) -> list[Path]:
    """Both India partners' deliveries. Plan India uploads two days late: tonight's file is its
    delivery for ``day - 2`` (a late delivery for an earlier date)."""
    late = day - timedelta(days=2)
    wnta_path = out / "wnta_india" / day.isoformat() / f"hotspot_members_{day.isoformat()}.csv"
    plan_path = out / "plan_india" / late.isoformat() / f"PLAN_IN_members_{late.strftime('%Y%m%d')}.csv"
    written: list[Path] = []
    with (
        atomic(wnta_path, "w", encoding="utf-8", newline="") as wfh,
        atomic(plan_path, "w", encoding="latin-1", newline="") as pfh,
    ):
        wnta = csv.writer(wfh, lineterminator="\n")
        plan = csv.writer(pfh, delimiter=";", lineterminator="\r\n")
        wnta.writerow(WNTA_HEADER)
        plan.writerow(PLAN_HEADER)
        hotspot: dict[int, int] = {}
        for hh, p in _members_with_duplicates(rng, households):
            if hh.index not in hotspot:
                hotspot[hh.index] = india_hotspot(rng, hh.area)
            h = hotspot[hh.index]
            family = f"F{h:03d}-{day.strftime('%y%m%d')}-{hh.index:05d}"
            wg = p.wg or [""] * 6
            water = _water_label(rng, hh.safe_water)
            if h <= WNTA_HOTSPOTS:
                wnta.writerow(
                    [
                        f"HS{h:03d}",
                        family,
                        p.member_no,
                        p.name,
                        hh.phone if p.member_no == 1 else "",
                        _area(rng, hh.area),
                        _DISTRICTS[hh.area],
                        "Urban" if hh.urban else "Rural",
                        rng.choice(_SEX_MIXED[p.sex]),
                        p.age,
                        rng.choice(_CASTE[hh.group]),
                        *wg,
                        _yes_no(rng, p.birth_registered, dk=("Don't know", "DK")),
                        water,
                        hh.interview.strftime("%d/%m/%Y"),
                    ]
                )
            else:
                plan.writerow(
                    [
                        f"HS{h:03d}",
                        family,
                        p.member_no,
                        p.name,
                        _area(rng, hh.area),
                        "Urban" if hh.urban else "Rural",
                        rng.choice(("M", "1") if p.sex == "M" else ("F", "2")),
                        p.age,
                        _CASTE[hh.group][0],
                        *wg,
                        _yes_no(rng, p.birth_registered, dk=("DK",)),
                        water,
                        rng.choice(_REMARKS) if p.member_no == 1 else "",
                        (hh.interview - timedelta(days=2)).strftime("%d/%m/%Y"),
                    ]
                )
    if "wnta_india" in partners:
        written.append(wnta_path)
    else:
        wnta_path.unlink()
    if "plan_india" in partners:
        written.append(plan_path)
    else:
        plan_path.unlink()
    return written


# --------------------------------------------------------------------------------------------
# Nepal: VSO Nepal, XLSX with a title row above the header and a notes sheet
# --------------------------------------------------------------------------------------------

NEPAL_HEADER = [
    "HH ID",
    "Member ID",
    "Name",
    "Province",
    "Municipality",
    "Urban/Rural",
    "Sex",
    "Age",
    "Caste/Ethnicity",
    "Difficulty seeing",
    "Difficulty hearing",
    "Difficulty walking",
    "Difficulty remembering",
    "Difficulty self-care",
    "Difficulty communicating",
    "Birth registered (under 5)",
    "Drinking water source",
    "Felt discriminated (12 months)",
    "Needed health care (12 months)",
    "Received health care",
    "Weight",
    "Interview date",
]
_NP_GROUP = {
    "NP_DALIT": ("Dalit",),
    "NP_JANAJATI": ("Janajati", "Adivasi Janajati"),
    "NP_OTHER": ("Brahmin/Chhetri", "Brahmin/Chhetri", "Madhesi", "Muslim", "Other"),
}
_NP_MUNICIPALITY = {
    "NP-P1": "Biratnagar",
    "NP-P2": "Janakpur",
    "NP-P3": "Hetauda",
    "NP-P4": "Pokhara",
    "NP-P5": "Butwal",
    "NP-P6": "Birendranagar",
    "NP-P7": "Dhangadhi",
}
NEPAL_NOTES = [
    "VSO Nepal - Leave No One Behind community survey: notes for the data team",
    "One row per household member. Sheet 'Data' has a title in row 1 and the header in row 2.",
    "Difficulty questions follow the Washington Group Short Set: 1 no difficulty, 2 some difficulty,",
    "3 a lot of difficulty, 4 cannot do at all, 8 don't know, 9 refused. Asked of members aged 5+.",
    "Birth registration asked for children under 5 only. Weight: household sampling weight.",
    "Names are collected for follow-up visits only and must not be shared.",
]


def write_nepal(folder: Path, households: Iterable[Household], rng: random.Random, day: date) -> list[Path]:
    import xlsxwriter  # imported here: only this writer needs it

    path = folder / f"VSO_Nepal_LNOB_{day.isoformat()}.xlsx"
    stamp = day.strftime("%Y%m%d")
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_numbers": False})
        # A fixed creation time keeps the file byte-identical for the same seed and date.
        book.set_properties(
            {
                "title": "VSO Nepal LNOB survey",
                "author": "VSO Nepal MEL",
                "created": datetime(day.year, day.month, day.day),
            }
        )
        bold = book.add_format({"bold": True})
        date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet = book.add_worksheet("Data")
        sheet.write_string(
            0, 0, f"VSO Nepal - LNOB community survey, household members, delivered {day.isoformat()}", bold
        )
        for c, h in enumerate(NEPAL_HEADER):
            sheet.write_string(1, c, h, bold)
        row = 2
        groups: dict[int, str] = {}
        for hh, p in _members_with_duplicates(rng, households):
            if hh.index not in groups:
                groups[hh.index] = rng.choice(_NP_GROUP[hh.group])
            values = [
                f"NP-{stamp}-{hh.index:05d}",
                f"NP-{stamp}-{hh.index:05d}-{p.member_no}",
                p.name,
                _area(rng, hh.area, 0.2),
                _NP_MUNICIPALITY[hh.area],
                "Urban" if hh.urban else "Rural",
                rng.choice(("Female", "F") if p.sex == "F" else ("Male", "M")),
                p.age,
                groups[hh.index],
            ]
            for c, v in enumerate(values):
                (sheet.write_number if isinstance(v, int) else sheet.write_string)(row, c, v)
            for k, answer in enumerate(p.wg or []):
                sheet.write_number(row, 9 + k, int(answer))
            tail = [
                _yes_no(rng, p.birth_registered),
                _water_label(rng, hh.safe_water),
                _yes_no(rng, p.felt_discriminated),
                "Yes" if p.health_need else "No",
                _bool_text(rng, p.health_access),
            ]
            for k, v in enumerate(tail):
                if v:
                    sheet.write_string(row, 15 + k, v)
            sheet.write_number(
                row, 20, round(rng.uniform(0.8, 1.6) if hh.marginalised else rng.uniform(0.9, 1.3), 4)
            )
            sheet.write_datetime(row, 21, hh.interview.replace(tzinfo=None), date_fmt)
            row += 1
        notes = book.add_worksheet("Notes")
        for r, line in enumerate(NEPAL_NOTES):
            notes.write_string(r, 0, line)
        book.close()
    return [path]


# --------------------------------------------------------------------------------------------
# Bangladesh: the BRAC-led coalition on KoboToolbox (API v2 data pages, one per 500 submissions)
# --------------------------------------------------------------------------------------------

KOBO_SERVER = "https://kf.kobotoolbox.org"


def _kobo_member(rng: random.Random, p: Person) -> dict:
    m = {
        "hh_roster/member_no": str(p.member_no),
        "hh_roster/member_name": p.name,
        "hh_roster/sex": "female" if p.sex == "F" else "male",
        "hh_roster/age": str(p.age),
    }
    if p.wg is not None:  # KoboToolbox leaves out questions that were not relevant
        for domain, answer in zip(
            ("seeing", "hearing", "walking", "remembering", "selfcare", "communicating"), p.wg, strict=False
        ):
            m[f"hh_roster/wg/{domain}"] = WG_CHOICES[answer]
    m["hh_roster/health/needed_care"] = "yes" if p.health_need else "no"
    if p.health_access is not None:
        m["hh_roster/health/received_care"] = "yes" if p.health_access else "no"
    if p.birth_registered is not None:
        m["hh_roster/birth_registered"] = YES_NO_CHOICES[p.birth_registered]
    if p.felt_discriminated is not None:
        m["hh_roster/discriminated"] = YES_NO_CHOICES[p.felt_discriminated]
    return m


def _kobo_water(rng: random.Random, extra: random.Random, safe: bool) -> str:
    """A select_multiple answer (choice names separated by spaces): a safely served household lists
    only safe sources, another lists at least one unsafe one (the registry's rule: safe only when
    every listed source is)."""
    main = rng.choice(SAFE_SOURCES_CHOICES if safe else UNSAFE_SOURCES_CHOICES)
    if extra.random() < 0.25:
        other = extra.choice(SAFE_SOURCES_CHOICES)
        if other != main:
            return f"{main} {other}"
    return main


#: KoboToolbox `_validation_status` uids and labels; most submissions are never validated ({}).
KOBO_VALIDATION = {
    "validation_status_approved": ("Approved", "#00ff00"),
    "validation_status_on_hold": ("On Hold", "#0000ff"),
    "validation_status_not_approved": ("Not Approved", "#ff0000"),
}


def _kobo_validation(extra: random.Random, submitted: datetime) -> dict:
    uid = extra.choices(
        (None, "validation_status_on_hold", "validation_status_approved", "validation_status_not_approved"),
        (90, 3, 6, 1),
    )[0]
    if uid is None:
        return {}
    label, color = KOBO_VALIDATION[uid]
    return {
        "timestamp": int(submitted.timestamp()) + 3600,
        "uid": uid,
        "by_whom": f"brac_supervisor_{extra.randint(1, 6):02d}",
        "color": color,
        "label": label,
    }


def _kobo_submission(
    rng: random.Random,
    hh: Household,
    asset_uid: str,
    record_id: int,
    instance: str,
    deprecated: str | None,
    day: date,
    stamp: str,
) -> dict:
    start = hh.interview.replace(tzinfo=None)
    submitted = datetime(day.year, day.month, day.day) - timedelta(seconds=rng.randint(60, 20 * 3600))
    # draws added with the real API shape (select_multiple, validation status) come from a stream
    # of their own, so the rest of the sample stays what it was for a given seed
    extra = random.Random(f"kobo-{record_id}-{instance}")
    sub = {
        "_id": record_id,
        "formhub/uuid": "9f0c5e2a41b84c0e8a3bd1a6b0d1c2e3",
        "start": start.isoformat(timespec="milliseconds") + "+06:00",
        "end": (start + timedelta(minutes=rng.randint(18, 55))).isoformat(timespec="milliseconds") + "+06:00",
        "today": start.date().isoformat(),
        "deviceid": f"collect:{rng.getrandbits(48):012x}",
        "group_location/division": _area(rng, hh.area),
        "group_location/camp_or_host": "camp" if hh.group == "DISP_REFUGEE" else "host",
        "group_location/urban_rural": "urban" if hh.urban else "rural",
        "group_location/gps": f"{hh.lat} {hh.lon} 0.0 {rng.randint(3, 15)}.0",
        "group_hh/hh_code": f"BRC-{stamp}-{hh.index:06d}",
        "group_hh/head_name": hh.head_name,
        "group_hh/phone": hh.phone,
        "group_hh/upg_member": "yes" if hh.ultra_poor else "no",
        "group_wash/water_source": _kobo_water(rng, extra, hh.safe_water),
        "group_exp/consumption_month_bdt": str(hh.consumption_month),
        "group_exp/health_spending_12m_bdt": str(hh.oop_health_12m),
        "hh_roster_count": str(len(hh.members)),
        "hh_roster": [_kobo_member(rng, p) for p in hh.members],
        "__version__": "vQx3hLnobBgd2026a",
        "meta/instanceID": f"uuid:{instance}",
        "meta/rootUuid": f"uuid:{deprecated or instance}",
    }
    if deprecated:
        sub["meta/deprecatedID"] = f"uuid:{deprecated}"
    sub.update(
        {
            "_xform_id_string": asset_uid,
            "_uuid": instance,
            "_attachments": [],
            "_status": "submitted_via_web",
            "_geolocation": [hh.lat, hh.lon],
            "_submission_time": submitted.isoformat(timespec="seconds"),
            "_tags": [],
            "_notes": [],
            "_validation_status": _kobo_validation(extra, submitted),
            "_submitted_by": f"brac_enum_{rng.randint(1, 40):02d}",
        }
    )
    return sub


def write_kobo(
    folder: Path,
    households: Iterable[Household],
    rng: random.Random,
    day: date,
    seed: int,
    source_id: str,
    asset_uid: str,
    page_size: int,
) -> list[Path]:
    stamp = day.strftime("%Y%m%d")
    yesterday = day - timedelta(days=1)
    base, base_yesterday = _day_number(day) * 1_000_000, _day_number(yesterday) * 1_000_000
    submissions: list[dict] = []
    n = 0
    for hh in households:
        n += 1
        submissions.append(
            _kobo_submission(rng, hh, asset_uid, base + n, _uuid(seed, source_id, day, n), None, day, stamp)
        )
        if rng.random() < P_DUPLICATE:  # the enumerator's tablet sent the form again
            n += 1
            submissions.append(
                _kobo_submission(
                    rng, hh, asset_uid, base + n, _uuid(seed, source_id, day, n), None, day, stamp
                )
            )
        if rng.random() < P_EDIT:  # a supervisor corrected a record submitted the night before
            k = rng.randint(1, max(n, 1))
            submissions.append(
                _kobo_submission(
                    rng,
                    hh,
                    asset_uid,
                    base_yesterday + k,
                    _uuid(seed, source_id, day, "edit", k),
                    _uuid(seed, source_id, yesterday, k),
                    day,
                    yesterday.strftime("%Y%m%d"),
                )
            )
    return _write_pages(folder, "submissions", submissions, page_size, _kobo_page(asset_uid, page_size))


def _kobo_page(asset_uid: str, page_size: int):
    url = f"{KOBO_SERVER}/api/v2/assets/{asset_uid}/data/?format=json&limit={page_size}"

    def page(results: list[dict], start: int, total: int) -> dict:
        nxt = f"{url}&start={start + page_size}" if start + page_size < total else None
        prev = (f"{url}&start={start - page_size}" if start - page_size > 0 else url) if start else None
        return {"count": total, "next": nxt, "previous": prev, "results": results}

    return page


def _write_pages(folder: Path, stem: str, records: list[dict], page_size: int, shape) -> list[Path]:
    paths = []
    total = len(records)
    for number, start in enumerate(range(0, max(total, 1), page_size), start=1):
        path = folder / f"{stem}_page-{number:04d}.json"
        with atomic(path, "w", encoding="utf-8") as fh:
            json.dump(shape(records[start : start + page_size], start, total), fh, ensure_ascii=False)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Kenya: ActionAid Kenya community-led monitoring on ODK Central (OData pages)
# --------------------------------------------------------------------------------------------

ODK_SERVER = "https://central.aak-clm.example.org"


def _odk_submission(
    rng: random.Random,
    hh: Household,
    p: Person,
    key: str,
    instance: str,
    deprecated: str | None,
    day: date,
    stamp: str,
    edits: int,
) -> dict:
    start = hh.interview.replace(tzinfo=None) + timedelta(minutes=7 * p.member_no)
    submitted = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(
        seconds=rng.randint(60, 20 * 3600)
    )
    review = "edited" if edits else rng.choices((None, "hasIssues", "approved", "rejected"), (90, 3, 6, 1))[0]
    wg = None
    if p.wg is not None:
        wg = dict(
            zip(
                ("seeing", "hearing", "walking", "remembering", "selfcare", "communicating"),
                p.wg,
                strict=False,
            )
        )
    return {
        "__id": f"uuid:{key}",
        "start": start.isoformat(timespec="milliseconds") + "+03:00",
        "end": (start + timedelta(minutes=rng.randint(9, 30))).isoformat(timespec="milliseconds") + "+03:00",
        "today": start.date().isoformat(),
        "location": {
            "county": _area(rng, hh.area),
            "settlement_type": "urban" if hh.urban else "rural",
            "gps": {
                "type": "Point",
                "coordinates": [hh.lon, hh.lat, 0.0],
                "properties": {"accuracy": round(rng.uniform(3, 15), 1)},
            },
        },
        "respondent": {
            "respondent_code": f"AAK-{stamp}-{hh.index:06d}-{p.member_no:02d}",
            "household_code": f"AAK-HH-{stamp}-{hh.index:06d}",
            "name": p.name,
            "phone": hh.phone if p.age >= 18 else None,
            "sex": "female" if p.sex == "F" else "male",
            "age": p.age,
            "refugee_status": ("refugee" if rng.random() < 0.9 else "asylum_seeker")
            if hh.group == "DISP_REFUGEE"
            else "host",
        },
        "wg": wg,
        "services": {
            "water_source": rng.choice(SAFE_SOURCES_CHOICES if hh.safe_water else UNSAFE_SOURCES_CHOICES),
            "needed_care": "yes" if p.health_need else "no",
            "received_care": None if p.health_access is None else ("yes" if p.health_access else "no"),
            "discriminated": None if p.felt_discriminated is None else YES_NO_CHOICES[p.felt_discriminated],
        },
        "meta": {
            "instanceID": f"uuid:{instance}",
            **({"deprecatedID": f"uuid:{deprecated}"} if deprecated else {}),
        },
        "__system": {
            "submissionDate": submitted.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "updatedAt": submitted.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if edits
            else None,
            "submitterId": str(rng.randint(20, 60)),
            "submitterName": f"clm_monitor_{rng.randint(1, 25):02d}",
            "attachmentsPresent": 0,
            "attachmentsExpected": 0,
            "status": None,
            "reviewState": review,
            "deviceId": f"collect:{rng.getrandbits(48):012x}",
            "edits": edits,
            "formVersion": "2026.03",
        },
    }


def write_odk(
    folder: Path,
    households: Iterable[Household],
    rng: random.Random,
    day: date,
    seed: int,
    source_id: str,
    project_id: int,
    form_id: str,
    page_size: int,
) -> list[Path]:
    stamp = day.strftime("%Y%m%d")
    yesterday = day - timedelta(days=1)
    records: list[dict] = []
    n = 0
    for hh in households:
        for p in hh.members:
            n += 1
            key = _uuid(seed, source_id, day, n)
            records.append(_odk_submission(rng, hh, p, key, key, None, day, stamp, 0))
            if rng.random() < P_DUPLICATE:  # the same person interviewed twice, a new submission
                n += 1
                key = _uuid(seed, source_id, day, n)
                records.append(_odk_submission(rng, hh, p, key, key, None, day, stamp, 0))
            if rng.random() < P_EDIT:  # an edit of yesterday's submission k: same __id
                k = rng.randint(1, n)
                records.append(
                    _odk_submission(
                        rng,
                        hh,
                        p,
                        _uuid(seed, source_id, yesterday, k),
                        _uuid(seed, source_id, day, "edit", k),
                        _uuid(seed, source_id, yesterday, k),
                        day,
                        yesterday.strftime("%Y%m%d"),
                        1,
                    )
                )
    service = f"{ODK_SERVER}/v1/projects/{project_id}/forms/{form_id}.svc"

    def page(results: list[dict], start: int, total: int) -> dict:
        body = {"@odata.context": f"{service}/$metadata#Submissions", "@odata.count": total, "value": results}
        if start + page_size < total:
            body["@odata.nextLink"] = (
                f"{service}/Submissions?%24top={page_size}&%24skip={start + page_size}&%24count=true"
            )
        return body

    return _write_pages(folder, "Submissions", records, page_size, page)
