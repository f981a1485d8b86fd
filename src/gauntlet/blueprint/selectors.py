"""Kubernetes label selectors (matchLabels + matchExpressions), shared by every policy dialect."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class Requirement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_match_operator(self) -> Requirement:
        # apimachinery: In/NotIn need a non-empty values list, Exists/DoesNotExist need none.
        needs_values = self.operator in (Operator.IN, Operator.NOT_IN)
        if needs_values and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty 'values' list")
        if not needs_values and self.values:
            raise ValueError(f"operator {self.operator} takes no 'values'")
        return self


class LabelSelector(BaseModel):
    """A label selector; the empty selector matches everything in its scope."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[Requirement, ...] = Field(default=(), alias="matchExpressions")

    def label_keys(self) -> set[str]:
        return set(self.match_labels) | {r.key for r in self.match_expressions}

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


def matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Evaluate ``selector`` against ``labels`` (keys already normalised by the caller)."""
    for k, v in selector.match_labels.items():
        if labels.get(k) != v:
            return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator is Operator.IN:
            if not present or labels[req.key] not in req.values:
                return False
        elif req.operator is Operator.NOT_IN:
            # apimachinery: NotIn matches when the key is absent too.
            if present and labels[req.key] in req.values:
                return False
        elif req.operator is Operator.EXISTS:
            if not present:
                return False
        elif present:
            return False
    return True
