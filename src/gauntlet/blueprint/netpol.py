"""Kubernetes NetworkPolicy (networking.k8s.io/v1) as typed models, evaluated as Cilium does."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gauntlet.blueprint.kube import ObjectMeta, Protocol
from gauntlet.blueprint.selectors import LabelSelector


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class IPBlock(_Strict):
    cidr: str
    except_: tuple[str, ...] = Field(default=(), alias="except")


class NetworkPolicyPeer(_Strict):
    pod_selector: LabelSelector | None = Field(default=None, alias="podSelector")
    namespace_selector: LabelSelector | None = Field(default=None, alias="namespaceSelector")
    ip_block: IPBlock | None = Field(default=None, alias="ipBlock")


class NetworkPolicyPort(_Strict):
    protocol: Protocol = Protocol.TCP
    port: int | str | None = None
    end_port: int | None = Field(default=None, alias="endPort", ge=1, le=65535)

    @field_validator("port")
    @classmethod
    def _port_valid(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 1 <= value <= 65535:
            raise ValueError(f"port {value} is outside 1-65535")
        return value


class IngressRule(_Strict):
    from_: tuple[NetworkPolicyPeer, ...] | None = Field(default=None, alias="from")
    ports: tuple[NetworkPolicyPort, ...] | None = None


class EgressRule(_Strict):
    to: tuple[NetworkPolicyPeer, ...] | None = None
    ports: tuple[NetworkPolicyPort, ...] | None = None


class NetworkPolicySpec(_Strict):
    pod_selector: LabelSelector = Field(alias="podSelector")
    policy_types: tuple[Literal["Ingress", "Egress"], ...] | None = Field(
        default=None, alias="policyTypes"
    )
    ingress: tuple[IngressRule, ...] | None = None
    egress: tuple[EgressRule, ...] | None = None


class NetworkPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    api_version: Literal["networking.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["NetworkPolicy"]
    metadata: ObjectMeta
    spec: NetworkPolicySpec
    status: dict[str, Any] | None = None

    def directions(self) -> tuple[bool, bool]:
        """(ingress, egress) isolation as the API defines policyTypes' default."""
        # The API server defaults an absent *or empty* policyTypes to Ingress, plus Egress when
        # there is at least one egress rule (len(spec.egress) != 0).
        if self.spec.policy_types:
            types = set(self.spec.policy_types)
            return "Ingress" in types, "Egress" in types
        return True, bool(self.spec.egress)
