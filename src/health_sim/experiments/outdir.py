"""Output folders: never delete what health_sim did not write, never leave half an output.

Every command that writes a folder goes through here:

* :func:`stage` checks the final place *before* any simulation: it refuses (one line,
  :class:`OutputRefused`, exit 2) a folder that is not empty and is not a previous output
  of the same kind (its ``manifest.json`` says so, and it holds nothing but the files that
  kind writes: a note a researcher added is never deleted), unless ``force``; it removes the
  temporary folders that killed runs left beside it; and it creates this run's temporary
  folder beside the final one, which also proves the place writable.
* :func:`commit` swaps the finished temporary folder in with one ``renameat2(...,
  RENAME_EXCHANGE)`` system call, so a SIGKILL at any instant leaves at the final path
  either the complete old output or the complete new one (where the kernel or file system
  cannot exchange, two renames and a recovery at the next run).
* :func:`write_dir` does both around writers (name -> writer(path)); a write that fails
  (a full disk) raises :class:`OutputFailed` (exit 1) and leaves the old output intact.
* :func:`claim` takes a folder that a resumable command (sweep, optimisation,
  calibration) fills over many runs: an exclusive lock for the process's lifetime, and
  ``spec.json`` created atomically, so two different specifications never share a folder.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from health_sim.core.errors import ParamsError

MANIFEST = "manifest.json"
"""The file by which a folder says which health_sim command wrote it (key ``written_by``)."""

KINDS: dict[str, frozenset[str]] = {
    "run": frozenset(
        {
            "kpis.json",
            "daily.parquet",
            "township.parquet",
            "annual.parquet",
            "capability.parquet",
            "params.resolved.yaml",
            MANIFEST,
        }
    ),
    "scenario": frozenset(
        {
            "kpis.parquet",
            "daily.parquet",
            "township.parquet",
            "annual.parquet",
            "capability.parquet",
            "figures",
            "scenario.ipynb",
            "scenario.html",
            "error.txt",
            "kernel.log",
            MANIFEST,
        }
    ),
}
"""The kinds of output folder and the names each writes. A folder written before manifests
named their kind counts as that kind's output when it holds nothing else."""

_TEMP_TAGS = (".tmp-", ".old-")


class OutputRefused(ParamsError):
    """The output place cannot be used (someone else's files, not writable): exit 2, nothing written."""


class OutputFailed(RuntimeError):
    """Writing the output failed midway (a full disk): exit 1; the previous output is intact."""


def _short(path: Path | str) -> str:
    text = str(path)
    return text if len(text) <= 120 else "..." + text[-117:]


def written_by(folder: Path) -> str | None:
    """The kind of health_sim output ``folder`` is, from its manifest; None if it is not one.

    For folders written before manifests named their kind, the kind comes from their file names.
    (:func:`check_place` also requires that it holds nothing but what that kind writes.)
    """
    try:
        names = {p.name for p in Path(folder).iterdir()}
    except OSError:
        return None
    folder = Path(folder)
    manifest: dict = {}
    if (folder / MANIFEST).is_file():
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        manifest = manifest if isinstance(manifest, dict) else {}
        if isinstance(manifest.get("written_by"), str):
            return manifest["written_by"]
    legacy = {"run": manifest.get("package") == "health-sim", "scenario": "kpis.parquet" in names}
    for kind, known in KINDS.items():
        if names <= known and legacy[kind]:
            return kind
    return None


def check_place(final: Path, kind: str, *, force: bool = False, flag: str = "--out") -> None:
    """Refuse ``final`` (one line naming it) if it is a file or a folder it may not replace, unless ``force``.

    A folder may be replaced when it is empty or a previous ``kind`` output.
    """
    final = Path(final)
    if final.is_symlink():  # the swap would replace the link itself, not the folder it names
        raise OutputRefused(f"{flag} {_short(final)}: a symbolic link; give the folder it points to")
    if final.exists() and not final.is_dir():
        raise OutputRefused(f"{flag} {_short(final)}: exists and is not a folder")
    if not final.exists() or force:
        return
    try:
        entries = sorted(p.name for p in final.iterdir())
    except OSError as e:
        raise OutputRefused(f"{flag} {_short(final)}: cannot be read ({e.strerror})") from None
    if not entries:
        return
    owner = written_by(final)
    foreign = [e for e in entries if e not in KINDS.get(owner, ())]
    if owner == kind and not foreign:
        return
    if owner is not None and owner != kind:
        what = f"a health-sim {owner} output"
    else:
        what = f"files health-sim did not write ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
    raise OutputRefused(f"{flag} {_short(final)}: holds {what}; give a new or empty folder, or --force to replace it")


