"""Blueprint: a GitOps directory of plain manifests, loaded into typed models."""

from gauntlet.blueprint.errors import BlueprintError, UnsupportedPolicyError
from gauntlet.blueprint.loader import load_blueprint
from gauntlet.blueprint.model import Blueprint, Pod, Source

__all__ = [
    "Blueprint",
    "BlueprintError",
    "Pod",
    "Source",
    "UnsupportedPolicyError",
    "load_blueprint",
]
