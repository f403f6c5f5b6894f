"""Faults.

SIGKILL during the output swap, two sweeps claiming one folder at once, a full disk, and pool workers outliving their
parent.

The promises (see src/health_sim/experiments/outdir.py and src/health_sim/experiments/workers.py):
- at every instant, the final path holds either the complete old output or the complete
  new one; the next run into the same place removes what killed runs left beside it;
- of two different specifications started at once into one folder, exactly one is accepted;
- a disk that fills while writing gives one line, exit 1, the old output intact;
- the workers of a pool exit when the process that started them is killed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from health_sim.experiments import outdir

from .conftest import health_sim_exe

ROOT = Path(__file__).resolve().parents[1]
FILES = 60  # files per generation: wide enough that a kill lands inside the writing, the swap and the clean-up

WRITER = textwrap.dedent(
    f"""
    import json, sys, time
    from pathlib import Path
    from health_sim.experiments import outdir
    final, fallback = Path(sys.argv[1]), sys.argv[2] == "fallback"
    if fallback:  # a file system without an atomic exchange: two renames, undone by recover()
        outdir._exchange = lambda a, b: False
    names = [f"f{{i:03d}}.txt" for i in range({FILES})] + ["manifest.json"]
    outdir.KINDS["fault-test"] = frozenset(names)  # a kind of output of its own
    gen = 0
    while True:
        gen += 1
        files = {{f"f{{i:03d}}.txt": (lambda p, g=gen: p.write_text(f"{{g}}\\n")) for i in range({FILES})}}
        files["manifest.json"] = lambda p, g=gen: p.write_text(
            json.dumps({{"written_by": "fault-test", "generation": g}})
        )
        outdir.write_dir(final, files, "fault-test")
        print(gen, flush=True)
    """
)


def _generation(final: Path) -> int:
    """The one generation every file of ``final`` holds; fails if the folder is incomplete or mixed."""
    names = sorted(p.name for p in final.iterdir())
    assert names == sorted([f"f{i:03d}.txt" for i in range(FILES)] + ["manifest.json"]), (
        f"incomplete output: {len(names)} files"
    )
    gens = {int(p.read_text()) for p in final.glob("f*.txt")}
    gens.add(json.loads((final / "manifest.json").read_text())["generation"])
    assert len(gens) == 1, f"files of different generations: {sorted(gens)}"
    return gens.pop()


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_sigkill_at_any_point_of_the_swap_leaves_old_or_new(tmp_path, mode):
    final = tmp_path / "out"
    rng = random.Random(7)
    last = 0
    for attempt in range(30):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(final), mode], stdout=subprocess.PIPE, text=True)
        if attempt == 0:
            proc.stdout.readline()  # the first output exists before the first kill
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if mode == "fallback":
            outdir.recover(final)  # the next run's first step: an old output cut between its two renames is put back
        gen = _generation(final)
        assert gen >= 1
        last = gen
    assert last >= 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out"]
    outdir.KINDS["fault-test"] = frozenset([f"f{i:03d}.txt" for i in range(FILES)] + ["manifest.json"])
    tmp = outdir.stage(final, "fault-test")  # the next run into the same place cleans up after the killed ones
    outdir.discard(tmp)
    assert [p.name for p in tmp_path.iterdir()] == ["out"], f"left beside the output: {leftovers}"


def test_exchange_is_atomic_on_this_file_system(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a"), (b / "x").write_text("b")
    if not outdir._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here; the two-rename fallback is tested above")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


ROUNDS = 20

CLAIMER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from health_sim.config.params import ParamsError
    from health_sim.experiments.sweep import claim, load_sweep, sweep_targets
    spec_path, folder = Path(sys.argv[1]), Path(sys.argv[2])
    spec, base = load_sweep(spec_path)
    targets = sweep_targets(spec, spec_path)
    for i in range(int(sys.argv[3])):
        go = folder / f"go{i}"
        while not go.exists():  # both processes wait for the same instant
            time.sleep(0.0005)
        try:
            with claim(folder / f"out{i}", spec, base, targets):
                time.sleep(0.3)  # the work
            print(i, "accepted", flush=True)
        except ParamsError as e:
            print(i, "refused", str(e).replace(chr(10), "|"), flush=True)
    """
)


