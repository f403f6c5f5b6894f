"""Parameter uncertainty: drawing parameter sets from a calibrated ensemble.

A calibrated file (params/calibrated/*.yaml, written by ``health-sim calibrate``) holds an
ensemble of parameter sets that fit the observed figures about equally well. Runs that
carry parameter uncertainty give replicate ``r`` the seed of replicate ``r`` *and* the
ensemble member drawn for replicate ``r``; the draw depends only on the base seed and the
number of replicates, so every scenario of a comparison gets the same members in the
same replicates (common random numbers extend to common parameters) and two scenarios
still differ only by their policies. Intervals across replicates then reflect chance and
parameter uncertainty together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from health_sim.config.files import read_yaml
from health_sim.config.params import with_overrides
from health_sim.core.errors import ParamsError
from health_sim.core.paths import resolve

DEFAULT = Path("params") / "calibrated" / "yangshan_2023.yaml"
"""The calibrated file the scenario suite draws from by default (when it exists)."""


@dataclass(frozen=True)
class Ensemble:
    """Members (dotted-key parameter values) of a calibrated file, best first, and what its provenance says.

    Whether the members fit within tolerance, and the hash of the base parameters they were
    fitted on.
    """

    path: Path
    members: tuple[dict[str, float], ...]
    trials: tuple[int, ...]
    within_tolerance: bool = True
    base: str = ""
    base_params_sha256: str = ""
    converged: bool = True  # a posterior (health-sim fit) says whether its runs converged
    hash_with_member: bool = False  # hashed with a member's values set (the fitted keys' defaults do not count)
    base_params: dict | None = None  # the base parameters fitted on, dotted keys (fitted keys apart), if recorded

    def warnings(self) -> list[str]:
        """Reasons to doubt this ensemble now, one line each (empty when there are none)."""
        out = []
        if not self.converged:
            out.append(
                f"{self.path}: the fit did not converge (its provenance says why): its draws are not a trustworthy "
                "posterior, so intervals drawn from them do not carry a trustworthy parameter uncertainty"
            )
        if not self.within_tolerance:
            out.append(
                f"{self.path}: no parameter set fitted within tolerance; the ensemble is the best few (recalibrate "
                "with wider priors or tolerances)"
            )
        if self.base and (self.base_params or self.base_params_sha256):
            from health_sim.config.params import changed_params, load_params, params_hash
            from health_sim.core.errors import ParamsError

            try:
                base = load_params(resolve(self.base))
            except (ParamsError, FileNotFoundError):
                base = None
            if base is not None and self.base_params:  # key by key: which parameters moved
                moved = changed_params(self.base_params, with_overrides(base, self.members[0]), set(self.members[0]))
                if moved:
                    out.append(
                        f"{self.path}: calibrated on other base parameters than {self.base} has now "
                        f"({', '.join(moved[:3])}{' ...' if len(moved) > 3 else ''}); recalibrate before trusting it"
                    )
            elif (
                base is None
                or params_hash(with_overrides(base, self.members[0]) if self.hash_with_member else base)
                != self.base_params_sha256
            ):
                out.append(
                    f"{self.path}: calibrated on other base parameters than {self.base} has now; recalibrate "
                    "before trusting it"
                )
        return out

    def __len__(self) -> int:
        return len(self.members)

    def draw(self, replicates: int, seed: int) -> list[int]:
        """Member index of each replicate: a shuffle of the members (from ``seed``), repeated as needed.

        So that few replicates still span the ensemble rather than its best.
        """
        g = np.random.default_rng(np.random.SeedSequence([seed, 0xE45E]))
        order: list[int] = []
        while len(order) < replicates:
            order += [int(i) for i in g.permutation(len(self.members))]
        return order[:replicates]

    def overrides(self, replicates: int, seed: int) -> list[tuple[int, dict[str, float]]]:
        """(trial number, parameter values) of the member of each replicate."""
        return [(self.trials[i], dict(self.members[i])) for i in self.draw(replicates, seed)]


def load_ensemble(path: str | Path) -> Ensemble:
    """Read the ensemble of a calibrated file; a bad file is one ParamsError line."""
    p = resolve(path)
    data = read_yaml(p)
    rows = data.get("ensemble")
    if not isinstance(rows, list) or not rows:
        raise ParamsError(f"{p}: ensemble: missing or empty (write it with health-sim calibrate)")
    members, trials = [], []
    for i, r in enumerate(rows):
        values = r.get("values") if isinstance(r, dict) else None
        if not isinstance(values, dict) or not values or not all(isinstance(v, (int, float)) for v in values.values()):
            raise ParamsError(f"{p}: ensemble.{i}.values: must map parameter keys to numbers")
        members.append(dict(values))
        trials.append(int(r.get("trial", i)))
    prov = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    return Ensemble(
        p,
        tuple(members),
        tuple(trials),
        bool(prov.get("within_tolerance", True)),
        str(prov.get("base", "")),
        str(prov.get("base_params_sha256", "")),
        bool(prov.get("converged", True)),
        "hash_rule" in prov,
        prov.get("base_params") if isinstance(prov.get("base_params"), dict) else None,
    )


def default_ensemble() -> Path | None:
    """The default calibrated file if it exists (the scenario suite's default), else None."""
    try:
        p = resolve(DEFAULT)
    except FileNotFoundError:
        return None
    return p if p.exists() else None


def default_ensemble_to_use() -> tuple[Path | None, str]:
    """The default calibrated file if scenario runs should draw from it, and why not when they should not."""
    return ensemble_to_use(default_ensemble())


def ensemble_to_use(path: str | Path | None) -> tuple[Path | None, str]:
    """``path`` if runs should draw from it by default, else (None, why not).

    A posterior whose fit did not converge is not drawn from by default: runs use the base
    values and say so.
    """
    if not path:
        return None, ""
    p = resolve(path)
    if not load_ensemble(p).converged:
        return None, (
            f"{p}: the fit did not converge, so scenarios run on the base values without parameter uncertainty "
            f"(--ensemble {p} draws from it anyway)"
        )
    return p, ""


def check_ensemble(where: str, ensemble: Path, params) -> None:
    """The calibrated file must exist and its members must be valid parameters of the base.

    Errors are one line starting with ``where`` (the spec file and key, or the flag).
    """
    if not ensemble.exists():
        raise ParamsError(f"{where}: {ensemble}: no such file (write it with health-sim calibrate)")
    ens = load_ensemble(ensemble)
    for trial, member in zip(ens.trials, ens.members, strict=True):
        try:
            with_overrides(params, member)
        except ParamsError as e:
            raise ParamsError(f"{where}: {ensemble}: member {trial}: {str(e).removeprefix('--set ')}") from None
