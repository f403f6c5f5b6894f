"""A county from a small set of files, so that a researcher can study her own county.

A county set is a folder::

    county.yaml      the `county` section's single values (name, population, county_seat,
                     city position, road speeds ...); required
    townships.csv    one row per township: name, population, villages, x_km, y_km
                     [, name_zh, radius_km, urban_share]; required
    villages.csv     one row per village: township, population, and x_km, y_km or the
                     travel minutes (minutes_village_clinic, minutes_township_centre,
                     minutes_county, minutes_city) [, name, urban]; optional: without
                     it each township's `villages` are laid out at random
    facilities.csv   one row per facility type (column `type`) overriding its staff
                     (doctors_<specialty>), beds, prices ...; optional

A parameter file uses a set with ``county: <folder>`` (relative to the file), and
``health-sim run --county <folder>`` does the same from the command line. Every key
keeps the unit and range the schema gives it (``health-sim params``); a bad cell is
reported in one line naming the file, the row and the column.
"""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path
from typing import Any

import yaml

from health_sim.config.files import file_kind, read_text, read_yaml
from health_sim.config.messages import describe
from health_sim.config.schema import TRAVEL_TARGETS, CountyParams, FacilityType, Township, Village, county_problems
from health_sim.core.errors import ParamsError, short
from health_sim.core.names import FACILITY_TYPES, KINDS, SPECIALTIES

FILES = ("county.yaml", "townships.csv", "villages.csv", "facilities.csv")
_LIST_KEYS = ("townships", "villages")
REQUIRED = ("name", "population", "county_seat", "city_x_km", "city_y_km")
"""Keys county.yaml must give (the others keep the schema's defaults: road speeds and the like)."""


class CountyFileError(ParamsError):
    """A county file set is invalid; ``str(err)`` is one line naming the file, row and column."""


