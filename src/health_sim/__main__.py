"""``python -m health_sim`` is the ``health-sim`` command."""

from .cli import app

app()