def _spec(path: Path, level: float) -> Path:
    path.write_text(
        f"name: s\nbase: {ROOT / 'params' / 'scenarios' / 'baseline_2023.yaml'}\n"
        f"factors:\n  insurance.outpatient.township.reimbursement: {{values: [{level}]}}\n"
        "replicates: 1\nrun: {run.scale: 0.002, run.days: 2, run.burn_in_days: 0}\n",
        encoding="utf-8",
    )
    return path


def test_two_different_sweeps_started_at_once_into_one_folder(tmp_path):
    a, b = _spec(tmp_path / "a.yaml", 0.7), _spec(tmp_path / "b.yaml", 0.8)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(s), str(tmp_path), str(ROUNDS)], stdout=subprocess.PIPE, text=True
        )
        for s in (a, b)
    ]
    time.sleep(3)  # both have imported and loaded their spec
    for i in range(ROUNDS):
        (tmp_path / f"go{i}").touch()
        time.sleep(0.5)
    outs = [p.communicate(timeout=120)[0].splitlines() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    for i in range(ROUNDS):
        said = [next(line for line in out if line.split()[0] == str(i)) for out in outs]
        verdicts = [line.split()[1] for line in said]
        assert sorted(verdicts) == ["accepted", "refused"], f"round {i}: {said}"
        refused = said[verdicts.index("refused")]
        assert "another health-sim sweep is filling it" in refused or "holds the runs of another sweep" in refused, (
            refused
        )
        spec = json.loads((tmp_path / f"out{i}" / "spec.json").read_text())
        winner = (0.7, 0.8)[verdicts.index("accepted")]
        assert spec["spec"]["factors"]["insurance.outpatient.township.reimbursement"]["values"] == [winner]


def test_the_same_sweep_twice_at_once_is_refused_not_mixed(tmp_path):
    a = _spec(tmp_path / "a.yaml", 0.7)
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [health_sim_exe(), "sweep", str(a), "--out", str(out), "--workers", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    done = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], f"exit codes {codes}: {[d[1] for d in done]}"
    line = done[codes.index(2)][1]
    assert line.count("\n") == 1 and f"--out {out}: another health-sim sweep is filling it now" in line, line


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root")
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")


def test_a_full_disk_is_one_line_exit_1_and_the_old_output_intact(tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "4m")
    try:
        base = ROOT / "params" / "baseline.yaml"
        args = [
            "run",
            str(base),
            "--scale",
            "0.01",
            "--days",
            "30",
            "--set",
            "run.burn_in_days=0",
            "--out",
            str(disk / "out"),
        ]
        first = subprocess.run([health_sim_exe(), *args], capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr
        old = {p.name: p.read_bytes() for p in (disk / "out").iterdir()}
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * (free - 16_384))  # leave 16 kB: less than an output
        second = subprocess.run([health_sim_exe(), *args, "--seed", "5"], capture_output=True, text=True, timeout=300)
        assert second.returncode == 1, second.stderr
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr, second.stderr
        assert f"{disk / 'out'}: writing" in second.stderr and "No space left on device" in second.stderr, second.stderr
        assert {p.name: p.read_bytes() for p in (disk / "out").iterdir()} == old, "the old output changed"
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "out"], (
            "a temporary folder was left on the full disk"
        )
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


POOL_PARENT = textwrap.dedent(
    """
    import sys, time
    from health_sim.experiments.workers import process_pool
    with process_pool(2) as pool:
        futs = [pool.submit(time.sleep, 0.01) for _ in range(2)]
        [f.result() for f in futs]
        print(" ".join(str(p) for p in pool._processes), flush=True)
        time.sleep(600)
    """
)