def _columns(model: type, nested: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """CSV columns of a section: its plain fields, and ``<prefix>_<key>`` for dict fields."""
    cols = [f for f in model.model_fields if f not in nested]
    for prefix, keys in nested.values():
        cols += [f"{prefix}_{k}" for k in keys]
    return cols


_NESTED = {
    "townships.csv": (Township, {}),
    "villages.csv": (Village, {"travel_minutes": ("minutes", TRAVEL_TARGETS)}),
    "facilities.csv": (FacilityType, {"doctors": ("doctors", SPECIALTIES), "capability": ("capability", KINDS)}),
}
COLUMNS = {name: _columns(model, nested) for name, (model, nested) in _NESTED.items()}
COLUMNS["facilities.csv"] = ["type"] + COLUMNS["facilities.csv"]


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of every non-empty row; empty cells are left out; unknown or repeated columns are errors.

    The file must be a regular UTF-8 text file of at most 20 MB.
    """
    try:
        text = read_text(path, "county table")
    except ParamsError as e:
        raise CountyFileError(str(e)) from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        allowed = COLUMNS[path.name]
        seen: set[str] = set()
        for col in header:
            name = (col or "").strip()
            if col is None or name not in allowed:
                close = difflib.get_close_matches(name[:60], allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (columns: {', '.join(allowed)})"
                raise CountyFileError(f"{path}: column '{short(col, 60)}' is not known{hint}")
            if name in seen:
                raise CountyFileError(f"{path}: column '{name}' appears twice")
            seen.add(name)
        rows = []
        for row in reader:
            if None in row:
                raise CountyFileError(f"{path}: row {reader.line_num}: more cells than columns")
            # Cells stay text: the schema converts each to its column's type, so a village called Nan or No
            # stays a name.
            cells = {k.strip(): v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
            if cells:
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise CountyFileError(f"{path}: malformed CSV: {short(str(e), 120)}") from None
    if not rows:
        raise CountyFileError(f"{path}: no rows")
    return rows


def _fold(cells: dict, nested: dict[str, tuple[str, tuple[str, ...]]]) -> dict:
    """``minutes_city`` -> ``travel_minutes: {city: ...}`` and the like."""
    out = dict(cells)
    for field, (prefix, keys) in nested.items():
        sub = {k: out.pop(f"{prefix}_{k}") for k in keys if f"{prefix}_{k}" in out}
        if sub:
            out[field] = sub
    return out


def column_of(parts: list[str] | tuple) -> str:
    """The CSV column of a key inside a row; plain fields are their own column.

    ``("travel_minutes", "city")`` -> ``minutes_city``, ``("doctors", "surgery")`` ->
    ``doctors_surgery``.
    """
    parts = [str(p) for p in parts]
    for _, nested in _NESTED.values():
        if len(parts) == 2 and parts[0] in nested:
            return f"{nested[parts[0]][0]}_{parts[1]}"
    return ".".join(parts)


def _row_error(path: Path, line: int, e: Exception) -> CountyFileError:
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        loc, msg = describe(e.errors()[0])
        return CountyFileError(f"{path}: row {line}, {column_of(loc)}: {msg}" if loc else f"{path}: row {line}: {msg}")
    return CountyFileError(f"{path}: row {line}: {e}")


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0.0
    except ValueError:
        return False


def _unfold(row: dict, nested: dict[str, tuple[str, tuple[str, ...]]]) -> dict:
    """The inverse of :func:`_fold`: ``travel_minutes: {city: ...}`` -> ``minutes_city``."""
    out = {k: v for k, v in row.items() if k not in nested}
    for field, (prefix, _) in nested.items():
        out |= {f"{prefix}_{k}": v for k, v in (row.get(field) or {}).items()}
    return out


def _section_rows(path: Path) -> list[tuple[int, dict, Any]]:
    """(line, row data, the row validated as its section) of a table.

    Facility rows are validated with the whole parameters, so they carry None.
    """
    model, nested = _NESTED[path.name]
    out = []
    for line, cells in _read_csv(path):
        if path.name == "facilities.csv":
            ftype = cells.pop("type", None)
            if ftype is None:
                raise CountyFileError(f"{path}: row {line}, type: missing (one of {', '.join(FACILITY_TYPES)})")
            if ftype not in FACILITY_TYPES:
                close = difflib.get_close_matches(str(ftype), FACILITY_TYPES, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (one of {', '.join(FACILITY_TYPES)})"
                raise CountyFileError(f"{path}: row {line}, type: '{ftype}' is not a facility type{hint}")
            data = _fold(cells, nested)
            if "doctors" in data:  # the row's doctors replace the type's staff: empty cells (and zeros) are none
                data["doctors"] = {s: v for s in SPECIALTIES if (v := data["doctors"].get(s, "0")) and not _is_zero(v)}
            out.append((line, {"type": ftype, **data}, None))
            continue
        data = _fold(cells, nested)
        try:
            validated = model.model_validate(data)
        except Exception as e:
            raise _row_error(path, line, e) from None
        out.append((line, data, validated))
    return out


def read_county_set(folder: str | Path) -> tuple[dict, dict, dict]:
    """Read a county set: (``county`` section data, ``facilities`` overrides, origin).

    ``origin`` maps dotted keys (tuples) to the file (and row) that set them, for the
    one-line errors of :func:`health_sim.config.params.validate`. Raises CountyFileError.
    """
    folder = Path(folder)
    try:
        kind = file_kind(folder)
        kinds = {name: file_kind(folder / name) for name in FILES} if kind == "folder" else {}
    except ParamsError as e:
        raise CountyFileError(str(e)) from None
    if kind != "folder":
        raise CountyFileError(
            f"{short(folder, 120)}: no such county folder"
            if kind == "missing"
            else f"{short(folder, 120)}: not a folder (a county set is a folder of {', '.join(FILES)})"
        )
    for name in FILES:
        f = folder / name
        if kinds[name] not in ("missing", "file"):
            raise CountyFileError(f"{f}: is not a file")
        if name in FILES[:2] and kinds[name] == "missing":
            raise CountyFileError(f"{f}: no such file (a county set needs {FILES[0]} and {FILES[1]})")
    try:
        county = read_yaml(folder / "county.yaml")
    except ParamsError as e:
        raise CountyFileError(str(e)) from None
    origin: dict = {("county", k): str(folder / "county.yaml") for k in county}
    missing = [k for k in REQUIRED if k not in county]
    if missing:
        raise CountyFileError(
            f"{folder / 'county.yaml'}: {missing[0]}: missing (a county set gives {', '.join(REQUIRED)})"
        )
    for key in _LIST_KEYS:
        if key in county:
            raise CountyFileError(f"{folder / 'county.yaml'}: {key}: list them in {key}.csv, not here")
    towns = _section_rows(folder / "townships.csv")
    villages = _section_rows(folder / "villages.csv") if kinds["villages.csv"] == "file" else []
    county["townships"] = [d for _, d, _ in towns]
    county["villages"] = [d for _, d, _ in villages]
    for key, rows in (("townships", towns), ("villages", villages)):
        for i, (line, _, _) in enumerate(rows):
            origin[("county", key, str(i))] = f"{folder / (key + '.csv')}, row {line}"
    for what, i, key, msg in county_problems([t for _, _, t in towns], [v for _, _, v in villages]):
        line = (towns if what == "township" else villages)[i][0]
        raise CountyFileError(f"{folder / (what + 's.csv')}: row {line}, {key}: {msg}")
    facilities: dict = {}
    if kinds["facilities.csv"] == "file":
        for line, data, _ in _section_rows(folder / "facilities.csv"):
            ftype = data.pop("type")
            if ftype in facilities:
                raise CountyFileError(f"{folder / 'facilities.csv'}: row {line}, type: '{ftype}' appears twice")
            facilities[ftype] = data
            for k in data:
                origin[("facilities", ftype, k)] = f"{folder / 'facilities.csv'}, row {line}"
    return county, facilities, origin


def _plain(v: Any) -> Any:
    return "" if v is None else int(v) if isinstance(v, bool) else v


def write_county_set(county: CountyParams, facilities: Any, folder: str | Path) -> list[Path]:
    """Write a county (and every facility type) as a county set; returns the files written.

    ``health-sim county new DIR`` uses it to start a researcher's own county from the
    current one. Files are written whole (temporary name, then renamed).
    """
    from health_sim.core.paths import atomic_write_text

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CountyFileError(f"{folder}: exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CountyFileError(f"{folder}: cannot write there ({e.strerror or e})") from None
    data = county.model_dump(mode="json")
    towns, villages = data.pop("townships"), data.pop("villages")
    head = (
        "# The county's single values; townships.csv and villages.csv list the places. "
        "Units: see `health-sim params`.\n"
    )
    written = [
        atomic_write_text(folder / "county.yaml", head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    ]

    def table(name: str, rows: list[dict]) -> None:
        from io import StringIO

        rows = [{k: _plain(v) for k, v in _unfold(r, _NESTED[name][1]).items()} for r in rows]
        cols = [c for c in COLUMNS[name] if any(r.get(c, "") != "" for r in rows)]
        buf = StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        written.append(atomic_write_text(folder / name, buf.getvalue()))

    table("townships.csv", towns)
    if villages:
        table("villages.csv", villages)
    table("facilities.csv", [{"type": ft, **getattr(facilities, ft).model_dump(mode="json")} for ft in FACILITY_TYPES])
    return written
