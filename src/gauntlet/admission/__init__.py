"""Admission on the local sandbox: what an API server with Gatekeeper would answer.

The chain mirrors kube-apiserver's order: authorization (RBAC), mutating admission (LimitRange
defaulting), validating admission (Gatekeeper's webhook), then ResourceQuota, which the API
server always runs last.
"""
