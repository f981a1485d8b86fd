"""The sandbox supervisor: PID 1 of the sandbox's own user/mount/pid/network namespaces.

It builds the bridge, starts pods (agent processes, each in its own network namespace, wired
with a veth), restarts pods that die (the controller), applies nftables rulesets atomically and
answers the harness over a Unix socket (one JSON request per line). Because it is PID 1 of a
pid namespace and is killed with its parent (PR_SET_PDEATHSIG), every pod, veth and rule dies
with it: a crashed or SIGKILLed harness leaves nothing behind in the kernel.

Chaos faults act here too: simulated nodes go down (their pods are killed and the controller
holds them until the node returns), chaos nftables tables come and go, and the policy engine
"restarts" (the ruleset is re-programmed from scratch). Every fault operation carries the
harness's handle; once a handle is reverted, a late apply of it (a request that raced its
revert, e.g. after Ctrl-C) is ignored, so a revert always wins.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet.targets.local import ns
from gauntlet.targets.local.plan import GATEWAY, POD_CIDR, SERVICE_CIDR

AGENT = Path(__file__).resolve().parents[2] / "agent" / "agent.py"
L7PROXY = Path(__file__).resolve().parent / "l7proxy.py"
BRIDGE = "gbr0"
BRIDGE_MAC = "02:67:61:75:6e:01"  # locally administered
RESTART_BACKOFF_S = 0.2
READY_TIMEOUT_S = 30.0


class SetupError(RuntimeError):
    pass


_CLEAR_L7 = "table ip gauntlet_l7 {}\ndelete table ip gauntlet_l7\n"


async def run(*argv: str, stdin: str | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        raise SetupError(f"{' '.join(argv[:4])} failed: {err.decode().strip()[:2000]}")
    return out.decode()


@dataclass
class Pod:
    index: int
    key: str
    ip: str
    tcp: list[int]
    udp: list[int]
    socket: str
    ready_file: str
    proc: asyncio.subprocess.Process | None = None
    incarnation: int = 0
    restarts: int = 0
    ready: bool = False
    start_latency_ms: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    # The pod's L7 proxy (only for pods with HTTP-governed ports) and what it enforces.
    l7_config: dict[str, Any] | None = None
    l7_ruleset: str = ""
    proxy: asyncio.subprocess.Process | None = None
    veth: str = ""
    proxy_watch: asyncio.Task[None] | None = field(default=None, repr=False)
    node: str = ""


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.pods: dict[str, Pod] = {}
        self.services_ruleset = ""
        self.policy_revision = 0
        self.stopping = False
        self.shutdown_event = asyncio.Event()
        self.l7_pending: dict[str, Any] = {}
        # Chaos: down nodes (node -> handles holding it down), whether the controller restarts
        # dead pods at all (a planted fault switches it off), reverted fault handles.
        self.nodes_down: dict[str, set[str]] = {}
        self.restart_pods = True
        self.reverted: set[str] = set()
        self.schedulable = asyncio.Condition()
        # Root-namespace nft transactions run one at a time, so a revert queued behind an
        # apply of the same fault runs after it.
        self.nft_lock = asyncio.Lock()

    async def setup_network(self) -> None:
        for path, value in (
            ("/proc/sys/net/ipv4/ip_forward", "1"),
            ("/proc/sys/net/ipv4/conf/all/send_redirects", "0"),
            ("/proc/sys/net/ipv4/conf/default/send_redirects", "0"),
        ):
            Path(path).write_text(value)
        await run(
            "ip",
            "-batch",
            "-",
            stdin=(
                "link set lo up\n"
                # A fixed MAC: a bridge otherwise takes the lowest MAC of its ports, which
                # changes whenever a pod restarts, and every pod's ARP entry for the gateway
                # would go stale (its traffic blackholed until the entry expires).
                f"link add {BRIDGE} address {BRIDGE_MAC} type bridge\n"
                f"addr add {GATEWAY}/{POD_CIDR.prefixlen} dev {BRIDGE}\n"
                f"link set {BRIDGE} up\n"
                f"route add {SERVICE_CIDR} dev {BRIDGE}\n"
            ),
        )

    async def start_pod(self, pod: Pod) -> None:
        started = time.monotonic()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pod.ready_file)
        argv = [
            sys.executable,
            "-I",
            "-S",
            str(AGENT),
            "serve",
            "--name",
            pod.key,
            "--control",
            pod.socket,
            "--ready-file",
            pod.ready_file,
        ]
        if pod.tcp:
            argv += ["--tcp", ",".join(map(str, pod.tcp))]
        if pod.udp:
            argv += ["--udp", ",".join(map(str, pod.udp))]
        pod.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=ns.new_net_namespace,
        )
        pod.incarnation += 1
        veth = f"g{pod.index}i{pod.incarnation}"[:15]
        pod.veth = veth
        pid = str(pod.proc.pid)
        await run(
            "ip",
            "-batch",
            "-",
            stdin=(
                f"link add {veth} type veth peer name eth0 netns {pid}\n"
                f"link set {veth} master {BRIDGE}\n"
                f"link set dev {veth} type bridge_slave isolated on\n"
                f"link set {veth} up\n"
                # A restarted pod keeps its IP but not its MAC: drop the stale ARP entry.
                f"neigh flush to {pod.ip}\n"
            ),
        )
        await run(
            "nsenter",
            "-t",
            pid,
            "-n",
            "ip",
            "-batch",
            "-",
            stdin=(
                "link set lo up\n"
                f"addr add {pod.ip}/32 dev eth0\n"
                "link set eth0 up\n"
                f"route add {GATEWAY} dev eth0 scope link\n"
                f"route add default via {GATEWAY} dev eth0\n"
            ),
        )
        if self.services_ruleset:
            await run("nsenter", "-t", pid, "-n", "nft", "-f", "-", stdin=self.services_ruleset)
        if pod.l7_config is not None:
            # A new incarnation has a new network namespace: its proxy starts there first,
            # then the redirect, so a governed port is never reachable around the proxy.
            await self.stop_proxy(pod)
            await self.apply_l7(pod)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not os.path.exists(pod.ready_file):
            if pod.proc.returncode is not None or time.monotonic() > deadline:
                raise SetupError(
                    f"pod {pod.key} did not become ready (agent exit {pod.proc.returncode})"
                )
            await asyncio.sleep(0.01)
        pod.ready = True
        pod.start_latency_ms = (time.monotonic() - started) * 1000

    def l7_paths(self, pod: Pod) -> tuple[Path, Path, Path]:
        base = self.state_dir / "p" / str(pod.index)
        return (
            base.with_suffix(".l7.json"),
            base.with_suffix(".l7.ready"),
            base.with_suffix(".l7.log"),
        )

    async def apply_l7(self, pod: Pod) -> None:
        """Bring the pod's proxy and redirect in line with ``pod.l7_config``/``l7_ruleset``."""
        assert pod.proc is not None
        pid = str(pod.proc.pid)
        config_path, ready, log = self.l7_paths(pod)
        if pod.l7_config is None:
            with contextlib.suppress(SetupError):
                await run("nsenter", "-t", pid, "-n", "nft", "-f", "-", stdin=_CLEAR_L7)
            await self.stop_proxy(pod)
            return
        config = dict(pod.l7_config, log=str(log))
        tmp = config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        os.replace(tmp, config_path)
        loaded = Path(str(config_path) + ".loaded")
        if pod.proxy is None or pod.proxy.returncode is not None:
            with contextlib.suppress(FileNotFoundError):
                ready.unlink()
            pod.proxy = await asyncio.create_subprocess_exec(
                "nsenter",
                "-t",
                pid,
                "-n",
                sys.executable,
                "-I",
                "-S",
                str(L7PROXY),
                "--config",
                str(config_path),
                "--ready-file",
                str(ready),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            await self._wait_file(ready, pod, what="L7 proxy")
            pod.proxy_watch = asyncio.create_task(self._watch_proxy(pod, pod.proxy))
        else:
            pod.proxy.send_signal(signal.SIGHUP)
            want = str(config.get("revision", 0))
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not (loaded.exists() and loaded.read_text() == want):
                if time.monotonic() > deadline:
                    raise SetupError(f"L7 proxy of {pod.key} did not load revision {want}")
                await asyncio.sleep(0.01)
        await run("nsenter", "-t", pid, "-n", "nft", "-f", "-", stdin=pod.l7_ruleset)

    async def _watch_proxy(self, pod: Pod, proc: asyncio.subprocess.Process) -> None:
        """A proxy that dies while its pod lives is started again (as Cilium restarts Envoy);
        until then its redirected ports refuse connections."""
        await proc.wait()
        await asyncio.sleep(RESTART_BACKOFF_S)
        alive = pod.proc is not None and pod.proc.returncode is None and pod.ready
        if pod.proxy is proc and alive and not self.stopping and pod.l7_config is not None:
            pod.proxy = None
            try:
                await self.apply_l7(pod)
            except SetupError as exc:
                print(f"restart of the L7 proxy of {pod.key} failed: {exc}", file=sys.stderr)

    async def _wait_file(self, path: Path, pod: Pod, *, what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not path.exists():
            proc = pod.proxy
            if (proc is not None and proc.returncode is not None) or time.monotonic() > deadline:
                raise SetupError(f"{what} of {pod.key} did not start")
            await asyncio.sleep(0.01)

    async def stop_proxy(self, pod: Pod) -> None:
        proc, pod.proxy = pod.proxy, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 2)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def op_apply_l7(self, req: dict[str, Any]) -> dict[str, Any]:
        """Per pod key: {"config": {...}, "ruleset": "..."}; pods not named lose their proxy."""
        wanted: dict[str, Any] = req["pods"]
        changed = []
        for pod in self.pods.values():
            spec = wanted.get(pod.key)
            config = None if spec is None else spec["config"]
            ruleset = "" if spec is None else spec["ruleset"]
            if config == pod.l7_config and ruleset == pod.l7_ruleset and pod.proxy is not None:
                continue
            if config is None and pod.l7_config is None:
                continue
            pod.l7_config, pod.l7_ruleset = config, ruleset
            changed.append(pod)
        # Pods deployed later pick their spec up when they start.
        self.l7_pending = {k: v for k, v in wanted.items() if k not in self.pods}

        async def one(pod: Pod) -> None:
            if pod.proc is not None and pod.proc.returncode is None and pod.ready:
                await self.apply_l7(pod)

        await asyncio.gather(*(one(p) for p in changed))
        return {"ok": True, "proxies": sorted(p.key for p in self.pods.values() if p.proxy)}

    async def keep_running(self, pod: Pod) -> None:
        """The controller: a pod whose process dies is started again, like a ReplicaSet."""
        while not self.stopping:
            assert pod.proc is not None
            await pod.proc.wait()
            pod.ready = False
            # The proxy keeps the dead pod's network namespace (and its address, which would
            # still answer ARP beside the new incarnation) alive: it goes first.
            await self.stop_proxy(pod)
            # The kernel tears a dead namespace down lazily; until then its veth still answers
            # ARP for the pod's address. Deleting our end removes the pair at once.
            if pod.veth:
                with contextlib.suppress(SetupError):
                    await run("ip", "link", "del", pod.veth)
            if self.stopping:
                return
            await asyncio.sleep(RESTART_BACKOFF_S)
            await self.wait_schedulable(pod)
            if self.stopping:
                return
            pod.restarts += 1
            try:
                await self.start_pod(pod)
            except SetupError as exc:
                print(f"restart of {pod.key} failed: {exc}", file=sys.stderr)
            if self.held(pod) and pod.proc is not None and pod.proc.returncode is None:
                # Its node went down while it was starting.
                pod.ready = False
                pod.proc.kill()

    def held(self, pod: Pod) -> bool:
        """Whether the controller must not (re)start ``pod``: its node is down (as the kubelet
        of a stopped node runs nothing), or the controller is broken by a planted fault."""
        return pod.node in self.nodes_down or not self.restart_pods

    async def wait_schedulable(self, pod: Pod) -> None:
        async with self.schedulable:
            await self.schedulable.wait_for(lambda: self.stopping or not self.held(pod))

    async def notify_schedulable(self) -> None:
        async with self.schedulable:
            self.schedulable.notify_all()

    async def op_deploy(self, req: dict[str, Any]) -> dict[str, Any]:
        self.services_ruleset = req.get("services_ruleset", "")
        pod_dir = self.state_dir / "p"
        pod_dir.mkdir(exist_ok=True)
        new = []
        for spec in req["pods"]:
            pod = Pod(
                index=spec["index"],
                key=spec["key"],
                ip=spec["ip"],
                tcp=spec["tcp"],
                udp=spec["udp"],
                socket=str(pod_dir / f"{spec['index']}.sock"),
                ready_file=str(pod_dir / f"{spec['index']}.ready"),
                node=spec.get("node", ""),
            )
            l7 = self.l7_pending.pop(pod.key, None)
            if l7 is not None:
                pod.l7_config, pod.l7_ruleset = l7["config"], l7["ruleset"]
            self.pods[pod.key] = pod
            new.append(pod)
        # Bounded parallelism: process start-up is CPU-bound on two cores.
        sem = asyncio.Semaphore(16)

        async def one(pod: Pod) -> None:
            async with sem:
                await self.start_pod(pod)
            pod.task = asyncio.create_task(self.keep_running(pod))

        await asyncio.gather(*(one(p) for p in new))
        return self.op_status({})

    async def op_apply_policy(self, req: dict[str, Any]) -> dict[str, Any]:
        async with self.nft_lock:
            await run("nft", "-f", "-", stdin=req["ruleset"])
            self.policy_revision = int(req["revision"])
        return {"ok": True, "revision": self.policy_revision}

    # -- chaos ---------------------------------------------------------------------------------

    async def op_chaos_nft(self, req: dict[str, Any]) -> dict[str, Any]:
        """Apply a chaos table's ruleset (``revert``: its deletion) for fault ``handle``."""
        handle = str(req["handle"])
        if req.get("revert"):
            self.reverted.add(handle)
        elif handle in self.reverted:
            return {"ok": True, "applied": False, "ms": 0.0}
        started = time.monotonic()
        async with self.nft_lock:
            await run("nft", "-f", "-", stdin=req["ruleset"])
        return {"ok": True, "applied": True, "ms": (time.monotonic() - started) * 1000}

    async def op_node(self, req: dict[str, Any]) -> dict[str, Any]:
        """A simulated node goes down (its pods are killed and held) or comes back."""
        node, handle = str(req["node"]), str(req["handle"])
        if not req["down"]:
            self.reverted.add(handle)
            holders = self.nodes_down.get(node, set())
            holders.discard(handle)
            if not holders:
                self.nodes_down.pop(node, None)
            await self.notify_schedulable()
            return {"ok": True, "down": node in self.nodes_down}
        if handle in self.reverted:
            return {"ok": True, "down": node in self.nodes_down}
        self.nodes_down.setdefault(node, set()).add(handle)
        killed = []
        for pod in self.pods.values():
            if pod.node == node and pod.proc is not None and pod.proc.returncode is None:
                pod.ready = False
                pod.proc.kill()
                killed.append(pod.key)
        return {"ok": True, "down": True, "killed": killed}

    async def op_controller(self, req: dict[str, Any]) -> dict[str, Any]:
        self.restart_pods = bool(req["restart"])
        await self.notify_schedulable()
        return {"ok": True}

    async def op_engine_restart(self, req: dict[str, Any]) -> dict[str, Any]:
        """The policy engine restarts: it is away for ``duration_ms``, then programs the
        ruleset from scratch (one nft transaction deleting and re-creating the table).

        A correct engine leaves the kernel's rules in place while it is away, as Cilium's BPF
        datapath keeps enforcing while the agent restarts and then regenerates every endpoint.
        ``fail_open`` (a planted fault) flushes the rules first: everything passes until the
        engine is back."""
        revision = int(req["revision"])
        started = time.monotonic()
        if req.get("fail_open"):
            async with self.nft_lock:
                await run("nft", "-f", "-", stdin=req["flush_ruleset"])
        await asyncio.sleep(float(req["duration_ms"]) / 1000)
        programmed_at = time.monotonic()
        async with self.nft_lock:
            # A newer policy applied meanwhile was itself programmed from scratch.
            if self.policy_revision <= revision:
                await run("nft", "-f", "-", stdin=req["ruleset"])
                self.policy_revision = revision
        done = time.monotonic()
        return {
            "ok": True,
            "away_ms": (programmed_at - started) * 1000,
            "program_ms": (done - programmed_at) * 1000,
        }

    def op_status(self, req: dict[str, Any]) -> dict[str, Any]:
        pods = []
        for pod in self.pods.values():
            rss = None
            if pod.proc is not None and pod.proc.returncode is None:
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{pod.proc.pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1]) * 1024
            alive = pod.proc is not None and pod.proc.returncode is None
            pods.append(
                {
                    "key": pod.key,
                    "ip": pod.ip,
                    # The agent's PID in the sandbox's PID namespace (the harness maps it to
                    # its own view to nsenter the pod's network namespace).
                    "pid": pod.proc.pid if alive and pod.proc is not None else None,
                    "ready": pod.ready,
                    "restarts": pod.restarts,
                    "start_latency_ms": pod.start_latency_ms,
                    "socket": pod.socket,
                    "rss_bytes": rss,
                    "node": pod.node,
                }
            )
        return {
            "ok": True,
            "pods": pods,
            "policy_revision": self.policy_revision,
            "nodes_down": sorted(self.nodes_down),
        }

    async def op_kill_pod(self, req: dict[str, Any]) -> dict[str, Any]:
        pod = self.pods[req["key"]]
        if pod.proc is not None and pod.proc.returncode is None:
            pod.ready = False
            pod.proc.kill()
        return {"ok": True}

    async def op_nft_list(self, req: dict[str, Any]) -> dict[str, Any]:
        # ``handles``: with each object's kernel handle (a re-created table gets a new one).
        argv = (
            ["nft", "-a", "list", "ruleset"] if req.get("handles") else ["nft", "list", "ruleset"]
        )
        return {"ok": True, "ruleset": await run(*argv)}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                req = json.loads(line)
                op = req.get("op")
                try:
                    if op == "deploy":
                        resp = await self.op_deploy(req)
                    elif op == "apply_policy":
                        resp = await self.op_apply_policy(req)
                    elif op == "status":
                        resp = self.op_status(req)
                    elif op == "kill_pod":
                        resp = await self.op_kill_pod(req)
                    elif op == "apply_l7":
                        resp = await self.op_apply_l7(req)
                    elif op == "nft_list":
                        resp = await self.op_nft_list(req)
                    elif op == "chaos_nft":
                        resp = await self.op_chaos_nft(req)
                    elif op == "node":
                        resp = await self.op_node(req)
                    elif op == "controller":
                        resp = await self.op_controller(req)
                    elif op == "engine_restart":
                        resp = await self.op_engine_restart(req)
                    elif op == "shutdown":
                        self.shutdown_event.set()
                        resp = {"ok": True}
                    else:
                        resp = {"ok": False, "error": f"unknown op {op!r}"}
                except (SetupError, KeyError, OSError) as exc:
                    resp = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(resp).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    async def stop_pods(self) -> None:
        self.stopping = True
        await self.notify_schedulable()
        await asyncio.gather(*(self.stop_proxy(p) for p in self.pods.values()))
        for pod in self.pods.values():
            if pod.proc is not None and pod.proc.returncode is None:
                pod.proc.terminate()
        for pod in self.pods.values():
            if pod.proc is not None:
                try:
                    await asyncio.wait_for(pod.proc.wait(), 2)
                except TimeoutError:
                    pod.proc.kill()
        # Let the controller and proxy watchers finish their cleanup (it runs `ip link del`):
        # asyncio.run would otherwise cancel them inside a subprocess start, and waiting for
        # such a cancelled subprocess can hang the loop's shutdown for good.
        tasks = [t for p in self.pods.values() for t in (p.task, p.proxy_watch) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def serve(self) -> None:
        await self.setup_network()
        sock = self.state_dir / "supervisor.sock"
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        server = await asyncio.start_unix_server(self.handle, path=str(sock), limit=64 << 20)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.shutdown_event.set)
        (self.state_dir / "ready").write_text(str(os.getpid()))
        await self.shutdown_event.wait()
        server.close()
        await self.stop_pods()


def _inside(state_dir: Path) -> None:
    """Runs as PID 1 of the new pid namespace."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", "/proc"], check=True)
    asyncio.run(Supervisor(state_dir).serve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gauntlet-sandbox-supervisor")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--detach", action="store_true", help="outlive the parent (gauntlet up)")
    args = parser.parse_args(argv)
    if not args.detach:
        ns.die_with_parent()
    for tool in ("ip", "nft", "nsenter", "mount"):
        if shutil.which(tool) is None:
            print(f"missing tool: {tool}", file=sys.stderr)
            return 4
    flags = ns.CLONE_NEWNS | ns.CLONE_NEWNET | ns.CLONE_NEWPID
    if os.geteuid() != 0:
        uid, gid = os.getuid(), os.getgid()
        ns.unshare(ns.CLONE_NEWUSER)
        ns.map_root_user(uid, gid)
    ns.unshare(flags)
    child = os.fork()
    if child == 0:
        code = 0
        try:
            ns.die_with_parent()
            _inside(args.state_dir)
        except BaseException as exc:  # report and exit: PID 1 must not linger
            print(f"sandbox supervisor failed: {exc!r}", file=sys.stderr)
            code = 1
        os._exit(code)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
