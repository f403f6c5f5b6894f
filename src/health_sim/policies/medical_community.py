"""Close-knit county medical community (紧密型县域医共体).

One drug list (chronic follow-up at the grassroots) and shared lab and imaging (serious episodes
at township centres).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Gaps, Lever

if TYPE_CHECKING:
    from health_sim.policies.run import PolicyRun


class MedicalCommunity(Lever):
    """Close-knit county medical community (紧密型县域医共体).

    One drug list: village and township close i x drug_list_lift of the gap for chronic
    follow-up. Shared lab and imaging: township centres close i x lab_lift for serious episodes.
    """

    unified_drug_list: bool = P(
        True, "The grassroots stocks what the county hospital prescribes.", unit="bool", source="DOMAIN"
    )
    drug_list_lift: Rate = P(
        0.8,
        "Share of the gap closed for chronic follow-up at village and township with one drug list.",
        unit="share of the gap",
        source="assumption",
    )
    shared_lab_imaging: bool = P(True, "Shared lab and imaging for the township centres.", unit="bool", source="DOMAIN")
    lab_lift: Rate = P(
        0.15,
        "Share of the gap closed for serious episodes at township centres with shared lab and imaging.",
        unit="share of the gap",
        source="assumption",
    )

    def close_gaps(self, gaps: Gaps, date: dt.date, run: PolicyRun) -> None:
        """Close the grassroots' chronic gap (one drug list) and the centres' serious gap (shared lab, imaging)."""
        if (i := self.intensity(date)) > 0:
            if self.unified_drug_list:
                gaps.close(gaps.grassroots, ("chronic",), i * self.drug_list_lift)
            if self.shared_lab_imaging:
                gaps.close(gaps.town, ("serious",), i * self.lab_lift)
