"""Helpers for the Kubernetes driver's contract tests on kmock's API emulator.

kmock serves from the test's event loop while the driver's client is synchronous, so tests
call the client through ``asyncio.to_thread`` (``call``). Requests are asserted as kmock
recorded them; repeated headers (``Impersonate-Group``) are read from the raw aiohttp request,
since kmock's ``headers`` mapping keeps one value per name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import kmock
from kubernetes import client as kclient

from gauntlet.targets.kubernetes.client import KubeClient

T = TypeVar("T")
TOKEN = "Bearer test-token"


def client_for(server: Any, *, context: str = "kind-gauntlet") -> KubeClient:
    configuration = kclient.Configuration(host=str(server.url).rstrip("/"))
    configuration.api_key = {"authorization": TOKEN}
    return KubeClient(kclient.ApiClient(configuration), context=context)


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


def declare(server: Any, api_version: str, plural: str, kind: str, *, namespaced: bool) -> None:
    """Serve a resource in discovery (``v1/pods`` for core, ``group/version/plural``)."""
    server.resources[f"{api_version}/{plural}"] = kmock.ResourceInfo(
        kind=kind, namespaced=namespaced
    )


def header_values(request: Any, name: str) -> list[str]:
    return list(request._raw_request.headers.getall(name, []))


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A metav1.Status as the API server sends it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body
