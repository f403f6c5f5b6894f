"""Sweeps.

Validation, designs, seeds independent of the worker count, failures recorded, and a sweep killed with SIGKILL that
resumes to the table of an uninterrupted one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from health_sim.core.errors import ParamsError
from health_sim.experiments.sweep import design_points, load_sweep, run_sweep

from .conftest import health_sim_exe

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "params" / "baseline.yaml"


def spec(
    tmp_path: Path,
    factors: str,
    design: str = "{method: grid}",
    reps: int = 2,
    name: str = "t",
    days: int = 30,
    extra: str = "",
) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(f"""{extra}name: {name}
base: {BASE}
factors:
{factors}
design: {design}
replicates: {reps}
kpis: [grassroots_share, visits_per_resident, visits_by_level.city]
run: {{run.scale: 0.01, run.days: {days}, run.burn_in_days: 30, policies.reimbursement.enabled: true}}
seed: 7
""")
    return f


GRID = """  policies.reimbursement.outpatient_grassroots_increase: {values: [0.0, 0.3]}
  choice.minor.habit: {values: [0.0, 0.8]}"""


def stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["seconds"]).reset_index(drop=True)


def test_the_repository_sweeps_are_valid():
    for f in sorted((ROOT / "params" / "sweeps").glob("*.yaml")):
        s, base = load_sweep(f)
        assert base.exists() and len(design_points(s)) >= 4


@pytest.mark.parametrize(
    "factors, fragment",
    [
        (
            "  policies.reimbursement.outpatient_grassroots_increse: {values: [0.1]}",
            (
                "factors.policies.reimbursement.outpatient_grassroots_increse: "
                "unknown key (did you mean 'outpatient_grassroots_increase'?)"
            ),
        ),
        ("  policies.reimbursement.outpatient_grassroots_increase: {low: 0.0, high: 1.4}", "1.4 is above 1"),
        (
            "  policies.reimbursement.outpatient_grassroots_increase: {low: 0.3, high: 0.1}",
            "low 0.3 must be below high 0.1",
        ),
        ("  policies.reimbursement.outpatient_grassroots_increase: {}", "give either values or low and high"),
    ],
)
def test_bad_sweep_files_give_one_line(tmp_path, factors, fragment):
    f = spec(tmp_path, factors)
    with pytest.raises(ParamsError) as e:
        load_sweep(f)
    assert fragment in str(e.value) and str(e.value).startswith(str(f)) and "\n" not in str(e.value)


def test_unknown_target_gives_one_line(tmp_path):
    f = spec(tmp_path, GRID, extra="targets: [grassroots_share_66]\n")
    with pytest.raises(ParamsError) as e:
        load_sweep(f)
    msg = str(e.value)
    assert (
        msg.startswith(f"{f}: targets: unknown target 'grassroots_share_66'")
        and "did you mean 'grassroots_share_65'" in msg
        and "\n" not in msg
    )


def test_each_run_records_whether_it_meets_each_target(tmp_path):
    targets = tmp_path / "targets.yaml"
    targets.write_text("""targets:
  - {name: low_bar, kpi: grassroots_share, threshold: 0.1, source: test}
  - {name: high_bar, kpi: grassroots_share, threshold: 0.99, source: test}
  - {name: by_2030, kpi: grassroots_share, threshold: 0.1, year: 2030, source: test}
