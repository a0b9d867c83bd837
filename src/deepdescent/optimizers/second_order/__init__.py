"""Approximate second-order methods (Goodfellow et al. §8.6): Newton, conjugate gradient,
(L-)BFGS, Hessian-free, K-FAC and Shampoo, with the line searches they share."""
