"""Optimizers that wrap another one: Lookahead and sharpness-aware minimization (SAM)."""
