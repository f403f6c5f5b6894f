"""Gaussian-process emulators of the calibration items, and the posterior they give (MCMC with emcee).

One simulation of the calibration experiments costs about 1.2 s (three arms of a county at 5%), so a
likelihood-free sampler that simulates at every proposal (ABC-SMC: some 10,000 simulations a run at a useful
threshold) cannot finish in an hour on two cores. Here the simulator is run at a space-filling design over the
prior and then at draws of the posterior found so far (waves), and each calibration item ``i`` gets a
Gaussian-process emulator: its mean ``m_i(u)`` as a function of the parameters ``u`` (each on the unit
interval of its prior range) and the variance of the simulator's own chance around it (the white-noise term,
``noise_i``, at the fit's scale). The likelihood of the published value ``y_i`` is then Gaussian,

    y_i ~ Normal(m_i(u), se_i^2 + emulator_i^2 + noise_i * scale)

with ``se_i`` the item's standard error (published, from its interval, or assumed with a reason),
``emulator_i^2`` the emulator's own error measured out of sample (simulations it had not seen, at posterior
draws) and ``noise_i * scale`` the model's chance variation for a county of the real size (variance falls with
the number of residents). The prior is uniform on each range (log-uniform for ``log`` ranges), so on ``u`` it is
uniform on the unit cube, and emcee's ensemble sampler draws the posterior (differential-evolution moves, as
emcee's documentation advises beyond a few parameters: on this fit's ten the default stretch move mixed three
times slower, integrated autocorrelation times of 150-190 steps against 45-62).

The emulators are scikit-learn's GaussianProcessRegressor (an anisotropic Matérn 5/2 kernel plus white noise,
hyperparameters by maximum likelihood on at most ``HYPER_POINTS`` simulations, then conditioned on all).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

HYPER_POINTS = 500
"""Most simulations the kernel hyperparameters are fitted on (the fit is cubic in their number)."""

AUTOCORR_RULE = 50.0
"""A chain is long enough when its kept steps are at least this many autocorrelation times (emcee's advice)."""


@dataclass
class Emulator:
    """One Gaussian process per calibration item, on parameters scaled to the unit cube.

    ``items``: the item ids, in column order; ``seed``: the subset the hyperparameters are fitted on.
    Constructed empty; :meth:`fit` does the work.
    """

    items: list[str]
    seed: int = 0

    def fit(self, u: np.ndarray, y: np.ndarray) -> Emulator:
        """Fit each item's process to simulations ``y`` (n x items) at ``u`` (n x parameters, in [0, 1])."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        u, y = np.asarray(u, dtype=float), np.asarray(y, dtype=float)
        rng = np.random.default_rng(self.seed)
        self.gps, self.noise = [], np.zeros(len(self.items))
        for j in range(len(self.items)):
            ok = np.isfinite(y[:, j])
            x, t = u[ok], y[ok, j]
            kernel = ConstantKernel(1.0, (1e-4, 1e4)) * Matern(
                np.full(u.shape[1], 0.5), (1e-2, 1e3), nu=2.5
            ) + WhiteKernel(0.1, (1e-8, 1e1))
            sub = rng.choice(len(x), size=min(len(x), HYPER_POINTS), replace=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # a length scale at its upper end: an inert input
                gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed).fit(x[sub], t[sub])
                gp = GaussianProcessRegressor(gp.kernel_, normalize_y=True, optimizer=None).fit(x, t)
            self.gps.append(gp)
            self.noise[j] = float(gp.kernel_.k2.noise_level) * float(gp._y_train_std) ** 2
        return self

    def mean(self, u: np.ndarray) -> np.ndarray:
        """The emulated mean of every item (n x items) at parameters ``u`` (n x parameters, unit cube)."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        return np.column_stack([gp.predict(u) for gp in self.gps])

    def judged_on(self, u: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Its errors on simulations ``y`` at ``u`` that it was not fitted on, per item.

        ``rmse``: root mean square of simulation minus emulated mean; ``error``: what is left of it beyond the
        model's chance (the white-noise variance), the emulator's own error (0 when the chance explains it all).
        """
        ms = np.nanmean((np.asarray(y, dtype=float) - self.mean(u)) ** 2, axis=0)
        return {"rmse": np.sqrt(ms), "error": np.sqrt(np.maximum(ms - self.noise, 0.0))}


@dataclass
class Likelihood:
    """Gaussian likelihood of the published values under an emulator.

    ``observed`` and ``variance`` per item (published value; total variance: se^2 + emulator error^2 + the
    model's chance at the county's real size).
    """

    emulator: Emulator
    observed: np.ndarray
    variance: np.ndarray

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """Log posterior (up to a constant) at each row of ``u``: the log likelihood inside the unit cube, else -inf."""
        u = np.atleast_2d(u)
        inside = np.all((u > 0.0) & (u < 1.0), axis=1)
        out = np.full(len(u), -np.inf)
        if inside.any():
            r = self.emulator.mean(u[inside]) - self.observed
            out[inside] = -0.5 * np.sum(r * r / self.variance, axis=1)
        return out


@dataclass
class Chain:
    """Posterior draws of one run (on the unit cube) and the sampler's diagnostics."""

    draws: np.ndarray
    autocorr: np.ndarray
    acceptance: float
    steps: int
    burn: int
    walkers: int

    @property
    def long_enough(self) -> bool:
        """Whether the kept steps are at least AUTOCORR_RULE integrated autocorrelation times (emcee's advice)."""
        return bool(self.steps - self.burn >= AUTOCORR_RULE * float(np.max(self.autocorr)))


def sample(like: Likelihood, start: np.ndarray, walkers: int, steps: int, seed: int, draws: int | None = None) -> Chain:
    """Draw the posterior with emcee's ensemble sampler.

    ``start``: candidate starting points (unit cube), best first; the walkers start at the best ``walkers`` of
    them (taken again in turn when there are fewer), jittered. The first third of the steps is discarded as
    burn-in; the rest is thinned by half the largest autocorrelation time, and ``draws`` of it are returned at
    random (all when None).
    """
    import emcee

    rng = np.random.default_rng(seed)
    d = start.shape[1]
    p0 = np.clip(start[np.arange(walkers) % len(start)] + rng.normal(0.0, 0.01, size=(walkers, d)), 1e-4, 1 - 1e-4)
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(walkers, d, like, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(seed % 2**32).get_state()  # emcee draws from its own RandomState
    sampler.run_mcmc(p0, steps, progress=False)
    burn = steps // 3
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.asarray(sampler.get_autocorr_time(discard=burn, tol=0), dtype=float)
    tau = np.where(np.isfinite(tau), tau, float(steps))  # a walker that never moved: as long as the chain
    thin = max(1, int(np.max(tau) / 2))
    flat = sampler.get_chain(discard=burn, thin=thin, flat=True)
    if draws is not None:  # with replacement only when the thinned chain is shorter than asked
        flat = flat[rng.choice(len(flat), size=draws, replace=draws > len(flat))]
    return Chain(flat, tau, float(np.mean(sampler.acceptance_fraction)), steps, burn, walkers)
