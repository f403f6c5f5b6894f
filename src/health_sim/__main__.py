"""``python -m health_sim`` is the ``health-sim`` command."""

from health_sim.cli import app

app()
