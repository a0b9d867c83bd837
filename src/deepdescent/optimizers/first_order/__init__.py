"""First-order methods (Goodfellow et al. §8.3 and §8.5): SGD with momentum, the adaptive
learning rates (AdaGrad, RMSProp, Adam) and their successors."""
