"""The operator's own logic: the reconcile loop, its pure outcomes, the pools and the kopf registration.

Imports point down only: controller → executors, kube → pipeline → … (tests/test_layers.py).
"""
