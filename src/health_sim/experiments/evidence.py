"""The evidence file (``params/validation/evidence.yaml``): what the model should reproduce.

Every published finding or county figure is one item with its estimate, its uncertainty, its
source, how comparable the model's measure is, and its **role**, declared before any fit:
``calibration`` (the fit may use it), ``held_out`` (kept to judge the fitted model) or
``not_used`` (the model cannot mirror it yet; the reason says why). A calibration item must
carry an uncertainty: a published interval, a standard error, or an assumed standard error
with the reason for it. :func:`load_evidence` validates the file, with one-line errors naming
the file and the key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator, model_validator

from health_sim.config.messages import validate_file
from health_sim.core.fields import P, Section
from health_sim.core.paths import resolve

EVIDENCE = Path("params") / "validation" / "evidence.yaml"
"""The evidence file, relative to the repository root."""

Z95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""


class Item(Section):
    """One published finding or county figure the model is set beside."""

    id: str = P(..., "Unique name of the item.")
    lever: str | None = P(
        None, "The lever or mechanism it informs (price, distance, contract, severity, ...); none for an aggregate."
    )
    measure: str = P(..., "What exactly the study or the county measured.")
    model_equivalent: str = P(
        ..., "The model quantity set beside it, and how the simulated experiment mirrors the study."
    )
    value: float = P(..., "The published estimate.", unit="as `unit`")
    low: float | None = P(
        None, "Lower end of the published interval (95% unless the note says otherwise).", unit="as `unit`"
    )
    high: float | None = P(None, "Upper end of the published interval.", unit="as `unit`")
    scale: Literal["linear", "log"] = P("linear", "The scale on which the interval is symmetric (log for odds ratios).")
    se: float | None = P(None, "Published standard error.", unit="as `unit`", gt=0.0)
    assumed_se: float | None = P(
        None, "Standard error assumed where none is published (give assumed_se_reason).", unit="as `unit`", gt=0.0
    )
    assumed_se_reason: str = P("", "Why that standard error.")
    unit: str = P(..., "Unit of the value.")
    population: str = P("", "Who was studied.")
    source: str = P(..., "The publication or report.")
    url: str = P(..., "Where the number was seen.")
    confirmed: bool = P(..., "Whether the number and the description of the measure were both seen at the URL.")
    comparability: Literal["high", "medium", "low"] | None = P(
        None, "How closely the model can reproduce the study's measure."
    )
    note: str = P("", "Caveats.")
    role: Literal["calibration", "held_out", "not_used"] = P(
        ..., "Its use, declared before fitting: fitted to, kept out to judge the fit, or not usable yet."
    )
    role_reason: str = P(..., "Why this role.")
    conflict: str = P(
        "",
        (
            "Where the model cannot mirror the item, or it disagrees with other evidence, as a fit found it: said "
            "here rather than forced."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        """Refuse an interval that does not hold the value, and a calibration item without uncertainty."""
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither")
        if self.low is not None and not self.low <= self.value <= self.high:
            raise ValueError(f"the interval {self.low} to {self.high} does not hold the value {self.value}")
        if self.scale == "log" and (self.low is None or self.low <= 0 or self.value <= 0):
            raise ValueError("scale log needs a positive value and a positive interval")
        if self.assumed_se is not None and not self.assumed_se_reason.strip():
            raise ValueError("assumed_se needs assumed_se_reason")
        if self.role == "calibration" and self.standard_error() is None:
            raise ValueError("a calibration item needs an uncertainty: low and high, se, or assumed_se with its reason")
        if not self.role_reason.strip():
            raise ValueError("role_reason is empty: say why the item has its role")
        return self

    def standard_error(self) -> float | None:
        """Standard error of the value (on the log scale when ``scale`` is log), or None.

        A published standard error first; else half the 95% interval over 1.96; else the assumed one.
        """
        if self.se is not None:
            return self.se
        if self.low is not None and self.high is not None:
            if self.scale == "log":
                return (math.log(self.high) - math.log(self.low)) / (2 * Z95)
            return (self.high - self.low) / (2 * Z95)
        return self.assumed_se


class NationalSeries(Section):
    """The national grassroots share of visits by year (a trend to reproduce, not a level)."""

    measure: str = P(..., "What the series measures.")
    model_equivalent: str = P(..., "The model quantity set beside it.")
    source: str = P(..., "Where the series comes from.")
    url: str = P(..., "Where it was seen.")
    values: dict[int, float] = P(..., "Share of visits at grassroots institutions by year.", unit="share")
    provenance: dict[int, dict[str, Any]] = P(
        dict, "For each year, where the number was seen (or that it was not found)."
    )
    earlier_values: dict[str, Any] = P(dict, "Earlier figures from another source.")
    role: Literal["calibration", "held_out", "not_used"] = P("held_out", "Its use (see Item.role).")
    role_reason: str = P("", "Why this role.")
    conflict: str = P("", "Where the model does not reproduce the trend, what moved it, and what the model lacks.")


class Qualitative(Section):
    """A direction-only finding (no usable number)."""

    lever: str = P(..., "The lever it concerns.")
    finding: str = P(..., "The finding.")
    source: str = P(..., "The publication.")
    url: str = P(..., "Where it was seen.")


class NotFound(Section):
    """Something looked for and not found."""

    item: str = P(..., "What was looked for.")
    detail: str = P(..., "Where it was looked for.")


class ModelInput(Section):
    """A published figure already used as a model input (so agreement with it is no validation)."""

    source: str = P(..., "The publication.")
    used_for: str = P(..., "Which parameters it set.")
    note: str = P("", "Caveats.")
    url: str = P("", "Where it was seen.")


class EvidenceFile(Section):
    """The whole evidence file."""

    split: str = P(
        ..., "How the items were split into calibration and held-out sets, and why (declared before fitting)."
    )
    county_figures: list[Item] = P(list, "The county's own published figures (Yangshan 2023).")
    national_grassroots_share: NationalSeries = P(..., "The national trend of the grassroots share.")
    effects: list[Item] = P(..., "Published effects of levers and mechanisms.")
    other_checks: list[Item] = P(list, "Aggregates and stated preferences that map to a KPI but to no single lever.")
    qualitative_evidence: list[Qualitative] = P(list, "Direction-only findings.")
    not_found: list[NotFound] = P(list, "What was looked for and not found.")
    excluded_model_inputs: list[ModelInput] = P(list, "Figures used as model inputs.")

    @field_validator("split")
    @classmethod
    def _said(cls, v: str) -> str:
        """Refuse an empty statement of the split."""
        if len(v.split()) < 10:
            raise ValueError("say how the evidence was split and why (a sentence at least)")
        return v

    @model_validator(mode="after")
    def _unique(self) -> EvidenceFile:
        """Refuse an id used twice."""
        seen: set[str] = set()
        for item in self.items():
            if item.id in seen:
                raise ValueError(f"id '{item.id}' is used twice")
            seen.add(item.id)
        return self

    def items(self) -> list[Item]:
        """Every item with a number: the county's figures, the effects and the other checks."""
        return [*self.county_figures, *self.effects, *self.other_checks]

    def by_role(self, role: str) -> list[Item]:
        """The items of one role (calibration, held_out or not_used)."""
        return [i for i in self.items() if i.role == role]


def load_evidence_file(path: str | Path = EVIDENCE) -> EvidenceFile:
    """The validated evidence file; a problem is one ParamsError line naming the file and the key."""
    return validate_file(EvidenceFile, resolve(path))
