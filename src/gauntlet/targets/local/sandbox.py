"""The local sandbox target (harness side): starts the supervisor and talks to it and the pods.

State lives in ``<state root>/<name>/`` (``/run/gauntlet`` as root, else under
``$XDG_RUNTIME_DIR`` or ``/tmp``): ``state.json`` names the supervisor's PID so that
``gauntlet down --target local`` can clean up after a SIGKILLed run, the supervisor's socket,
and one control socket per pod agent. Probes go straight to each source pod's agent over its
Unix socket (filesystem sockets cross network namespaces), one batch per source, all sources
concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gauntlet.blueprint.model import Blueprint
from gauntlet.policy import PolicySet, normalize
from gauntlet.report.scorecard import Distribution
from gauntlet.targets.base import (
    AdmissionResult,
    AuditFinding,
    DeployReport,
    L7Flow,
    Outcome,
    PlantedFault,
    PodStatus,
    ProbeRequest,
    ProbeResult,
    Subject,
    TargetError,
)
from gauntlet.targets.local.chaos import SandboxChaos
from gauntlet.targets.local.control_plane import LocalControlPlane
from gauntlet.targets.local.l7 import compile_l7
from gauntlet.targets.local.nftables import CompileOptions, compile_policy, compile_services
from gauntlet.targets.local.plan import SandboxPlan, make_plan

REQUIRED_TOOLS = {"ip": "iproute2", "nft": "nftables", "nsenter": "util-linux", "mount": "mount"}
START_TIMEOUT_S = 15.0


def state_root() -> Path:
    if os.geteuid() == 0:
        return Path("/run/gauntlet")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "gauntlet" if runtime else Path(f"/tmp/gauntlet-{os.getuid()}")


def check_host() -> None:
    """Fail early, with the install command, when the kernel tooling is missing."""
    missing = sorted({pkg for tool, pkg in REQUIRED_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise TargetError(
            "the local sandbox needs " + ", ".join(missing) + "; install with: "
            f"sudo apt-get install -y {' '.join(missing)}"
        )


def _pid_is_supervisor(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"gauntlet.targets.local.supervisor" in cmdline


def down(name: str | None = None) -> list[str]:
    """Tear down sandboxes (one by name, or all) from their state files; returns what went."""
    root = state_root()
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for state_dir in sorted(root.iterdir()):
        if name is not None and state_dir.name != name:
            continue
        state_file = state_dir / "state.json"
        with contextlib.suppress(OSError, ValueError):
            pid = int(json.loads(state_file.read_text())["supervisor_pid"])
            if _pid_is_supervisor(pid):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while _pid_is_supervisor(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _pid_is_supervisor(pid):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(state_dir, ignore_errors=True)
        removed.append(state_dir.name)
    return removed


class LocalSandbox:
    """The embedded default target: no Docker, no cluster, the kernel enforces the policies."""

    name = "local"

    def __init__(self, *, sandbox_name: str | None = None, detach: bool = False) -> None:
        self.sandbox_name = sandbox_name or f"run-{os.getpid()}"
        self.detach = detach
        self.state_dir = state_root() / self.sandbox_name
        self.proc: subprocess.Popen[bytes] | None = None
        self.plan: SandboxPlan | None = None
        self.policies: PolicySet | None = None
        self.sockets: dict[str, str] = {}
        self.revision = 0
        self.applied_revision = 0
        self._compile_options = CompileOptions()
        self.control: LocalControlPlane | None = None
        self.chaos = SandboxChaos(self)
        # The harness side of a sandbox another process started and owns (`chaos run` against
        # `gauntlet up`): faults may be injected, teardown leaves it running.
        self.attached = False

    # -- lifecycle -------------------------------------------------------------------------
    def distribution(self) -> Distribution:
        return Distribution(
            name="local-sandbox",
            kubernetes_version=None,
            cni="gauntlet-nftables",
            cni_version=_nft_version(),
            policy_engine="gatekeeper-rego (regorus)",
            policy_engine_version=_package_version("gordon-to-regorus"),
        )

    def start(self) -> None:
        check_host()
        if self.state_dir.exists():
            down(self.sandbox_name)
        self.state_dir.mkdir(parents=True, mode=0o700)
        log = open(self.state_dir / "supervisor.log", "wb")  # noqa: SIM115 - lives with proc
        argv = [
            sys.executable,
            "-m",
            "gauntlet.targets.local.supervisor",
            "--state-dir",
            str(self.state_dir),
        ]
        if self.detach:
            argv.append("--detach")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=self.detach,
        )
        (self.state_dir / "state.json").write_text(
            json.dumps({"supervisor_pid": self.proc.pid, "started_at": time.time()})
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (self.state_dir / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise TargetError(f"sandbox supervisor failed to start: {self._log_tail()}")
            time.sleep(0.02)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.state_dir / "supervisor.log").read_text()[-2000:].strip()
        return "(no log)"

    def call(self, request: dict[str, Any], *, timeout_s: float = 120.0) -> dict[str, Any]:
        return asyncio.run(self._call(request, timeout_s))

    async def _call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        sock = str(self.state_dir / "supervisor.sock")
        try:
            reader, writer = await asyncio.open_unix_connection(sock, limit=64 << 20)
        except OSError as exc:
            raise TargetError(
                f"sandbox supervisor unreachable ({exc}): {self._log_tail()}"
            ) from exc
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout_s)
        finally:
            writer.close()
        if not line:
            raise TargetError(f"sandbox supervisor closed the connection: {self._log_tail()}")
        resp: dict[str, Any] = json.loads(line)
        if not resp.get("ok"):
            raise TargetError(f"sandbox: {resp.get('error')}")
        return resp

    def deploy(self, blueprint: Blueprint) -> DeployReport:
        started = time.monotonic()
        plan = make_plan(blueprint)
        if self.control is not None:
            self.control.close()
        # Objects are checked (templates compile, constraints validate) before any pod starts.
        self.control = LocalControlPlane(blueprint)
        if self.proc is None:
            self.start()
        self.plan = plan
        self.policies = normalize(blueprint, plan.endpoints)
        # Policies first, so no pod ever runs unprotected (as an admission-time CNI would).
        self._apply()
        resp = self.call(
            {
                "op": "deploy",
                "services_ruleset": compile_services(plan.services),
                "pods": [
                    {
                        "index": p.index,
                        "key": p.key,
                        "ip": p.ip,
                        "tcp": list(p.tcp_ports),
                        "udp": list(p.udp_ports),
                        "node": p.node,
                    }
                    for p in plan.pods
                ],
            },
            timeout_s=600,
        )
        pods = self._pod_statuses(resp)
        return DeployReport(
            pods=pods, duration_s=time.monotonic() - started, policy_revision=self.applied_revision
        )

    def _pod_statuses(self, resp: dict[str, Any]) -> tuple[PodStatus, ...]:
        out = []
        for p in resp["pods"]:
            self.sockets[p["key"]] = p["socket"]
            out.append(
                PodStatus(
                    key=p["key"],
                    ip=p["ip"],
                    ready=p["ready"],
                    restarts=p["restarts"],
                    start_latency_ms=p["start_latency_ms"],
                    rss_bytes=p["rss_bytes"],
                    node=p.get("node", ""),
                )
            )
        return tuple(out)

    def status(self) -> tuple[tuple[PodStatus, ...], int]:
        resp = self.call({"op": "status"})
        return self._pod_statuses(resp), int(resp["policy_revision"])

    def pod_statuses(self) -> list[PodStatus]:
        return list(self.status()[0])

    def policy_ruleset(self) -> tuple[str, int]:
        """The policy ruleset compiled afresh from what is enforced now, and its revision."""
        if self.plan is None or self.policies is None:
            raise TargetError("deploy the blueprint before asking for its policy ruleset")
        return compile_policy(self.policies, self.plan, self._compile_options), self.revision

    def _apply(self) -> None:
        assert self.plan is not None and self.policies is not None
        self.revision += 1
        opts = self._compile_options
        ruleset = compile_policy(self.policies, self.plan, opts)
        l7 = compile_l7(
            self.policies,
            self.plan,
            opts.l7,
            unenforced=opts.unenforced,
            disabled=opts.disabled,
            revision=self.revision,
        )
        # L3/L4 first: a connection the new policy drops must never reach a proxy that would
        # still let it through.
        resp = self.call({"op": "apply_policy", "ruleset": ruleset, "revision": self.revision})
        self.call(
            {
                "op": "apply_l7",
                "pods": {k: {"config": v.config, "ruleset": v.ruleset} for k, v in l7.items()},
            },
            timeout_s=120,
        )
        self.applied_revision = int(resp["revision"])

    def wait_policy_converged(self, *, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            pods, revision = self.status()
            if revision >= self.revision and all(p.ready for p in pods):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def teardown(self) -> None:
        # The supervisor takes every fault's kernel state with it.
        self.chaos.forget_all()
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is None:
            return
        with contextlib.suppress(TargetError, OSError):
            self.call({"op": "shutdown"}, timeout_s=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- probing ---------------------------------------------------------------------------
    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        return asyncio.run(self._probe(requests))

    async def _probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        assert self.plan is not None, "deploy() first"
        ips = self.plan.ip_of()
        rows: dict[str, list[ProbeRequest]] = defaultdict(list)
        for req in requests:
            rows[req.src].append(req)
        results: dict[str, ProbeResult] = {}

        async def row(src: str, reqs: list[ProbeRequest]) -> None:
            batch = []
            for r in reqs:
                item: dict[str, Any] = {
                    "id": r.id,
                    "host": ips[r.dst],
                    "port": r.port,
                    "protocol": r.protocol,
                    "mode": r.mode.value,
                    "timeout_s": r.timeout_s,
                }
                if r.http is not None:
                    item["http"] = {
                        "method": r.http.method,
                        "path": r.http.path,
                        "headers": dict(r.http.headers),
                    }
                batch.append(item)
            budget = max(r.timeout_s for r in reqs) + 10
            try:
                reader, writer = await asyncio.open_unix_connection(
                    self.sockets[src], limit=64 << 20
                )
                writer.write(json.dumps({"op": "probe", "probes": batch}).encode() + b"\n")
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), budget)
                writer.close()
                resp = json.loads(line)
                for res in resp["results"]:
                    results[res["id"]] = ProbeResult(
                        id=res["id"],
                        outcome=Outcome(res["outcome"]),
                        latency_ms=float(res["latency_ms"]),
                        error_class=res.get("error_class"),
                        http_status=res.get("http_status"),
                        peer=res.get("peer"),
                        body=res.get("body"),
                    )
            except (OSError, ValueError, KeyError, TimeoutError) as exc:
                # The agent could not run the row: every cell of it is unobserved, not denied.
                for r in reqs:
                    results[r.id] = ProbeResult(
                        id=r.id,
                        outcome=Outcome.ERROR,
                        latency_ms=0.0,
                        error_class=f"agent: {type(exc).__name__}: {exc}",
                    )

        await asyncio.gather(*(row(src, reqs) for src, reqs in rows.items()))
        return [results[r.id] for r in requests]

    # -- faults ----------------------------------------------------------------------------
    def plant(self, fault: PlantedFault) -> None:
        from gauntlet.targets.local.faults import plant_fault

        plant_fault(self, fault)

    def inject(self, fault: PlantedFault) -> str:
        return self.chaos.inject(fault)

    def revert(self, handle: str) -> None:
        self.chaos.revert(handle)

    def active_faults(self) -> list[str]:
        return self.chaos.active_faults()

    def plan_or_raise(self) -> SandboxPlan:
        if self.plan is None:
            raise TargetError("deploy the blueprint first")
        return self.plan

    def control_or_raise(self) -> LocalControlPlane:
        return self._control()

    def reapply(self, policies: PolicySet, options: CompileOptions) -> None:
        self.policies = policies
        self._compile_options = options
        self._apply()

    def kill_pod(self, key: str) -> None:
        self.call({"op": "kill_pod", "key": key})

    def agent_control(self, key: str, request: dict[str, object]) -> dict[str, Any]:
        """One request on pod ``key``'s agent control socket (faults: latency, error ratio)."""
        if key not in self.sockets:
            raise TargetError(f"no pod {key} in the sandbox")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(self.sockets[key])
                sock.sendall(json.dumps(request).encode() + b"\n")
                line = sock.makefile("rb").readline()
            resp: dict[str, Any] = json.loads(line)
        except (OSError, ValueError) as exc:
            raise TargetError(f"agent of {key}: {exc}") from exc
        if not resp.get("ok"):
            raise TargetError(f"agent of {key}: {resp.get('error')}")
        return resp

    # -- control plane: admission, RBAC, objects, audit ------------------------------------
    def _control(self) -> LocalControlPlane:
        if self.control is None:
            raise TargetError("deploy the blueprint before asking the control plane")
        return self.control

    def admit(
        self, manifest: dict[str, object], *, as_user: str, as_groups: Sequence[str] = ()
    ) -> AdmissionResult:
        return self._control().admit(manifest, as_user=as_user, as_groups=as_groups)

    def can_i(
        self, subject: Subject, verb: str, resource: str, *, namespace: str | None, name: str = ""
    ) -> bool:
        return self._control().can_i(subject, verb, resource, namespace=namespace, name=name)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._control().objects(kind, namespace)

    def audit(self) -> list[AuditFinding]:
        return self._control().audit()

    def l7_flows(self, *, since: float | None = None) -> list[L7Flow]:
        """The proxies' access logs (every pod's), oldest first."""
        flows: list[L7Flow] = []
        for path in sorted((self.state_dir / "p").glob("*.l7.log")):
            with contextlib.suppress(OSError):
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        rec = json.loads(line)
                        flow = L7Flow(
                            time=float(rec["time"]),
                            source=str(rec["source"]),
                            destination=str(rec["destination"]),
                            port=int(rec["port"]),
                            method=str(rec["method"]),
                            path=str(rec["path"]),
                            verdict=str(rec["verdict"]),
                            status=int(rec["status"]),
                            side=str(rec.get("side", "")),
                            host=str(rec.get("host", "")),
                            reason=str(rec.get("reason", "")),
                        )
                    except (ValueError, KeyError, TypeError):
                        continue  # a line being written
                    if since is None or flow.time >= since:
                        flows.append(flow)
        flows.sort(key=lambda f: f.time)
        return flows

    # -- load ----------------------------------------------------------------------------

    def load_entrypoint(self, namespace: str, service: str, *, port: int) -> str:
        """``http://<Service VIP>:<port>``: reachable only inside the sandbox, so the load runs
        under ``load_exec_prefix()``."""
        if self.plan is None:
            raise TargetError("deploy the blueprint before asking for a load entrypoint")
        key = f"{namespace}/{service}"
        ports = [s for s in self.plan.services if s.key == key and s.protocol == "TCP"]
        if not ports:
            known = ", ".join(sorted({s.key for s in self.plan.services})) or "none"
            raise TargetError(f"no Service {key} in the blueprint (Services: {known})")
        match = next((s for s in ports if s.port == port), None)
        if match is None:
            have = ", ".join(str(s.port) for s in ports)
            raise TargetError(f"Service {key} has no TCP port {port} (its ports: {have})")
        if not match.backends:
            raise TargetError(f"Service {key} port {port} selects no pods: load would only fail")
        return f"http://{match.vip}:{port}"

    def load_exec_prefix(self, *, source: str | None = None) -> list[str]:
        """``nsenter`` into the network namespace of the load source pod (``ns/pod``; default:
        the platform's ingress gateway, the pod the blueprint lets reach tenant apis from the
        north), so load enters tenants the way outside traffic does: through the Service VIP,
        the policies and the tenants' L7 rules."""
        if self.plan is None:
            raise TargetError("deploy the blueprint before asking for a load source")
        key = source or self.default_load_source()
        if key not in self.sockets:
            raise TargetError(f"load source {key} is not a pod of the sandbox")
        pid = self._host_pid(key)
        if os.geteuid() == 0:
            return ["nsenter", "-t", str(pid), "-n"]
        # Rootless: the pod's network namespace belongs to the sandbox's user namespace.
        return ["nsenter", "-t", str(pid), "-U", "-n"]

    def default_load_source(self) -> str:
        if self.plan is None:
            raise TargetError("deploy the blueprint before asking for a load source")
        gateways = sorted(
            ep.key for ep in self.plan.endpoints if ep.pod.labels.get("app") == "ingress-gateway"
        )
        if not gateways:
            raise TargetError(
                "the blueprint has no pod labelled app=ingress-gateway to send load from; "
                "pass the load source pod explicitly (ns/pod)"
            )
        return gateways[0]

    def _host_pid(self, key: str) -> int:
        """The PID of ``key``'s agent as this process sees it. The supervisor knows it only in
        the sandbox's PID namespace; the kernel translates the peer PID of a Unix socket into
        the reader's namespace (SO_PEERCRED), and NSpid in /proc confirms the match."""
        inner = next(
            (p.get("pid") for p in self.call({"op": "status"})["pods"] if p["key"] == key), None
        )
        if inner is None:
            raise TargetError(f"load source {key} is not running")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            try:
                sock.connect(self.sockets[key])
                cred = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            except OSError as exc:
                raise TargetError(f"agent of {key} unreachable: {exc}") from exc
        pid = int.from_bytes(cred[:4], sys.byteorder, signed=True)
        nspids: list[str] = []
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("NSpid:"):
                    nspids = line.split()[1:]
        if not nspids or nspids[-1] != str(inner):
            raise TargetError(
                f"agent of {key}: PID {pid} (NSpid {' '.join(nspids) or '?'}) does not match "
                f"the supervisor's PID {inner}; the pod may be restarting, try again"
            )
        return pid

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _package_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _nft_version() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["nft", "--version"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip().split(" ")[1] if out.stdout else None
    return None


__all__ = ["LocalSandbox", "check_host", "down", "state_root"]