""")
    f = spec(tmp_path, GRID, reps=1, extra=f"targets: [low_bar, high_bar, by_2030]\ntargets_file: {targets}\n")
    table, _ = run_sweep(f, out=tmp_path / "out", workers=1, progress=False)
    assert (table["met:low_bar"] == 1.0).all() and (table["met:high_bar"] == 0.0).all()
    assert table["met:by_2030"].isna().all()  # the run does not reach 2030
    assert (table["seconds"] > 0).all()


def test_designs(tmp_path):
    ranges = """  policies.reimbursement.outpatient_grassroots_increase: {low: 0.0, high: 0.3}
  choice.minor.habit: {low: 0.0, high: 1.0}
  policies.stationed.doctors_per_year_county: {low: 0, high: 60, integer: true}"""
    s, _ = load_sweep(spec(tmp_path, GRID))
    assert len(design_points(s)) == 4
    lhs, _ = load_sweep(spec(tmp_path, ranges, "{method: lhs, samples: 10}"))
    p = design_points(lhs)
    assert len(p) == 10 and p["choice.minor.habit"].between(0, 1).all()
    # a Latin hypercube: each factor has one point in each tenth of its range
    assert sorted((p["choice.minor.habit"] * 10).astype(int)) == list(range(10))
    assert p["policies.stationed.doctors_per_year_county"].dtype.kind == "i"
    sob, _ = load_sweep(spec(tmp_path, ranges, "{method: sobol, samples: 8}"))
    assert len(design_points(sob)) == 8 * (3 + 2)
    mor, _ = load_sweep(spec(tmp_path, ranges, "{method: morris, samples: 5}"))
    assert len(design_points(mor)) == 5 * (3 + 1)


def test_table_is_the_same_with_one_or_two_workers_and_records_failures(tmp_path):
    one, _ = run_sweep(spec(tmp_path, GRID, name="a"), out=tmp_path / "a", workers=1, progress=False)
    two, _ = run_sweep(spec(tmp_path, GRID, name="b"), out=tmp_path / "b", workers=2, progress=False)
    pd.testing.assert_frame_equal(stable(one), stable(two))
    assert len(one) == 8 and (one["status"] == "ok").all()
    assert one.groupby("replicate")["seed"].nunique().eq(1).all()  # common random numbers across points
    lo = one[one["factor:policies.reimbursement.outpatient_grassroots_increase"] == 0.0]["grassroots_share"].mean()
    hi = one[one["factor:policies.reimbursement.outpatient_grassroots_increase"] == 0.3]["grassroots_share"].mean()
    assert hi > lo
    bad = spec(tmp_path, "  episodes.rates.minor.0-14: {values: [6.0, 500.0]}", reps=1, name="c")
    table, _ = run_sweep(bad, out=tmp_path / "c", workers=2, progress=False)
    assert list(table["status"]) == ["ok", "failed"] and "episode rates" in table["error"].iloc[1]
    assert np.isnan(table["grassroots_share"].iloc[1])


def test_killed_sweep_resumes_to_the_uninterrupted_table(tmp_path):
    f = spec(tmp_path, GRID, reps=3, name="k", days=60)
    ref, _ = run_sweep(f, out=tmp_path / "ref", workers=2, progress=False)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [health_sim_exe(), "sweep", str(f), "--out", str(out), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "runs").glob("p*.parquet"))) < 3:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(list((out / "runs").glob("p*.parquet")))
    assert 3 <= partial < 12, "the sweep was not interrupted midway"
    done = subprocess.run(
        [health_sim_exe(), "sweep", str(f), "--out", str(out), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "12 runs, 0 failed" in done.stdout
    pd.testing.assert_frame_equal(stable(pd.read_parquet(out / "results.parquet")), stable(ref))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dask_scheduler_and_two_worker_processes_give_the_local_table(tmp_path):
    """A real Dask scheduler and two workers, each a separate process on localhost."""
    import sys

    f = spec(tmp_path, GRID, name="d")
    local, _ = run_sweep(f, out=tmp_path / "local", workers=2, progress=False)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    procs = [
        subprocess.Popen(
            [str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    try:
        time.sleep(2)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [str(bindir / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        done = subprocess.run(
            [
                health_sim_exe(),
                "sweep",
                str(f),
                "--out",
                str(tmp_path / "dask"),
                "--executor",
                "dask",
                "--scheduler",
                address,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        pd.testing.assert_frame_equal(stable(pd.read_parquet(tmp_path / "dask" / "results.parquet")), stable(local))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_dask_local_cluster(tmp_path):
    f = spec(tmp_path, GRID, name="e", reps=1)
    a, _ = run_sweep(f, out=tmp_path / "a", workers=2, progress=False, executor="dask")
    b, _ = run_sweep(f, out=tmp_path / "b", workers=1, progress=False)
    pd.testing.assert_frame_equal(stable(a), stable(b))


def test_via_notebook_gives_the_api_table_and_keeps_the_notebooks(tmp_path):
    f = spec(
        tmp_path, "  policies.reimbursement.outpatient_grassroots_increase: {values: [0.0, 0.3]}", name="n", reps=1
    )
    api, _ = run_sweep(f, out=tmp_path / "api", workers=2, progress=False)
    nb, out = run_sweep(f, out=tmp_path / "nb", workers=2, progress=False, via="notebook")
    pd.testing.assert_frame_equal(stable(nb), stable(api))
    kept = sorted(p.name for p in (out / "notebooks").glob("*.ipynb"))
    assert kept == ["p000000_r000.ipynb", "p000001_r000.ipynb"]
    # each ran in a fresh (pre-warmed) kernel: its cells counted from 1, nothing before them
    import nbformat

    for name in kept:
        counts = [
            c.execution_count
            for c in nbformat.read(out / "notebooks" / name, as_version=4).cells
            if c.cell_type == "code"
        ]
        assert counts == list(range(1, len(counts) + 1)), counts


def test_warm_kernels_are_fresh_and_shut_down(tmp_path):
    from health_sim.experiments import notebooks as kernels

    a = kernels.take(str(tmp_path))
    b = kernels._next[0]
    assert a.is_alive() and b.is_alive() and a is not b
    kernels.release(a)
    assert not a.is_alive()
    c = kernels.take(str(tmp_path))
    assert c is b, "the kernel warmed during the previous run is the next run's"
    kernels.release(c)
    nxt = kernels._next[0]
    kernels._discard()
    assert not nxt.is_alive() and kernels._next is None


def test_sensitivity_indices_rank_an_influential_lever_above_an_inert_one(tmp_path):
    """Sobol and Morris on a real sweep: the outpatient reimbursement gap moves the grassroots share.

    The admission price at village clinics (which do not admit) barely does (it only enters the cost residents expect
    for severe episodes there).
    """
    from health_sim.experiments.analysis import morris_indices, sobol_indices

    factors = """  policies.reimbursement.outpatient_grassroots_increase: {low: 0.0, high: 0.4}
  facilities.village_clinic.price_admission: {low: 0.0, high: 100.0}"""
    f = spec(tmp_path, factors, "{method: sobol, samples: 4}", reps=1, name="s", days=60)
    s, _ = load_sweep(f)
    table, _ = run_sweep(f, out=tmp_path / "s", workers=2, progress=False)
    si = sobol_indices(table, s, "grassroots_share")
    gap, inert = si.index
    assert si.loc[gap, "ST"] > 0.5 and abs(si.loc[inert, "ST"]) < 0.2
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(si.columns)
    f = spec(tmp_path, factors, "{method: morris, samples: 4}", reps=1, name="m", days=60)
    m, _ = load_sweep(f)
    table, _ = run_sweep(f, out=tmp_path / "m", workers=2, progress=False)
    mi = morris_indices(table, m, "grassroots_share")
    assert mi.loc[gap, "mu_star"] > 5 * mi.loc[inert, "mu_star"]


def test_a_target_written_out_with_a_bad_kpi_gets_the_targets_own_message(tmp_path):
    f = spec(tmp_path, GRID, extra="targets: [{name: gs, kpi: grassroots_shar, threshold: 0.7, source: test}]\n")
    with pytest.raises(ParamsError) as e:
        load_sweep(f)
    assert str(e.value) == f"{f}: targets: 0.kpi: unknown KPI 'grassroots_shar' (did you mean 'grassroots_share'?)"


def test_record_reads_final_kpis_from_the_last_calendar_year():
    from health_sim.experiments.sweep import record

    annual = pd.DataFrame({"year": [2023, 2024], "grassroots_share": [0.6, 0.7], "fund_spending": [1.0, 2.0]})
    row = record(
        {"grassroots_share": 0.65}, annual, ["grassroots_share", "final:grassroots_share", "final:fund_spending"], []
    )
    assert row == {"grassroots_share": 0.65, "final:grassroots_share": 0.7, "final:fund_spending": 2.0}


def test_a_local_dask_cluster_listens_on_loopback_only_and_serves_no_dashboard():
    import urllib.error
    import urllib.request

    from health_sim.experiments.workers import Pool

    pool = Pool("dask", 1, None)
    with pool as executor:
        assert executor.submit(sum, [1, 2]).result() == 3
        scheduler = pool._cluster.scheduler
        assert pool._client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(w.host == "127.0.0.1" for w in scheduler.workers.values())
        # the scheduler's small HTTP server (health, metrics) listens on loopback and holds no dashboard
        http = scheduler.http_server
        assert {s.getsockname()[0] for s in http._sockets.values()} == {"127.0.0.1"}
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{http.port}/status", timeout=10)
        assert e.value.code == 404


def test_a_dashboard_is_asked_for_explicitly_and_needs_bokeh():
    import importlib.util

    from health_sim.experiments.workers import Pool

    with pytest.raises(ValueError, match="--dashboard goes with --executor dask"):
        Pool("local", 1, None, dashboard="127.0.0.1:8787")
    if importlib.util.find_spec("bokeh") is None:
        with pytest.raises(ValueError, match="needs the bokeh package"):
            Pool("dask", 1, None, dashboard="127.0.0.1:8787")


def test_more_workers_than_the_memory_holds_are_refused_before_anything_is_written(tmp_path, monkeypatch):
    import health_sim.config.params as hp
    from health_sim.core.errors import ParamsError

    f = tmp_path / "s.yaml"
    f.write_text(
        f"name: s\nbase: {ROOT / 'params' / 'scenarios' / 'baseline_2023.yaml'}\n"
        "factors:\n  run.scale: {values: [0.01, 0.5]}\nreplicates: 1\nrun: {run.days: 2, run.burn_in_days: 0}\n",
        encoding="utf-8",
    )
    one = hp.memory_needed(hp.load_params(ROOT / "params" / "scenarios" / "baseline_2023.yaml", {"run.scale": 0.5}))
    monkeypatch.setattr(
        hp, "available_memory", lambda: int(one * 3)
    )  # room for two runs at the largest scale, not three
    run_sweep(f, out=tmp_path / "two", workers=2, progress=False)
    with pytest.raises(
        ParamsError,
        match=(
            r"s\.yaml: run: 3 workers x about .* GB a run is more than the .* GB of memory available; "
            r"use fewer --workers"
        ),
    ):
        run_sweep(f, out=tmp_path / "three", workers=3, progress=False)
    assert not (tmp_path / "three").exists()
