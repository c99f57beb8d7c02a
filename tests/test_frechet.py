"""Fréchet distance: closed forms, agreement with scipy's sqrtm and torchmetrics' FID, rank deficiency, FD∞."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from eval.errors import EvalError
from eval.frechet import (
    GaussianStats,
    frechet_distance,
    frechet_distance_features,
    frechet_distance_infinity,
    trace_sqrt_product,
)


def correlated_features(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.2 + shift + rng.normal(size=d)


def sqrtm_reference(mu1, sigma1, mu2, sigma2) -> float:
    """StyleGAN-V's formula: scipy sqrtm of Σ₁Σ₂, real part of the trace."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm's own deprecation/accuracy chatter
        root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(sigma1 + sigma2 - 2 * root)))


def test_equal_covariances_leave_the_squared_mean_difference():
    rng = np.random.default_rng(1)
    sigma = np.cov(correlated_features(rng, 300, 40), rowvar=False)
    mu1, mu2 = rng.normal(size=40), rng.normal(size=40)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.square(mu1 - mu2).sum(), rel=1e-9)


def test_diagonal_covariances_match_the_closed_form():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.1, 4.0, 30), rng.uniform(0.1, 4.0, 30)
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    expected = np.square(mu1 - mu2).sum() + np.square(np.sqrt(a) - np.sqrt(b)).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_agrees_with_scipy_sqrtm_to_1e6_relative():
    rng = np.random.default_rng(3)
    real, fake = correlated_features(rng, 600, 64), correlated_features(rng, 500, 64, shift=0.3)
    a, b = GaussianStats.from_features(real), GaussianStats.from_features(fake)
    ours = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    reference = sqrtm_reference(a.mu, a.sigma, b.mu, b.sigma)
    assert ours > 1.0
    assert abs(ours - reference) / reference <= 1e-6


class FeaturesAsImages(torch.nn.Module):
    """A torchmetrics FID "feature extractor" that returns its input: FID then sees our features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x):
        return x


def test_agrees_with_torchmetrics_fid_on_identical_features():
    from torchmetrics.image.fid import FrechetInceptionDistance

    rng = np.random.default_rng(4)
    real, fake = correlated_features(rng, 400, 48), correlated_features(rng, 300, 48, shift=0.5)
    fid = FrechetInceptionDistance(feature=FeaturesAsImages(48), normalize=True)
    for start in range(0, 400, 100):  # several updates, as a streaming metric receives them
        fid.update(torch.tensor(real[start : start + 100]), real=True)
    fid.update(torch.tensor(fake), real=False)
    theirs = float(fid.compute())
    ours = frechet_distance_features(real, fake)  # ddof=1 like torchmetrics
    assert abs(ours - theirs) / theirs <= 1e-6


def test_gaussian_stats_from_running_sums_equal_those_from_features():
    rng = np.random.default_rng(5)
    x = correlated_features(rng, 200, 16, shift=3.0)
    direct = GaussianStats.from_features(x)
    summed = GaussianStats.from_sums(x.sum(0), x.T @ x, len(x))
    np.testing.assert_allclose(summed.mu, direct.mu, rtol=1e-12)
    np.testing.assert_allclose(summed.sigma, direct.sigma, rtol=1e-9, atol=1e-12)
    assert np.allclose(direct.sigma, np.cov(x, rowvar=False))


def test_divide_by_n_option_matches_stylegan_v_statistics():
    rng = np.random.default_rng(6)
    real, fake = correlated_features(rng, 120, 20), correlated_features(rng, 90, 20, shift=0.2)

    def stylegan_v_stats(x):  # FeatureStats.get_mean_cov: raw second moment / N minus outer(mean)
        mean = x.mean(0)
        return mean, x.T @ x / len(x) - np.outer(mean, mean)

    (m1, s1), (m2, s2) = stylegan_v_stats(real), stylegan_v_stats(fake)
    ours = frechet_distance_features(real, fake, ddof=0)
    assert ours == pytest.approx(sqrtm_reference(m1, s1, m2, s2), rel=1e-6)
    assert ours != pytest.approx(frechet_distance_features(real, fake, ddof=1), rel=1e-3)


def nuclear_norm_trace(x1: np.ndarray, x2: np.ndarray) -> float:
    """Tr((Σ₁Σ₂)^{1/2}) = ‖A Bᵀ‖_* with Σ₁ = AᵀA, Σ₂ = BᵀB (A = centred X₁/√(N₁−1)): exact at any rank."""
    a = (x1 - x1.mean(0)) / np.sqrt(len(x1) - 1)
    b = (x2 - x2.mean(0)) / np.sqrt(len(x2) - 1)
    return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())


@pytest.mark.parametrize("n_real,n_fake", [(40, 300), (300, 40), (40, 30)])
def test_rank_deficient_covariances_are_exact(n_real, n_fake):
    rng = np.random.default_rng(7)
    d = 120
    real, fake = correlated_features(rng, n_real, d), correlated_features(rng, n_fake, d, shift=0.1)
    a, b = GaussianStats.from_features(real), GaussianStats.from_features(fake)
    expected_trace = nuclear_norm_trace(real, fake)
    assert trace_sqrt_product(a.sigma, b.sigma) == pytest.approx(expected_trace, rel=1e-6)
    expected = np.square(a.mu - b.mu).sum() + np.trace(a.sigma) + np.trace(b.sigma) - 2 * expected_trace
    assert frechet_distance_features(real, fake) == pytest.approx(expected, rel=1e-6)


def test_distance_is_never_negative_and_zero_for_the_same_set():
    rng = np.random.default_rng(8)
    for scale in (1e-3, 1.0, 1e4):
        x = correlated_features(rng, 50, 80) * scale  # rank-deficient, large dynamic range
        value = frechet_distance_features(x, x)
        assert 0.0 <= value <= 1e-9 * max(1.0, np.trace(np.cov(x, rowvar=False)))


def test_fd_infinity_is_closer_to_the_true_distance_than_the_finite_estimate():
    rng = np.random.default_rng(9)
    d, n = 32, 400
    shift = np.full(d, 0.25)
    reference = GaussianStats(shift, np.eye(d), 10**9)  # exact statistics of N(shift, I)
    fake = rng.normal(size=(n, d))  # N(0, I): true distance ‖shift‖²
    truth = float(shift @ shift)
    finite = frechet_distance(*_mu_sigma(fake), reference.mu, reference.sigma)
    extrapolated = frechet_distance_infinity(fake, reference, rng=np.random.default_rng(0))
    assert finite - truth > 0.5  # the bias this corrects (~d²/4N here) is real
    assert abs(extrapolated.value - truth) < abs(finite - truth) / 3
    assert extrapolated.slope > 0 and extrapolated.sizes[-1] == n and len(extrapolated.sizes) == 15


def _mu_sigma(x):
    stats = GaussianStats.from_features(x)
    return stats.mu, stats.sigma


def test_bad_input_raises_one_line_eval_errors():
    with pytest.raises(EvalError, match="at least 2 samples"):
        GaussianStats.from_features(np.zeros((1, 4)))
    with pytest.raises(EvalError, match="shapes do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(EvalError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(EvalError, match="ddof"):
        GaussianStats.from_features(np.zeros((5, 2)), ddof=2)
