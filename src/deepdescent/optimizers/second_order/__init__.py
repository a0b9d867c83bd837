"""Approximate second-order methods (Goodfellow et al. §8.6): Newton, conjugate gradient,
(L-)BFGS, Hessian-free, K-FAC and Shampoo, with the line searches they share; and
(block) coordinate descent (§8.7.2), which minimizes one block at a time by a Newton step
on the block or a line search."""
