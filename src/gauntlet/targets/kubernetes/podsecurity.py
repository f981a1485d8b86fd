"""Pod Security Standards, "restricted" profile (latest), as a check over a pod spec.

Written from the Kubernetes documentation's control table ("Pod Security Standards",
kubernetes.io/docs/concepts/security/pod-security-standards/): the baseline controls plus the
restricted ones. It proves offline that what Gauntlet renders would be admitted by Pod Security
Admission in a namespace labelled ``pod-security.kubernetes.io/enforce: restricted`` (every
tenant namespace of the reference platform is). Each problem names the field to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# Baseline "Sysctls": the safe set (k8s 1.29+ list).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
# Restricted "Volume Types".
ALLOWED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Baseline "SELinux": allowed types; user and role must be unset.
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in CONTAINER_LISTS:
        for i, c in enumerate(spec.get(field) or []):
            yield f"spec.{field}[{i}]", c


def restricted_problems(spec: Mapping[str, Any]) -> list[str]:
    """Violations of Pod Security "restricted" in a pod spec (empty: admitted)."""
    problems: list[str] = []
    pod_ctx: Mapping[str, Any] = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            problems.append(f"spec.{host} must be false or unset")
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("spec.securityContext.windowsOptions.hostProcess must be false or unset")
    for i, vol in enumerate(spec.get("volumes") or []):
        sources = set(vol) - {"name"}
        if not sources <= ALLOWED_VOLUME_SOURCES:
            problems.append(
                f"spec.volumes[{i}] ({vol.get('name')}) uses {', '.join(sorted(sources))}; "
                f"restricted allows {', '.join(sorted(ALLOWED_VOLUME_SOURCES))}"
            )
    for i, sysctl in enumerate(pod_ctx.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"spec.securityContext.sysctls[{i}] {sysctl.get('name')} is not safe")
    problems += _selinux("spec.securityContext", pod_ctx)
    pod_seccomp = (pod_ctx.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_ALLOWED:
        problems.append(
            "spec.securityContext.seccompProfile.type must be RuntimeDefault or Localhost"
        )
    if pod_ctx.get("runAsUser") == 0:
        problems.append("spec.securityContext.runAsUser must not be 0")
    if pod_ctx.get("runAsNonRoot") is False:
        problems.append("spec.securityContext.runAsNonRoot must not be false")
    for where, c in _containers(spec):
        problems += _container_problems(where, c, pod_ctx)
    return problems


def _selinux(where: str, ctx: Mapping[str, Any]) -> list[str]:
    opts = ctx.get("seLinuxOptions") or {}
    out = []
    if opts.get("type", "") not in SELINUX_TYPES:
        out.append(f"{where}.seLinuxOptions.type {opts.get('type')!r} is not allowed")
    if opts.get("user") or opts.get("role"):
        out.append(f"{where}.seLinuxOptions.user and role must be unset")
    return out


def _container_problems(where: str, c: Mapping[str, Any], pod_ctx: Mapping[str, Any]) -> list[str]:
    ctx: Mapping[str, Any] = c.get("securityContext") or {}
    out: list[str] = []
    if ctx.get("privileged"):
        out.append(f"{where}.securityContext.privileged must be false or unset")
    if (ctx.get("windowsOptions") or {}).get("hostProcess"):
        out.append(f"{where}.securityContext.windowsOptions.hostProcess must be false or unset")
    for j, port in enumerate(c.get("ports") or []):
        if port.get("hostPort"):
            out.append(f"{where}.ports[{j}].hostPort must be 0 or unset")
    if ctx.get("procMount", "Default") != "Default":
        out.append(f"{where}.securityContext.procMount must be Default")
    out += _selinux(f"{where}.securityContext", ctx)
    if ctx.get("allowPrivilegeEscalation") is not False:
        out.append(f"{where}.securityContext.allowPrivilegeEscalation must be false")
    non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
    if non_root is not True:
        out.append(f"{where}: runAsNonRoot must be true (container or pod securityContext)")
    if ctx.get("runAsUser") == 0:
        out.append(f"{where}.securityContext.runAsUser must not be 0")
    seccomp = (ctx.get("seccompProfile") or {}).get("type") or (
        pod_ctx.get("seccompProfile") or {}
    ).get("type")
    if seccomp not in SECCOMP_ALLOWED:
        out.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost")
    caps = ctx.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.append(f"{where}.securityContext.capabilities.drop must include ALL")
    extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if extra:
        out.append(
            f"{where}.securityContext.capabilities.add may only hold NET_BIND_SERVICE, "
            f"not {', '.join(sorted(extra))}"
        )
    return out
