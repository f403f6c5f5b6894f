"""The evidence file (params/validation/evidence.yaml).

Validated with one-line errors; every item has a declared role, and every calibration item an
uncertainty.
"""

import math
import re
from pathlib import Path

import pytest
import yaml

from health_sim.core.errors import ParamsError
from health_sim.experiments.evidence import EVIDENCE, Z95, load_evidence_file

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / EVIDENCE).read_text(encoding="utf-8")


def test_the_evidence_file_is_valid_and_split_before_fitting():
    e = load_evidence_file(ROOT / EVIDENCE)
    roles = {i.id: i.role for i in e.items()}
    assert len(roles) == len(e.items())  # ids are unique
    assert e.by_role("calibration") and e.by_role("held_out")
    for item in e.by_role("calibration"):
        se = item.standard_error()
        assert se is not None and se > 0, item.id
    # the county's own aggregates are fitted; its year-on-year changes are kept to judge the fit
    assert roles["yangshan_grassroots_share_2023"] == "calibration"
    assert roles["yangshan_downward_referrals_change_2022_2023"] == "held_out"
    # each lever with a calibration item keeps at least one item of the same lever out of the fit
    for lever in {i.lever for i in e.by_role("calibration") if i.lever}:
        assert any(i.lever == lever for i in e.by_role("held_out")), lever


def test_standard_errors_from_intervals():
    e = load_evidence_file(ROOT / EVIDENCE)
    items = {i.id: i for i in e.items()}
    price = items["price_elasticity_first_outpatient_visit_rural"]
    assert price.standard_error() == pytest.approx((price.high - price.low) / (2 * Z95))
    odds = items["distance_nearest_primary_hypertension_preference"]  # an odds ratio: symmetric on the log scale
    assert odds.scale == "log"
    assert odds.standard_error() == pytest.approx(math.log(51.34 / 2.09) / (2 * Z95))


def _first_item_replaced(old: str, new: str) -> str:
    assert old in TEXT, old
    return TEXT.replace(old, new, 1)


BAD = {
    "calibration_without_uncertainty": (
        _first_item_replaced("    assumed_se: 50000\n", ""),
        ("county_figures.0", "uncertainty"),
    ),
    "interval_not_holding_the_value": (
        _first_item_replaced("    low: -0.703\n", "    low: -0.4\n"),
        ("effects.0", "does not hold the value"),
    ),
    "role_missing": (
        _first_item_replaced('    role: held_out\n    role_reason: "Approximate', '    role_reason: "Approximate'),
        ("effects.", "role", "missing"),
    ),
    "unknown_role": (
        _first_item_replaced("    role: not_used\n", "    role: maybe\n"),
        ("role",),
    ),
    "misspelt_key": (
        _first_item_replaced("    comparability: medium\n", "    comparabilty: medium\n"),
        ("comparabilty", "unknown key"),
    ),
    "duplicate_id": (
        _first_item_replaced("  - id: yangshan_tcm_share_2023\n", "  - id: yangshan_grassroots_share_2023\n"),
        ("yangshan_grassroots_share_2023", "twice"),
    ),
    "split_not_said": (
        re.sub(r"split: >-\n(  .*\n)+", "split: see notes\n", TEXT, count=1),
        ("split",),
    ),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_evidence_file_is_one_line_naming_the_file_and_key(name, tmp_path):
    text, fragments = BAD[name]
    yaml.safe_load(text)  # the case is valid YAML: the schema, not the parser, must refuse it
    path = tmp_path / "evidence.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as err:
        load_evidence_file(path)
    line = str(err.value)
    assert "\n" not in line and len(line) <= 300
    assert str(path) in line
    for f in fragments:
        assert f in line, line
