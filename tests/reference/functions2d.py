"""The 2-D test functions written out by hand: f(x, y) and its gradient, element-wise on
NumPy arrays or floats. Each returns ``(f, (∂f/∂x, ∂f/∂y))``.

References: Jamil & Yang, "A literature survey of benchmark functions for global
optimization problems" (2013); Goodfellow, Bengio & Courville, *Deep Learning*, §4.3.1.
"""

from __future__ import annotations

import math

import numpy as np

#: The quadratic's long axis turned by 30°, and its condition number.
C, S, KAPPA = math.cos(math.pi / 6), math.sin(math.pi / 6), 20.0


def _quadratic(x, y):
    u, v = C * x + S * y, -S * x + C * y
    return 0.5 * (u**2 + KAPPA * v**2), (C * u - S * KAPPA * v, S * u + C * KAPPA * v)


def _rosenbrock(x, y):
    value = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    return value, (-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2))


def _beale(x, y):
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    grad_x = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
    grad_y = 2 * a * x + 4 * b * x * y + 6 * c * x * y**2
    return a**2 + b**2 + c**2, (grad_x, grad_y)


def _booth(x, y):
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return a**2 + b**2, (2 * a + 4 * b, 4 * a + 2 * b)


def _himmelblau(x, y):
    a, b = x**2 + y - 11, x + y**2 - 7
    return a**2 + b**2, (4 * x * a + 2 * b, 2 * a + 4 * y * b)


def _saddle(x, y):
    return x**2 - y**2, (2 * x, -2 * y)


def _monkey_saddle(x, y):
    return x**3 - 3 * x * y**2, (3 * x**2 - 3 * y**2, -6 * x * y)


def _rastrigin(x, y):
    value = 20 + x**2 - 10 * np.cos(2 * np.pi * x) + y**2 - 10 * np.cos(2 * np.pi * y)
    grad = (2 * x + 20 * np.pi * np.sin(2 * np.pi * x), 2 * y + 20 * np.pi * np.sin(2 * np.pi * y))
    return value, grad


REFERENCE = {
    "quadratic": _quadratic,
    "rosenbrock": _rosenbrock,
    "beale": _beale,
    "booth": _booth,
    "himmelblau": _himmelblau,
    "saddle": _saddle,
    "monkey_saddle": _monkey_saddle,
    "rastrigin": _rastrigin,
}
