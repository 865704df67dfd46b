"""Camera presence detection: the Cython kernel, its numpy reference and the detector."""
