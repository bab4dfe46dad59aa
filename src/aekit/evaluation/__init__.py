"""Evaluation: metrics and the PCA baseline that every run is compared with."""

from aekit.evaluation.pca import PCABaseline, principal_angles

__all__ = ["PCABaseline", "principal_angles"]
