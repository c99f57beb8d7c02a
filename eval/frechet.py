"""The Fréchet distance between two Gaussians fitted to feature sets (FID, FVD, FVD-tiny).

    FD = ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁ Σ₂)^{1/2})

Source: Dowson & Landau 1982 (the distance), Heusel et al. 2017 "GANs trained by a two time-scale update
rule converge to a local Nash equilibrium" (FID), Unterthiner et al. 2018 "Towards accurate generative
models of video" (FVD). Reference code: torchmetrics ``image/fid.py::_compute_fid`` (eigenvalues of the
non-symmetric Σ₁Σ₂), StyleGAN-V ``src/metrics/frechet_video_distance.py`` (``scipy.linalg.sqrtm`` of
Σ₁Σ₂) and tensorflow-gan ``trace_sqrt_product`` (the symmetric form used here).

How it is computed here: the trace term is one symmetric eigenproblem. With a Cholesky factor
Σ₁ = L Lᵀ, Σ₁Σ₂ is similar to the symmetric PSD matrix M = Lᵀ Σ₂ L, so Tr((Σ₁Σ₂)^{1/2}) =
Σᵢ √max(eigᵢ(M), 0) (the factored matrix may be either one; when both are singular, Σ₁'s
eigendecomposition with eigenvalues clamped ≥ 0 replaces the Cholesky factor). Everything is float64.
This replaces the Schur decomposition of ``sqrtm`` (≥ 5× faster at d = 400, see
benchmarks/results/eval_speed.md) and never yields complex parts; the clamps keep rank-deficient
covariances (fewer samples than dimensions) exact, and the distance is clamped ≥ 0 (rounding can
make a tiny distance negative).

Covariance convention: unbiased (÷ N−1), as torchmetrics and ``numpy.cov``; ``ddof=0`` gives
StyleGAN-V's ÷ N (its ``FeatureStats.get_mean_cov``).

Small sets: the estimate is biased upward by roughly c/N (Chong & Forsyth 2020, "Effectively
unbiased FID and Inception Score and where to find them"); :func:`frechet_distance_infinity` fits FD
against 1/N on random subsets and extrapolates to N → ∞ (their ``FID∞``; reference code
``mchong6/FID_IS_infinity`` ``score_infinity.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from eval.errors import EvalError

log = logging.getLogger(__name__)

SMALL_SET = 256  # below this many samples per set an FD is reported with a warning (bias ~ 1/N)


@dataclass(frozen=True)
class GaussianStats:
    """Mean ``mu`` (d,), covariance ``sigma`` (d, d) and sample count ``n`` of one feature set."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def from_features(cls, features, *, ddof: int = 1) -> GaussianStats:
        """Fit to ``features`` (N, d); ``ddof=1`` divides by N−1 (torchmetrics), ``ddof=0`` by N (StyleGAN-V)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise EvalError(None, f"features must be a 2-D array (samples, dims), got shape {list(x.shape)}")
        n = x.shape[0]
        _check_count(n, ddof)
        mu = x.mean(axis=0)
        centred = x - mu
        return cls(mu, centred.T @ centred / (n - ddof), n)

    @classmethod
    def from_sums(cls, total, outer, n: int, *, ddof: int = 1) -> GaussianStats:
        """From running sums: ``total`` = Σx (d,), ``outer`` = Σxxᵀ (d, d), ``n`` samples (a Metric's states)."""
        n = int(n)
        _check_count(n, ddof)
        total = np.asarray(total, dtype=np.float64)
        mu = total / n
        sigma = (np.asarray(outer, dtype=np.float64) - n * np.outer(mu, mu)) / (n - ddof)
        return cls(mu, (sigma + sigma.T) / 2, n)


def _check_count(n: int, ddof: int) -> None:
    if ddof not in (0, 1):
        raise EvalError(None, f"ddof must be 0 (÷N) or 1 (÷N−1), got {ddof}")
    if n < 2:
        raise EvalError(None, f"a Fréchet distance needs at least 2 samples per set, got {n}")


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr((Σ₁Σ₂)^{1/2}) for symmetric PSD Σ₁, Σ₂ from a symmetric eigenproblem (float64).

    Σ₁Σ₂ has the eigenvalues of Σ₂Σ₁, so either matrix may be factored. With a Cholesky factor
    Σ = L Lᵀ of one of them, Σ₁Σ₂ is similar to the symmetric PSD Lᵀ Σ' L; when neither is positive
    definite (both sets have fewer samples than dimensions) Σ₁ = V diag(λ) Vᵀ with λ clamped ≥ 0
    gives diag(√λ) Vᵀ Σ₂ V diag(√λ) instead.
    """
    import scipy.linalg
    from scipy.linalg.blas import dtrmm

    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    for factored, other in ((s1, s2), (s2, s1)):
        try:
            lower = scipy.linalg.cholesky(factored, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
        # Lᵀ (Σ' L) with triangular products: half the flops of two full matrix products.
        middle = dtrmm(1.0, lower, dtrmm(1.0, lower, other, side=1, lower=1), lower=1, trans_a=1)
        break
    else:
        eigenvalues, basis = np.linalg.eigh((s1 + s1.T) / 2)
        root = np.sqrt(np.clip(eigenvalues, 0.0, None))
        middle = root[:, None] * (basis.T @ s2 @ basis) * root[None, :]
    # "ev" (QR iteration, values only) is the fastest LAPACK driver at these sizes.
    middle_eigenvalues = scipy.linalg.eigvalsh((middle + middle.T) / 2, driver="ev", check_finite=False)
    return float(np.sqrt(np.clip(middle_eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^{1/2}), float64, clamped ≥ 0 (see the module docstring)."""
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    d = mu1.shape[-1]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise EvalError(
            None, f"shapes do not match: mu1 {list(mu1.shape)}, sigma1 {list(sigma1.shape)}, mu2 {list(mu2.shape)}, sigma2 {list(sigma2.shape)}"
        )
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        raise EvalError(None, "feature statistics contain NaN or infinity")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return max(float(value), 0.0)


def frechet_distance_stats(a: GaussianStats, b: GaussianStats) -> float:
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


def frechet_distance_features(features1, features2, *, ddof: int = 1) -> float:
    """FD between Gaussians fitted to two feature sets (N₁, d) and (N₂, d)."""
    return frechet_distance_stats(GaussianStats.from_features(features1, ddof=ddof), GaussianStats.from_features(features2, ddof=ddof))


@dataclass(frozen=True)
class Extrapolation:
    """FD∞ and the points it was fitted on: FD at each subset size, and the fitted slope (FD per 1/N)."""

    value: float
    sizes: list[int]
    distances: list[float]
    slope: float


def frechet_distance_infinity(
    fake_features,
    reference: GaussianStats,
    *,
    points: int = 15,
    min_fraction: float = 0.2,
    ddof: int = 1,
    rng: np.random.Generator | None = None,
) -> Extrapolation:
    """FD∞: FD of random fake subsets of ``points`` sizes from ``min_fraction``·N to N against the full
    ``reference``, a least-squares line FD = a + b/N, and its intercept a (the FD at N → ∞).

    Chong & Forsyth 2020 use 15 sizes from 5k to 50k (``min_fraction`` 0.1); 0.2 keeps the smallest
    subsets of our smaller sets above a few dozen samples. The intercept is not clamped: a negative
    value says the sets are indistinguishable at this N.
    """
    x = np.asarray(fake_features, dtype=np.float64)
    n = x.shape[0]
    lowest = max(2, int(round(min_fraction * n)))
    if n < 4 or lowest >= n:
        raise EvalError(None, f"FD∞ needs at least 4 fake samples and min_fraction < 1, got {n} samples")
    rng = np.random.default_rng(0) if rng is None else rng
    sizes = sorted({int(s) for s in np.linspace(lowest, n, points).round()})
    distances = []
    for size in sizes:
        subset = x[rng.permutation(n)[:size]]
        distances.append(frechet_distance_stats(GaussianStats.from_features(subset, ddof=ddof), reference))
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes, dtype=np.float64), np.asarray(distances), 1)
    return Extrapolation(float(intercept), sizes, distances, float(slope))
