"""Optimizers that wrap another one: Lookahead, sharpness-aware minimization (SAM) and
Gaussian continuation."""
