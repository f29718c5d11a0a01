"""The gate's statistics: bias-corrected and accelerated (BCa) bootstrap intervals, one-sided p-values that
agree with them, and the multiplicity correction across the enforced findings.

Every gate statistic (a ratio of group means, a difference, a Gini coefficient...) is computed on bootstrap
resamples of citizens (``replicates``) and on a grouped jackknife (the statistic with one block of citizens
left out, ``jackknife``). BCa (Efron, 1987) corrects the percentile interval for the bias of the statistic
(``z0``, from the share of replicates below the estimate) and for its skewness (the acceleration ``a``, from
the jackknife): a lowest/highest ratio of group means is biased downwards on resamples, and the plain
percentile interval of earlier policies sat too low because of it.

A finding fails "beyond doubt" when its one-sided p-value, adjusted for the number of enforced findings
(Holm or Bonferroni, as the policy says), is below ``(1 - confidence_level) / 2``: the adjusted interval lies
wholly on the wrong side of the threshold. The p-value is the BCa interval inverted at the threshold, so an
unadjusted p below the limit and a BCa interval beyond the threshold are the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

MULTIPLICITY = ("holm", "bonferroni", "none")


@dataclass(frozen=True)
class Bca:
    """The bias correction and acceleration of one statistic, and its finite replicates, sorted."""

    estimate: float
    replicates: np.ndarray
    z0: float
    acceleration: float

    @classmethod
    def of(cls, estimate: float, replicates: np.ndarray, jackknife: np.ndarray) -> Bca | None:
        """None when the estimate is not finite or fewer than ten replicates are."""
        replicates = np.sort(np.asarray(replicates, dtype=np.float64))
        replicates = replicates[np.isfinite(replicates)]
        if not np.isfinite(estimate) or len(replicates) < 10:
            return None
        below = (np.sum(replicates < estimate) + 0.5 * np.sum(replicates == estimate)) / len(replicates)
        z0 = float(norm.ppf(np.clip(below, 0.5 / len(replicates), 1 - 0.5 / len(replicates))))
        jackknife = np.asarray(jackknife, dtype=np.float64)
        jackknife = jackknife[np.isfinite(jackknife)]
        acceleration = 0.0
        if len(jackknife) >= 3:
            spread = jackknife.mean() - jackknife
            denominator = 6.0 * float(np.sum(spread ** 2)) ** 1.5
            acceleration = float(np.sum(spread ** 3) / denominator) if denominator > 0 else 0.0
        return cls(estimate=float(estimate), replicates=replicates, z0=z0, acceleration=acceleration)

    def _adjusted(self, z: float) -> float:
        """The percentile of the replicates that BCa uses for the normal quantile ``z``."""
        shifted = self.z0 + z
        return float(norm.cdf(self.z0 + shifted / (1.0 - self.acceleration * shifted)))

    def quantile(self, level: float) -> float:
        return float(np.quantile(self.replicates, np.clip(self._adjusted(float(norm.ppf(level))), 0.0, 1.0)))

    def interval(self, confidence: float) -> list[float]:
        tail = (1.0 - confidence) / 2.0
        return [self.quantile(tail), self.quantile(1.0 - tail)]

    def p_beyond(self, threshold: float, *, upper_limit: bool) -> float:
        """One-sided p-value that the true value lies beyond ``threshold`` by chance alone: for a floor, the
        smallest α at which the BCa upper bound (level 1 - α) is below it; for a maximum, the lower bound above it.
        """
        share = float(np.mean(self.replicates <= threshold))
        spread = float(np.std(self.replicates))
        if share in (0.0, 1.0) and spread > 0:
            # Beyond every replicate: the bootstrap distribution's normal approximation gives the tail, so that a
            # clear finding keeps a p-value small enough to survive a multiplicity correction over many findings.
            # Its quantile is taken as is: through a share clipped to 1e-12 it would stop at 7, and with a large
            # acceleration the inverted level then stays near 1e-3 however far beyond the threshold lies.
            u = (threshold - float(np.mean(self.replicates))) / spread - self.z0
        else:
            u = float(norm.ppf(np.clip(share, 1e-12, 1 - 1e-12))) - self.z0
        a = self.acceleration
        # Invert Φ⁻¹(share) = z0 + (z0 + w) / (1 - a (z0 + w)) for w, the normal quantile of the bound's level. The
        # bounds reach only the quantiles u > -1/a (a > 0) or u < -1/a (a < 0): a threshold beyond that lies past
        # the bound of every level on its side (w = ∓∞), where the formula would give a w of the wrong sign.
        if 1.0 + a * u > 0:
            w = (u - self.z0 - a * u * self.z0) / (1.0 + a * u)
        else:
            w = -np.inf if u < 0 else np.inf
        level = float(norm.cdf(w))  # the bound at this level equals the threshold
        return float(np.clip(level if upper_limit else 1.0 - level, 0.0, 1.0))


def adjust(p_values: list[float], *, method: str) -> list[float]:
    """Family-wise adjusted p-values: Holm's step-down, Bonferroni, or none."""
    if method not in MULTIPLICITY:
        raise ValueError(f"multiplicity correction is one of {', '.join(MULTIPLICITY)}, not {method!r}")
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0 or method == "none":
        return p.tolist()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0).tolist()
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted.tolist()


def jackknife_blocks(n: int, *, blocks: int, seed: int) -> np.ndarray:
    """A seeded block number (0..blocks-1) per unit, as even in size as possible."""
    blocks = max(1, min(blocks, n))
    return np.random.default_rng(seed).permutation(np.arange(n) % blocks)
