"""Kubernetes targets (kind, kubeconfig): the driver and its API client."""
