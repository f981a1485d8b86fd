"""The pinned versions of everything `gauntlet up --target kind` installs, in one place.

Every pin is a real release, and the set is chosen to be mutually compatible:

- kind v0.32.0 ships ``kindest/node:v1.36.1`` as its default node image; the digest below is
  the one kind v0.32.0 itself pins (``pkg/apis/config/defaults/image.go`` at the tag, the same
  image its release notes list). kind supports a node image only with the kind release it was
  built for, so the two move together.
- Cilium 1.20 is e2e-tested by Cilium on Kubernetes 1.33-1.36 (its "Kubernetes
  Compatibility" page); chart ``cilium/cilium`` 1.20.0 (``kubeVersion >= 1.21``).
- Gatekeeper 3.23.0 (chart ``gatekeeper/gatekeeper`` 3.23.0) supports the Kubernetes minors
  upstream supports (its install docs), which include 1.36.
- kubectl matches the cluster's minor (kubectl supports +/-1 minor of skew); Helm v3.21.4 is
  the current Helm 3 patch.

How to bump (one pull request per component, then `gauntlet up --target kind --recreate`):

1. kind: take the new release's notes (github.com/kubernetes-sigs/kind/releases), set
   ``KIND_VERSION`` and copy the node image *with its digest* for the Kubernetes minor you
   want into ``NODE_IMAGES`` (and ``KUBERNETES_VERSION``). Never use a tag-only image: kind
   re-pushes tags when it rebuilds images for a new kind release.
2. Cilium: check the new minor's Kubernetes Compatibility table covers ``KUBERNETES_VERSION``
   and read its upgrade notes for Helm value renames (``values.py`` sets only a handful).
3. Gatekeeper: check the chart's ``values.yaml`` still has the keys ``values.py`` sets.
4. Run ``pytest tests/test_kind_provision.py`` (it asserts the pins appear in the plan) and the
   nightly kind workflow (``workflow_dispatch``) before merging.

The config hash that decides whether an existing cluster is reused includes every pin here
(``provision.cluster_hash``), so a bump never silently reuses a cluster built from old pins.

``python -m gauntlet.targets.kind.versions`` prints the tool pins as ``key=value`` lines (the
CI workflow appends them to ``$GITHUB_OUTPUT``), so CI installs exactly these versions.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

KIND_VERSION = "v0.32.0"
"""The kind CLI release the node images below were built for."""

KUBERNETES_VERSION = "v1.36.1"
"""Kubernetes version of the default node image."""

NODE_IMAGES: dict[str, str] = {
    "v1.36.1": (
        "kindest/node:v1.36.1"
        "@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
    ),
}
"""Node images pinned by digest, by Kubernetes version (from the kind release notes)."""

CILIUM_VERSION = "1.20.0"
"""Cilium Helm chart version (= Cilium version)."""

GATEKEEPER_VERSION = "3.23.0"
"""Gatekeeper Helm chart version (= Gatekeeper version without the ``v``)."""

KUBECTL_VERSION = KUBERNETES_VERSION
"""kubectl installed by CI: the cluster's own version (no skew at all)."""

HELM_VERSION = "v3.21.4"
"""Helm installed by CI."""


@dataclass(frozen=True)
class HelmRepo:
    """A Helm chart repository: the local alias ``helm repo add`` registers, and its URL."""

    name: str
    url: str


CILIUM_REPO = HelmRepo("cilium", "https://helm.cilium.io/")
GATEKEEPER_REPO = HelmRepo("gatekeeper", "https://open-policy-agent.github.io/gatekeeper/charts")


def node_image(kubernetes_version: str) -> tuple[str, bool]:
    """The node image for a Kubernetes version and whether it is pinned by digest.

    Versions without a pinned image fall back to the tag ``kindest/node:<version>`` (kind
    publishes images for several minors per release; see its release notes)."""
    version = kubernetes_version if kubernetes_version.startswith("v") else f"v{kubernetes_version}"
    pinned = NODE_IMAGES.get(version)
    return (pinned, True) if pinned else (f"kindest/node:{version}", False)


def tool_pins() -> dict[str, str]:
    """Versions of the command-line tools CI installs."""
    return {"kind": KIND_VERSION, "kubectl": KUBECTL_VERSION, "helm": HELM_VERSION}


def main() -> None:
    for key, value in tool_pins().items():
        sys.stdout.write(f"{key}={value}\n")


if __name__ == "__main__":
    main()
