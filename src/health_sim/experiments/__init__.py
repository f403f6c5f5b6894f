"""Experiments with the model: runs, sweeps, the scenario suite, calibration, optimisation, validation."""
