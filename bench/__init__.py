"""Benchmarks of CampusHub against stock JupyterHub; `bench/lecture_start.py` is the entry point."""
