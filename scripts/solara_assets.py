"""Put the front-end files solara's page loads from a CDN into solara's local CDN cache, for offline serving.

``solara run`` serves its page's JavaScript and CSS under ``/_solara/cdn/<npm package>@<version>/...``
and, on first request, fetches each file from a public CDN. This machine cannot reach that CDN, so
the page stays blank. Solara answers such requests from its cache folder,
``<sys.prefix>/share/solara/cdn/`` (``solara.server.settings.assets.proxy_cache_dir``), when the
file is there. This script fills it from the npm registry (which is reachable):

1. the packages and exact versions are read from the installed solara, not written here: every
   ``{{cdn}}/<package>@<version>/`` of its page template (of the Vue branch the server uses, which
   follows ipyvue's major version, as in ``solara.server.server``), the Font Awesome style sheet
   of ``settings.assets.fontawesome_path``, and the packages that the front ends of the solara
   widgets Mesa's SolaraViz page uses load at run time (``${this.getCdn()}/<package>@<version>/``
   in their ``.vue`` source): the grid layout of ``solara.GridDraggable``, in which SolaraViz
   places its ``components``. (With solara's Vue 3 front end, as with ipyvue 3 here, that package,
   a Vue 2 build, then loads but fails with "GlobalVue.use is not a function", so SolaraViz's grid
   stays empty all the same: ``health_sim.app`` lays its components out itself and needs only the
   page's packages. Without it the grid fails earlier, with a 404);
2. for each package not yet in the cache, ``npm pack <package>@<version>`` downloads its tarball
   into a temporary folder, whose ``package/`` is extracted into
   ``<cache>/<package>@<version>/`` (through a temporary sibling renamed into place, so a folder
   that exists is complete).

Idempotent: a package whose folder exists is left alone, so a second run downloads nothing.
Usage: ``python scripts/solara_assets.py [--dry-run]`` (with the interpreter of the environment
that serves the app). Sets ``SOLARA_TELEMETRY_MIXPANEL_ENABLE=False`` before importing solara.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")

_CDN_REF = re.compile(r"\{\{\s*cdn\s*\}\}/((?:@[\w.-]+/)?[\w.-]+)@(\d+\.\d+\.\d+[\w.+-]*)/")
_TAG = re.compile(r"\{%-?\s*(if|elif|else|endif)\b(.*?)-?%\}")
_VUE3_TEST = re.compile(r"^\s*vue3\s*(==\s*True)?\s*$")
_WIDGET_REF = re.compile(r"getCdn\(\)\}/((?:@[\w.-]+/)?[\w.-]+)@(\d+\.\d+\.\d+[\w.+-]*)/")
_WIDGETS = ("widgets/vue/gridlayout*.vue",)
"""Front-end sources (under solara's package folder) of the widgets SolaraViz uses that load packages from the CDN."""
_PATH_PACKAGE = re.compile(r"^/((?:@[\w.-]+/)?[\w.-]+)@(\d+\.\d+\.\d+[\w.+-]*)/")


def _solara_dir() -> Path:
    import solara

    return Path(solara.__file__).resolve().parent


def _template() -> Path:
    """Solara's page template (the file that names the CDN packages)."""
    return _solara_dir() / "server" / "templates" / "solara.html.j2"


def widget_packages() -> list[str]:
    """``package@version`` that the front ends of the widgets in :data:`_WIDGETS` load from the CDN."""
    found: dict[str, None] = {}
    for pattern in _WIDGETS:
        for path in sorted(_solara_dir().glob(pattern)):
            for m in _WIDGET_REF.finditer(path.read_text(encoding="utf-8")):
                found[f"{m.group(1)}@{m.group(2)}"] = None
    return list(found)


def vue3() -> bool:
    """Whether solara's server uses its Vue 3 front end (ipyvue 3), as ``solara.server.server.vue3``."""
    return importlib.metadata.version("ipyvue").startswith("3")


def template_packages(text: str, vue3_mode: bool) -> list[str]:
    """``package@version`` of every CDN reference in template ``text`` the page loads in ``vue3_mode``.

    References inside a ``{% if vue3 == True %}`` branch count only in Vue 3 mode, those in its
    ``{% else %}`` branch only otherwise; other conditions are taken as true (their files may be
    needed, e.g. both the minified and the plain script of a package, which come in one tarball).
    """
    frames: list[list] = []  # [is_vue3_test, in_else]
    active_at: list[tuple[int, bool]] = []
    pos = 0
    for m in _TAG.finditer(text):
        active_at.append((pos, _active(frames, vue3_mode)))
        kind, rest = m.group(1), m.group(2)
        if kind == "if":
            frames.append([bool(_VUE3_TEST.match(rest)), False])
        elif kind in ("elif", "else") and frames:
            frames[-1][1] = True
        elif kind == "endif" and frames:
            frames.pop()
        pos = m.end()
    active_at.append((pos, _active(frames, vue3_mode)))

    found: dict[str, None] = {}
    for m in _CDN_REF.finditer(text):
        active = [a for start, a in active_at if start <= m.start()][-1]
        if active:
            found[f"{m.group(1)}@{m.group(2)}"] = None
    return list(found)


def _active(frames: list[list], vue3_mode: bool) -> bool:
    """Whether text under the open ``{% if %}`` ``frames`` is rendered (only ``vue3`` tests are evaluated)."""
    return all(not (is_vue3 and vue3_mode == in_else) for is_vue3, in_else in frames)


def needed() -> list[str]:
    """The ``package@version`` names the installed solara's page loads from its CDN."""
    from solara.server import settings

    packages = template_packages(_template().read_text(encoding="utf-8"), vue3())
    if not packages:
        raise RuntimeError(f"found no CDN package in {_template()}: solara's template has changed; update this script")
    widgets = widget_packages()
    if not widgets:
        raise RuntimeError(f"found no CDN package in solara's {', '.join(_WIDGETS)}: update this script")
    if settings.assets.fontawesome_enabled and (m := _PATH_PACKAGE.match(settings.assets.fontawesome_path)):
        packages.append(f"{m.group(1)}@{m.group(2)}")
    return list(dict.fromkeys([*packages, *widgets]))


def cache_dir() -> Path:
    """Solara's CDN cache folder (``<sys.prefix>/share/solara/cdn/`` unless configured otherwise)."""
    from solara.server import settings

    return Path(settings.assets.proxy_cache_dir)


def install(spec: str, cache: Path) -> bool:
    """Download ``spec`` (``package@version``) with ``npm pack`` and extract it into ``cache``.

    Returns False (and does nothing) when its folder is already there.
    """
    target = cache / spec
    if target.is_dir() and any(target.iterdir()):
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (needed once to download solara's front-end files)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="solara-assets-") as tmp:
        out = subprocess.run(
            [npm, "pack", spec, "--silent", "--pack-destination", tmp],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise RuntimeError(f"npm pack {spec} gave {len(tarballs)} tarballs: {out.stdout}{out.stderr}")
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            with tarfile.open(tarballs[0]) as tar:
                members = []
                for member in tar.getmembers():
                    parts = Path(member.name).parts
                    if len(parts) < 2 or not (member.isfile() or member.isdir()):
                        continue
                    member.name = str(Path(*parts[1:]))  # strip the top folder (package/)
                    members.append(member)
                tar.extractall(staging, members=members, filter="data")
            staging.chmod(0o755)
            if target.exists():  # an empty folder left by an earlier attempt
                target.rmdir()
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """Fill solara's CDN cache; print what was done."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="only list the packages and where they go")
    args = ap.parse_args(argv)
    cache = cache_dir()
    specs = needed()
    if args.dry_run:
        for spec in specs:
            state = "present" if (cache / spec).is_dir() else "missing"
            print(f"{spec}: {state} ({cache / spec})")
        return 0
    fetched = [spec for spec in specs if install(spec, cache)]
    if fetched:
        print(f"solara assets: fetched {', '.join(fetched)} into {cache}")
    else:
        print(f"solara assets: all present in {cache} ({', '.join(specs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
