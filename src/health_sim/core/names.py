"""The model's vocabulary, each list written once.

Facility levels, episode kinds, specialties, chronic conditions, facility types, age bands and
the columns of a care choice.

The enums give each name its integer code (the index used by every array and by the compiled
engine); the tuples of lower-case names (``LEVELS``, ``KINDS``, ...) are derived from them and
are the keys of parameter files and of output columns. Code compares with the enums
(``level <= Level.TOWNSHIP``), never with bare integers.
"""

from __future__ import annotations

from enum import IntEnum


class Level(IntEnum):
    """Facility levels, lowest first. The grassroots are the village and township levels."""

    VILLAGE = 0
    TOWNSHIP = 1
    COUNTY = 2
    CITY = 3


class Kind(IntEnum):
    """Episode kinds: minor acute, chronic follow-up, serious, emergency, needing admission."""

    MINOR = 0
    CHRONIC = 1
    SERIOUS = 2
    EMERGENCY = 3
    ADMISSION = 4


class Specialty(IntEnum):
    """Doctor specialties; every episode needs one of them."""

    INTERNAL_GENERAL = 0
    SURGERY = 1
    PAEDIATRICS = 2
    EMERGENCY_CARDIOLOGY = 3
    OBSTETRICS_GYNAECOLOGY = 4
    TCM = 5


class Condition(IntEnum):
    """Chronic conditions tracked per resident (bit ``1 << code`` of a resident's condition flags)."""

    HYPERTENSION = 0
    DIABETES = 1
    COPD = 2


class Column(IntEnum):
    """Facility columns of a care choice (staying home is apart).

    The resident's own village clinic and township centre, the three county hospitals, the city
    tertiary hospital.
    """

    VILLAGE = 0
    TOWNSHIP = 1
    COUNTY_PEOPLE = 2
    COUNTY_TCM = 3
    COUNTY_MCH = 4
    CITY = 5


def _names(enum: type[IntEnum]) -> tuple[str, ...]:
    return tuple(m.name.lower() for m in enum)


LEVELS = _names(Level)
"""Facility level names, lowest first."""
KINDS = _names(Kind)
"""Episode kind names."""
SPECIALTIES = _names(Specialty)
"""Specialty names."""
CONDITIONS = _names(Condition)
"""Chronic condition names."""
FACILITY_COLUMNS = ("village", "township", "county_people", "county_tcm", "county_mch", "city")
"""Names of the choice columns (:class:`Column`)."""
COLUMN_LEVEL = (Level.VILLAGE, Level.TOWNSHIP, Level.COUNTY, Level.COUNTY, Level.COUNTY, Level.CITY)
"""Level of each choice column."""
SEVERE_KINDS = (Kind.SERIOUS, Kind.EMERGENCY, Kind.ADMISSION)
"""Kinds chosen with the severe choice weights (the others with the minor weights)."""
KIND_GROUPS = ("minor", "chronic", "severe")
"""Groups of episode kinds some counters are kept by: minor, chronic follow-up, severe (:data:`SEVERE_KINDS`)."""

FACILITY_TYPES = (
    "village_clinic",
    "township_centre",
    "county_people",
    "county_tcm",
    "county_mch",
    "city_tertiary",
)
"""Facility types. county_* are the three county hospitals; city_tertiary is outside the county."""

FACILITY_LEVEL = {
    "village_clinic": "village",
    "township_centre": "township",
    "county_people": "county",
    "county_tcm": "county",
    "county_mch": "county",
    "city_tertiary": "city",
}
"""Level of each facility type."""

AGE_BANDS = ("0-14", "15-44", "45-64", "65+")
"""Age bands (years) used by every age-specific table; the last is open-ended (to 90)."""
AGE_BAND_EDGES = (0, 15, 45, 65, 91)
"""Lower edges of the age bands, and the end of the last (years)."""

assert len(FACILITY_COLUMNS) == len(Column) == len(COLUMN_LEVEL)
assert set(FACILITY_LEVEL) == set(FACILITY_TYPES) and set(FACILITY_LEVEL.values()) == set(LEVELS)
assert len(AGE_BAND_EDGES) == len(AGE_BANDS) + 1
