"""Worker processes for sweeps, optimisations, calibrations and the scenario suite.

Every pool here is a ``concurrent.futures`` executor whose workers

* exit on their own when the process that started them dies (even by SIGKILL): each
  worker watches its parent and leaves within about a second of losing it, shutting down
  any notebook kernel it started;
* ignore Ctrl-C, which the main process handles: it stops the workers at once and says
  what was saved (see :class:`Interrupted`).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

WATCH_SECONDS = 0.5
"""How often a worker checks that its parent is alive."""

_starting: list = []


def when_work_starts(fn) -> None:
    """Call ``fn()`` when a pool is about to take work.

    That is once every check of the command has passed (the command line prints its held-back
    warnings then).
    """
    if fn not in _starting:
        _starting.append(fn)


def work_starts() -> None:
    """Tell those registered with :func:`when_work_starts` that the work begins."""
    for fn in list(_starting):
        fn()


class Interrupted(Exception):
    """Ctrl-C during a resumable command; ``str()`` says what was saved and how to resume."""

    def __init__(self, message: str, folder=None, again: str = "resume with"):
        super().__init__(message)
        self.folder, self.again = folder, again


class _DropInterrupted:
    """A logging filter for Optuna's logger that drops the report of a trial stopped by Ctrl-C.

    Such a trial is not a failure to report with a traceback (the command says in one line what
    was saved).
    """

    def __init__(self):
        self._after = False

    def filter(self, record) -> bool:
        if record.exc_info and record.exc_info[0] is not None and issubclass(record.exc_info[0], KeyboardInterrupt):
            self._after = True
            return False
        if self._after and "failed with value None" in record.getMessage():
            self._after = False
            return False
        return True


def quiet_optuna_interrupts() -> None:
    """Install :class:`_DropInterrupted` on Optuna's logger (once)."""
    import logging

    logger = logging.getLogger("optuna")
    if not any(isinstance(f, _DropInterrupted) for f in logger.filters):
        logger.addFilter(_DropInterrupted())
        for h in logger.handlers:
            h.addFilter(_DropInterrupted())


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:
            try:
                from health_sim.experiments import notebooks as kernels

                kernels.shutdown_all()
            finally:
                os._exit(1)


def worker_init(parent: int | None = None) -> None:
    """Run at the start of every worker: ignore Ctrl-C and exit when ``parent`` is gone.

    Parameter warnings are left to the main process (which gave them once, before the runs).
    """
    import warnings

    from health_sim.core.errors import ParamsWarning

    warnings.simplefilter("ignore", ParamsWarning)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = parent or os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="health_sim-parent-watch").start()


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Stop a local pool now: queued work cancelled, running workers terminated."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)
    pool.shutdown(wait=True, cancel_futures=True)  # the pool sees its workers gone and releases its queues


_TRACKER_QUIET = "ignore:resource_tracker:UserWarning"


def _quiet_tracker() -> None:
    """Silence the resource tracker's warning about the locks of workers stopped by Ctrl-C.

    Workers stopped by Ctrl-C cannot release the locks they made (tqdm makes one); the resource
    tracker releases them at the end and says so on stderr, over the one line that tells the
    researcher what was saved. Its warning is silenced (the tracker process takes its warning
    options from this one's when it starts).
    """
    if _TRACKER_QUIET not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_QUIET)


@contextmanager
def process_pool(workers: int):
    """A local process pool (spawned workers; see the module's docstring).

    On any exception, Ctrl-C included, its workers are stopped at once rather than awaited.
    """
    _quiet_tracker()
    work_starts()
    pool = cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=worker_init, initargs=(os.getpid(),)
    )
    try:
        yield pool
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


class Pool:
    """A concurrent.futures executor: a local process pool, or Dask.

    Dask: a LocalCluster bound to the loopback interface, with no dashboard unless ``dashboard``
    gives an address, or the scheduler at ``scheduler``, e.g. tcp://host:8786; see the README on
    securing one.
    """

    def __init__(self, executor: str, workers: int, scheduler: str | None, dashboard: str | None = None):
        from health_sim.core.errors import ParamsError

        self.executor, self.workers, self.scheduler, self.dashboard = executor, workers, scheduler, dashboard
        if executor not in ("local", "dask"):
            raise ParamsError(f"--executor {str(executor)[:40]}: must be local or dask")
        if executor == "local" and scheduler:
            raise ParamsError("--scheduler goes with --executor dask")
        if dashboard and (executor != "dask" or scheduler):
            raise ParamsError(
                "--dashboard goes with --executor dask and no --scheduler (an existing cluster has its own)"
            )
        if dashboard:
            import importlib.util

            if importlib.util.find_spec("bokeh") is None:
                raise ParamsError(
                    "--dashboard: Dask's dashboard needs the bokeh package (pip install 'bokeh>=3.1' into this "
                    "environment)"
                )
        self._client = self._cluster = self._local = None

    def __enter__(self):
        if self.executor == "local":  # process_pool says the work starts
            self._local = process_pool(self.workers)
            return self._local.__enter__()
        work_starts()
        from distributed import Client, LocalCluster

        if self.scheduler:
            self._client = Client(self.scheduler, timeout="30s")
        else:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=self.dashboard,
            )
            self._client = Client(self._cluster)
        return self._client.get_executor(pure=False)

    def __exit__(self, *exc):
        if self._local is not None:
            return self._local.__exit__(*exc)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        return False
