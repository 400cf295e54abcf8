"""Python environments built from requirements: one builder for launched repositories and, later, course kernels."""
