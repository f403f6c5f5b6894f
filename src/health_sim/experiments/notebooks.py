"""Warm kernels for the notebook route of a sweep (``--via notebook``).

Starting a Jupyter kernel and importing the model in it costs about two seconds, more than
most of a small run. A worker therefore starts the kernel of its next run, and has it
import the package, while the current run executes; papermill then runs the next notebook
in that kernel. Every notebook still gets a fresh kernel of its own (each is shut down after
its run), so nothing but already-imported modules carries from one run to the next, and
the warm-up is silent (it leaves no trace in the executed notebook).
"""

from __future__ import annotations

import atexit
import contextlib

WARM_UP = "import health_sim.experiments.scenario_runs, health_sim.sim.model; health_sim.sim.model.warm_up()"
"""What a kernel runs at start-up, silently, before it is handed over: the imports, and the
compiled engine loaded."""

_next: tuple | None = None  # (KernelManager, cwd) of the next run, warming
_running: set = set()  # kernels handed out and not yet released


def _start(cwd: str):
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3")
    # IPython runs exec_lines at start-up, before the kernel answers anyone: papermill's client
    # waits for it to be ready, and the lines leave no history and no execution count
    km.start_kernel(cwd=cwd, extra_arguments=[f"--IPKernelApp.exec_lines={[WARM_UP]!r}"])
    return km


def take(cwd: str):
    """A started kernel (its manager) for a run in ``cwd``; starts the next one warming."""
    global _next
    km = _next[0] if _next is not None and _next[1] == cwd else None
    if km is None:
        _discard()
        km = _start(cwd)
    _next = (_start(cwd), cwd)
    _running.add(km)
    return km


def release(km) -> None:
    """Shut down a run's kernel."""
    _running.discard(km)
    km.shutdown_kernel(now=True)


def _discard() -> None:
    global _next
    if _next is not None:
        _next[0].shutdown_kernel(now=True)
        _next = None


def shutdown_all() -> None:
    """Stop every kernel this process started (its worker is exiting)."""
    for km in list(_running):
        with contextlib.suppress(Exception):
            km.shutdown_kernel(now=True)
    _running.clear()
    _discard()


atexit.register(_discard)


PAPERMILL_OPTIONS = {
    "progress_bar": False,
    "kernel_name": "python3",
    "request_save_on_cell_execute": False,
    "shutdown_kernel": "immediate",
}
"""How every scenario notebook is executed: the notebook is written when it ends (or fails),
not after each cell, and its kernel is stopped at once (about 0.8 s a run saved)."""
