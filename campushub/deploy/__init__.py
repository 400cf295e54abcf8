"""Deploying CampusHub somewhere other than this machine (`campushub deploy ...`).

Each target is one module of pure functions from the validated campus.yaml (`CampusConfig`) to the files
that target's own tools take, so that what is deployed is reviewable (and unit-tested) before any cluster
is touched: campushub/deploy/kubernetes.py writes values for the Zero to JupyterHub Helm chart.
"""
