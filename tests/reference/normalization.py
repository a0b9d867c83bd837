"""Batch and layer normalization in NumPy, as Goodfellow et al. §8.7.1 and Ba et al. (2016)
write them. Never imports deepdescent."""

from __future__ import annotations

import numpy as np


def batch_norm_training(h, gamma, beta, delta):
    """H′ = (H − μ)/σ with μ = (1/m) Σᵢ H_{i,:} and σ = √(δ + (1/m) Σᵢ (H − μ)ᵢ²),
    then γH′ + β; returns the output, μ and the biased variance σ² − δ."""
    mu = h.mean(axis=0)
    variance = ((h - mu) ** 2).mean(axis=0)
    sigma = np.sqrt(delta + variance)
    return gamma * (h - mu) / sigma + beta, mu, variance


def moving_average(average, value, momentum):
    """Keras's running statistic: momentum · average + (1 − momentum) · value."""
    return momentum * average + (1.0 - momentum) * value


def batch_norm_inference(h, gamma, beta, moving_mean, moving_variance, delta):
    return gamma * (h - moving_mean) / np.sqrt(moving_variance + delta) + beta


def layer_norm(h, gamma, beta, delta, axes=(-1,)):
    """Each example normalized over ``axes`` by its own mean and biased variance."""
    mu = h.mean(axis=axes, keepdims=True)
    variance = ((h - mu) ** 2).mean(axis=axes, keepdims=True)
    return gamma * (h - mu) / np.sqrt(variance + delta) + beta
