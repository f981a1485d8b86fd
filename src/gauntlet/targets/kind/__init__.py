"""kind target: Cilium-ready cluster configs (``config``), the pinned versions (``versions``) and
provisioning (``provision``: ``plan``, ``ensure_cluster``, ``down``); see docs/kind.md."""