def _pid_of(name: str) -> int | None:
    for tag in _TEMP_TAGS:
        if tag in name:
            head = name.split(tag, 1)[1].split("-", 1)[0]
            return int(head) if head.isdigit() else None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(final: Path) -> list[Path]:
    """Temporary folders of earlier runs into ``final`` whose process is gone."""
    prefix = f".{final.name}."
    try:
        siblings = list(final.parent.iterdir())
    except OSError:
        return []
    out = []
    for p in siblings:
        if p.name.startswith(prefix) and any(t in p.name for t in _TEMP_TAGS):
            pid = _pid_of(p.name[len(prefix) - 1 :])
            if pid is not None and not _alive(pid):
                out.append(p)
    return out


def clean_temps(folder: Path) -> None:
    """Remove the temporary files and folders that killed processes left directly in ``folder``.

    Their names are ``.NAME.tmp-PID...``.
    """
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    for p in entries:
        if p.name.startswith(".") and (pid := _pid_of(p.name)) is not None and not _alive(pid):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)


def recover(final: Path) -> None:
    """Clean up after killed runs into ``final``.

    Put back an old output whose swap was cut between its two renames (file systems without an
    atomic exchange), and remove the temporary folders of dead processes.
    """
    final = Path(final)
    stale = _leftovers(final)
    if not final.exists():
        olds = sorted(
            (p for p in stale if ".old-" in p.name and (p / final.name).is_dir()), key=lambda p: p.stat().st_mtime
        )
        if olds:
            os.replace(olds[-1] / final.name, final)
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def stage(final: Path, kind: str, *, force: bool = False, flag: str = "--out") -> Path:
    """Check ``final``, clean up after killed runs, and create this run's temporary folder beside it.

    The check is :func:`check_place`; creating the folder proves the place writable. Returns
    that folder.
    """
    final = Path(final)
    check_place(final, kind, force=force, flag=flag)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        recover(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    except OSError as e:
        raise OutputRefused(f"{flag} {_short(final)}: cannot write there ({e.strerror or e})") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def commit(tmp: Path, final: Path) -> None:
    """Replace ``final`` by the finished folder ``tmp`` beside it, in one atomic step where the system allows.

    Else two renames, undone by :func:`recover` if cut between them.
    """
    tmp, final = Path(tmp), Path(final)
    if not final.exists():
        os.replace(tmp, final)
        return
    if _exchange(tmp, final):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old output
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-{os.getpid()}-", dir=final.parent))
    os.replace(final, old / final.name)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def write_files(tmp: Path, files: dict[str, Callable[[Path], object]], final: Path) -> None:
    """Run the writers into ``tmp``; a failing write (a full disk) is one :class:`OutputFailed` line."""
    for name, writer in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            writer(tmp / name)
        except OSError as e:
            raise OutputFailed(
                f"{_short(final)}: writing {name} failed ({e.strerror or e}); the previous output, if any, is intact"
            ) from None


def write_dir(
    final: Path, files: dict[str, Callable[[Path], object]], kind: str, *, force: bool = False, tmp: Path | None = None
) -> Path:
    """Create folder ``final`` holding ``files`` (name -> writer(path)) all at once.

    ``tmp``: a folder made by :func:`stage` before the work (the usual way: check first,
    then compute, then write); without it the place is checked now. A failure or an
    interruption leaves ``final`` as it was.
    """
    final = Path(final)
    tmp = tmp if tmp is not None else stage(final, kind, force=force)
    try:
        write_files(tmp, files, final)
        commit(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def discard(tmp: Path | None) -> None:
    """Remove a staged folder that will not be committed."""
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def check_file_place(path: Path, owned: Callable[[str], bool], *, force: bool = False, flag: str = "--out") -> None:
    """Refuse to overwrite ``path`` unless it is absent, health_sim's own, or ``force``.

    It is health_sim's own when ``owned(text of its first 4 kB)``. A folder, a missing parent or
    a parent that is a file is refused.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputRefused(f"{flag} {_short(path)}: is a folder; give a file name")
    parent = path.parent
    if not parent.exists():
        raise OutputRefused(f"{flag} {_short(path)}: no such folder {_short(parent)}")
    if not parent.is_dir():
        raise OutputRefused(f"{flag} {_short(path)}: {_short(parent)} is not a folder")
    if not os.access(parent, os.W_OK):
        raise OutputRefused(f"{flag} {_short(path)}: cannot write in {_short(parent)}")
    if path.exists() and not force:
        try:
            with path.open("rb") as f:
                head = f.read(4096).decode("utf-8", "replace") if path.is_file() else ""
        except OSError:
            head = ""
        if not path.is_file() or not owned(head):
            raise OutputRefused(
                f"{flag} {_short(path)}: exists and was not written by health-sim; give another name, or --force to "
                "replace it"
            )


# --- claims: folders filled over many runs ------------------------------------------


class Claim:
    """An exclusive claim on a folder for this process (``with claim(...) as c``).

    Released when the process ends, however it ends.
    """

    def __init__(self, folder: Path, fd: int):
        self.folder, self._fd = folder, fd

    def release(self) -> None:
        """Release the claim now (close its lock file); later calls do nothing."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(
    folder: Path,
    made: dict,
    kind: str,
    *,
    force: bool = False,
    differs: Callable[[dict, dict], str] | None = None,
    flag: str = "--out",
) -> Claim:
    """Claim ``folder`` for a resumable ``kind`` (sweep, optimisation, calibration) whose specification is ``made``.

    Lock it for this process, then create ``spec.json`` atomically or check that the one there
    is the same specification.

    Refused (one line): a file; a folder holding someone else's files (unless ``force``);
    a folder another process is filling now; a folder of another specification (``differs``
    names what differs).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputRefused(f"{flag} {_short(folder)}: exists and is not a folder")
    f = folder / "spec.json"
    had_lock = (folder / ".lock").exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise OutputRefused(f"{flag} {_short(folder)}: cannot write there ({e.strerror or e})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputRefused(
            f"{flag} {_short(folder)}: another health-sim {kind} is filling it now; wait for it to end or give "
            "another --out"
        ) from None
    try:
        if not f.exists() and not force:  # under the lock: a claim made a moment ago has its spec.json whole
            entries = sorted(
                p.name for p in folder.iterdir() if p.name != ".lock" and not p.name.startswith(".spec.json.tmp-")
            )
            if entries:
                if not had_lock:  # someone else's folder is left as it was found
                    (folder / ".lock").unlink(missing_ok=True)
                raise OutputRefused(
                    f"{flag} {_short(folder)}: holds files health-sim did not write ({', '.join(entries[:3])}); give "
                    "a new or empty folder, or --force to add to it"
                )
        _claim_spec(f, made, kind, differs, flag)
        clean_temps(folder)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return Claim(folder, fd)


def _claim_spec(f: Path, made: dict, kind: str, differs, flag: str) -> None:
    text = json.dumps(made, indent=1, sort_keys=True, allow_nan=False) + "\n"
    tmp = f.with_name(f".spec.json.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        try:
            os.link(tmp, f)  # atomic: exactly one process creates spec.json, whole
            return
        except FileExistsError:
            pass
    except OSError as e:
        raise OutputRefused(f"{flag} {_short(f.parent)}: cannot write there ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    try:
        old = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise OutputRefused(
            f"{flag} {_short(f.parent)}: its spec.json is unreadable; delete the folder or give another --out"
        ) from None
    if old != made:
        what = differs(old, made) if differs else "the specification"
        raise OutputRefused(
            f"{flag} {_short(f.parent)}: holds the runs of another {kind} ({what} differs); delete it or give another "
            "--out"
        )
