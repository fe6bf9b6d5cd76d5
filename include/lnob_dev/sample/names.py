"""Made-up but plausible names, phone numbers and coordinates: the identifiers the raw layer
receives and nothing downstream may ever show."""

from __future__ import annotations

import random

_GIVEN = {
    "BGD": {
        "F": ["Ayesha", "Fatema", "Nasrin", "Rokeya", "Sharmin", "Hasina", "Jannat", "Rahima"],
        "M": ["Abdul", "Karim", "Rafiq", "Jamal", "Nur", "Mohammad", "Anwar", "Sohel"],
    },
    "IND": {
        "F": ["Sunita", "Priya", "Lakshmi", "Kavita", "Meena", "Radha", "Anjali", "Pooja"],
        "M": ["Ramesh", "Suresh", "Arjun", "Vijay", "Mohan", "Ravi", "Anil", "Raju"],
    },
    "KEN": {
        "F": ["Amina", "Wanjiru", "Akinyi", "Nafula", "Chebet", "Halima", "Atieno", "Njeri"],
        "M": ["Otieno", "Kamau", "Mwangi", "Abdi", "Kiprono", "Ekai", "Ochieng", "Hassan"],
    },
    "NPL": {
        "F": ["Sita", "Gita", "Maya", "Sarita", "Kamala", "Laxmi", "Bishnu", "Radhika"],
        "M": ["Ram", "Hari", "Krishna", "Bikash", "Suman", "Prakash", "Dipak", "Bhim"],
    },
    "VNM": {
        "F": ["Lan", "Hoa", "Mai", "Thu", "Huong", "Linh", "Nga", "Vang"],
        "M": ["Minh", "Tuan", "Hung", "Dung", "Son", "Pao", "Long", "Quang"],
    },
}
_FAMILY = {
    "BGD": ["Begum", "Khatun", "Hossain", "Rahman", "Islam", "Akter", "Uddin", "Ali"],
    "IND": ["Kumar", "Devi", "Singh", "Yadav", "Paswan", "Munda", "Oraon", "Das"],
    "KEN": ["Hassan", "Odhiambo", "Wafula", "Lokiru", "Mohamed", "Njoroge", "Ekiru", "Adan"],
    "NPL": ["Sharma", "Tamang", "Gurung", "B.K.", "Magar", "Yadav", "Rai", "Thapa"],
    "VNM": ["Nguyen", "Tran", "Giang", "Lo", "Sung", "Hoang", "Ly", "Vang"],
}
_PHONE = {
    "BGD": ("+880 1", 9),
    "IND": ("+91 9", 9),
    "KEN": ("+254 7", 8),
    "NPL": ("+977 98", 8),
    "VNM": ("+84 9", 8),
}  # prefix, digits after it
_BOX = {  # rough bounding boxes: lat min, lat max, lon min, lon max
    "BGD": (20.8, 26.5, 88.1, 92.6),
    "IND": (8.1, 30.5, 69.0, 89.0),
    "KEN": (-4.6, 4.5, 34.0, 41.8),
    "NPL": (26.4, 30.4, 80.1, 88.1),
    "VNM": (8.6, 23.3, 102.2, 109.4),
}


def person(rng: random.Random, iso3: str, sex: str) -> str:
    return f"{rng.choice(_GIVEN[iso3][sex])} {rng.choice(_FAMILY[iso3])}"


def phone(rng: random.Random, iso3: str) -> str:
    prefix, digits = _PHONE[iso3]
    return prefix + str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def coordinates(rng: random.Random, iso3: str) -> tuple[float, float]:
    lat0, lat1, lon0, lon1 = _BOX[iso3]
    return round(rng.uniform(lat0, lat1), 6), round(rng.uniform(lon0, lon1), 6)


def all_given_names() -> set[str]:
    """Every given name the generator can produce (tests look for them in published text)."""
    return {n for by_sex in _GIVEN.values() for names in by_sex.values() for n in names}
