"""The progress bar shows on a terminal and nowhere else."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from .conftest import without_undefined_kpi_warning

CLI = Path(sys.executable).parent / "health-sim"
ARGS = ["run", "params/baseline.yaml", "--scale", "0.01", "--days", "30", "--set", "run.burn_in_days=30"]


def _run_on_a_terminal(args, out_dir):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([str(CLI), *args, "--out", str(out_dir)], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(), b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_and_summary_on_a_terminal(tmp_path):
    rc, text = _run_on_a_terminal(ARGS, tmp_path / "o")
    assert rc == 0
    assert "/60 [" in text and "burn-in" in text and "days" in text  # burn-in and recorded days on one bar
    assert "grassroots_share" in text


def test_quiet_when_not_a_terminal(tmp_path):
    proc = subprocess.run([str(CLI), *ARGS, "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith("outputs in ") and proc.stdout.count("\n") == 1, proc.stdout  # one line, no bar
    assert without_undefined_kpi_warning(proc.stderr) == ""
