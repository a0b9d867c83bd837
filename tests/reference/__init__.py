"""NumPy transcriptions of the published pseudo-code, for tests.

This package never imports deepdescent: it is the independent reference the optimizers
are checked against.
"""