def test_pool_workers_exit_when_their_parent_is_killed():
    proc = subprocess.Popen([sys.executable, "-c", POOL_PARENT], stdout=subprocess.PIPE, text=True)
    pids = [int(x) for x in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _running(p)]
    assert not alive, f"workers {alive} outlived their killed parent"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_on_a_sweep_says_what_is_saved_and_how_to_resume(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"name: s\nbase: {ROOT / 'params' / 'scenarios' / 'baseline_2023.yaml'}\n"
        "factors:\n  insurance.outpatient.township.reimbursement: {values: [0.6, 0.65, 0.7, 0.75, 0.8, 0.85]}\n"
        "replicates: 2\nrun: {run.scale: 0.01, run.days: 60, run.burn_in_days: 30}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = [health_sim_exe(), "sweep", str(spec), "--out", str(out), "--workers", "2"]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_interactive,  # the signal state must be set in the child
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "runs").glob("p*.parquet"))) < 2:
        time.sleep(0.1)
    workers = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does: the whole foreground group
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, _why(proc, stdout, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    saved = len(list((out / "runs").glob("p*.parquet")))
    assert err.startswith(f"interrupted: {saved} of 12 runs are saved in {out / 'runs'}; resume with: "), err
    resume = err.split("resume with: ", 1)[1].strip()
    assert resume.endswith(f"sweep {spec} --out {out} --workers 2"), resume
    time.sleep(1)
    assert not [p for p in workers if _running(p)], "workers left running after Ctrl-C"
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("12 runs, 0 failed")


def _interactive() -> None:
    """In the child before exec: SIGINT as a shell gives it to a command (default action, unblocked).

    Whatever this test process's own disposition is: a child inherits an ignored signal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def _why(proc: subprocess.Popen, out: str, err: str) -> str:
    """What to show when a Ctrl-C test fails: exit code, the streams, and this process's SIGINT state."""
    return (
        f"rc {proc.returncode}; this process's SIGINT handler {signal.getsignal(signal.SIGINT)!r}, "
        f"blocked {signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])}; "
        f"stdout {out[-300:]!r}; stderr {err[-600:]!r}"
    )


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_ctrl_c_on_an_optimisation_says_what_is_saved_and_how_to_resume(tmp_path):
    spec = tmp_path / "o.yaml"
    spec.write_text(
        f"name: o\nbase: {ROOT / 'params' / 'scenarios' / 'baseline_2023.yaml'}\n"
        "levers:\n  policies.reimbursement.outpatient_grassroots_increase: {low: 0.0, high: 0.3}\n"
        "targets: [{name: g, kpi: grassroots_share, threshold: 0.6, source: test}]\n"
        "replicates: 2\ntrials: 400\n"
        "run: {run.scale: 0.02, run.days: 120, run.burn_in_days: 30, policies.reimbursement.enabled: true}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [health_sim_exe(), "optimize", str(spec), "--out", str(out), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_interactive,  # the signal state must be set in the child
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "reference.json").exists():
        time.sleep(0.1)
    time.sleep(3)  # a few candidates
    os.killpg(proc.pid, signal.SIGINT)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, _why(proc, stdout, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert (
        err.startswith("interrupted: ") and f"of 400 candidates are saved in {out / 'study.db'}; resume with: " in err
    ), err
    assert err.rstrip().endswith(f"optimize {spec} --out {out} --workers 2"), err


def test_ctrl_c_on_the_scenario_suite_says_what_was_written(tmp_path):
    out = tmp_path / "out"
    args = [health_sim_exe(), "scenarios", "--out", str(out), "--scale", "0.02", "--jobs", "1", "--reps", "1",
            "--no-ensemble", "--only", "baseline_2023", "--only", "drg", "--only", "all_levers"]  # fmt: skip
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_interactive,  # the signal state must be set in the child
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out / "scenarios" / "baseline_2023" / "manifest.json").exists():
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, _why(proc, stdout, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert (
        err.startswith("interrupted: ")
        and f"of 3 scenarios finished and were written to {out / 'scenarios'}" in err
        and "; to run them all again: " in err
    ), err
    assert json.loads((out / "scenarios" / "baseline_2023" / "manifest.json").read_text())["written_by"] == "scenario"
    assert not (out / "scorecard.csv").exists()
    assert not [p for p in (out / "scenarios").iterdir() if p.is_dir() and p.name.startswith(".")], (
        "a staged folder was left"
    )
