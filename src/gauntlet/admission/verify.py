"""``gauntlet policy verify``: Gatekeeper ``gator verify`` Suite files, run on our Rego engine.

Semantics follow ``pkg/gator/verify`` of Gatekeeper: a Suite (``test.gatekeeper.sh/v1alpha1``)
has tests, each a template and a constraint (paths relative to the suite file) and cases; a case
reviews one object (or an ``AdmissionReview``) with optional inventory objects, and each
assertion counts the violations whose message matches its ``message`` regex (all when unset)
and compares with ``violations``: ``yes`` (at least one, the default), ``no`` or an exact
number. A test marked ``invalid: true`` passes when its constraint is rejected by the template's
parameter schema. Output is go-test-like, so teams read it like ``gator verify``'s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gauntlet.admission.gatekeeper import GatekeeperEngine
from gauntlet.admission.rego import RegoWorker
from gauntlet.blueprint.errors import BlueprintError
from gauntlet.rbac import UserInfo
from gauntlet.targets.base import TargetError

SUITE_API = "test.gatekeeper.sh/v1alpha1"


class Assertion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    violations: int | str = "yes"
    message: str | None = None

    @field_validator("violations", mode="before")
    @classmethod
    def _yaml11_booleans(cls, value: object) -> object:
        # PyYAML reads a bare `yes`/`no` as a YAML 1.1 boolean; gator means the strings.
        if isinstance(value, bool):
            return "yes" if value else "no"
        return value


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    object: str = ""
    inventory: list[str] = Field(default_factory=list)
    assertions: list[Assertion] = Field(default_factory=list)
    skip: bool = False


class Test(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    template: str = ""
    constraint: str = ""
    expansion: str = ""
    cases: list[Case] = Field(default_factory=list)
    invalid: bool = False
    skip: bool = False


class Suite(BaseModel):
    model_config = ConfigDict(extra="ignore")

    api_version: str = Field(alias="apiVersion")
    kind: str
    tests: list[Test] = Field(default_factory=list)
    skip: bool = False


@dataclass
class CaseResult:
    name: str
    error: str | None = None
    skipped: bool = False
    runtime_s: float = 0.0


@dataclass
class TestResult:
    name: str
    error: str | None = None
    skipped: bool = False
    runtime_s: float = 0.0
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None or any(c.error for c in self.cases)


@dataclass
class SuiteResult:
    path: Path
    error: str | None = None
    skipped: bool = False
    runtime_s: float = 0.0
    tests: list[TestResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None or any(t.failed for t in self.tests)


class SuiteError(Exception):
    """A suite, test or case that cannot be run as written (the file and field are named)."""


def find_suites(path: Path) -> list[Path]:
    """Suite files at ``path``: the file itself, or every YAML under a directory whose kind is
    ``Suite`` (as ``gator verify`` walks a directory)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SuiteError(f"{path}: no such file or directory")
    found = []
    for candidate in sorted(path.rglob("*")):
        if candidate.suffix not in (".yaml", ".yml") or not candidate.is_file():
            continue
        try:
            head = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if re.search(r"^kind:\s*Suite\s*$", head, re.MULTILINE) and SUITE_API in head:
            found.append(candidate)
    return found


def _read_objects(path: Path) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except FileNotFoundError:
        raise SuiteError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: malformed YAML: {exc}") from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise SuiteError(f"{path}: expected Kubernetes objects")
    return docs


def _read_one(path: Path, what: str) -> dict[str, Any]:
    docs = _read_objects(path)
    if len(docs) != 1:
        raise SuiteError(f"{path}: {what} file must hold exactly one object, found {len(docs)}")
    return docs[0]


class Runner:
    """Runs suites; one Rego worker serves every test (templates are keyed by their digest)."""

    def __init__(self, *, run: str | None = None, worker: RegoWorker | None = None) -> None:
        self._filter = re.compile(run) if run else None
        self._worker = worker or RegoWorker()
        self._own_worker = worker is None

    def close(self) -> None:
        if self._own_worker:
            self._worker.close()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, path: Path) -> SuiteResult:
        start = time.perf_counter()
        result = SuiteResult(path=path)
        try:
            suite = Suite.model_validate(_read_one(path, "suite"))
            if suite.kind != "Suite" or suite.api_version != SUITE_API:
                raise SuiteError(f"{path}: not a {SUITE_API} Suite")
        except (SuiteError, ValidationError) as exc:
            result.error = _short(exc)
            return result
        if suite.skip:
            result.skipped = True
            return result
        for test in suite.tests:
            result.tests.append(self._run_test(path.parent, test))
        result.runtime_s = time.perf_counter() - start
        return result

    def _selected(self, *names: str) -> bool:
        return self._filter is None or bool(self._filter.search("/".join(names)))

    def _run_test(self, base: Path, test: Test) -> TestResult:
        start = time.perf_counter()
        result = TestResult(name=test.name)
        if test.skip:
            result.skipped = True
            return result
        try:
            if test.expansion:
                raise SuiteError(
                    f"test {test.name!r}: expansion templates are not supported by Gauntlet's "
                    "engine; run this test with gator"
                )
            if not test.template:
                raise SuiteError(f"test {test.name!r}: missing template")
            if not test.constraint:
                raise SuiteError(f"test {test.name!r}: missing constraint")
            template_path = base / test.template
            constraint_path = base / test.constraint
            template = _read_one(template_path, "template")
            constraint = _read_one(constraint_path, "constraint")
            try:
                engine = GatekeeperEngine.from_files(
                    [(template_path, template)],
                    [(constraint_path, constraint)],
                    worker=self._worker,
                )
            except BlueprintError as exc:
                schema_error = exc.field.startswith("spec.parameters")
                if test.invalid and schema_error:
                    result.runtime_s = time.perf_counter() - start
                    return result
                raise SuiteError(str(exc)) from None
            if test.invalid:
                raise SuiteError(
                    "constraint was accepted but the test is marked invalid: true "
                    "(want a parameter schema error)"
                )
            for case in test.cases:
                if case.skip or not self._selected(test.name, case.name):
                    result.cases.append(CaseResult(name=case.name, skipped=True))
                    continue
                result.cases.append(self._run_case(base, engine, case))
        except SuiteError as exc:
            result.error = str(exc)
        result.runtime_s = time.perf_counter() - start
        return result

    def _run_case(self, base: Path, engine: GatekeeperEngine, case: Case) -> CaseResult:
        start = time.perf_counter()
        result = CaseResult(name=case.name)
        try:
            if not case.object:
                raise SuiteError("must define object")
            if not case.assertions:
                raise SuiteError("assertions must be non-empty")
            obj = _read_one(base / case.object, "object")
            inventory = [o for p in case.inventory for o in _read_objects(base / p)]
            engine.namespace_labels.clear()
            engine.set_inventory(inventory)
            messages = self._review(engine, obj)
            for assertion in case.assertions:
                _check(assertion, messages)
        except (SuiteError, TargetError) as exc:
            # TargetError: the template failed at run time or the engine crashed; the case has
            # no answer, which is a failure of the suite run, never a pass.
            result.error = str(exc)
        result.runtime_s = time.perf_counter() - start
        return result

    @staticmethod
    def _review(engine: GatekeeperEngine, obj: Mapping[str, Any]) -> list[str]:
        if obj.get("kind") == "AdmissionReview":
            request = obj.get("request")
            if not isinstance(request, dict):
                raise SuiteError("AdmissionReview has no request")
            subject = request.get("object") or request.get("oldObject")
            if not isinstance(subject, dict):
                raise SuiteError('AdmissionRequest contains no "object" or "oldObject" to review')
            user = request.get("userInfo") or {}
            violations = engine.review(
                request.get("object") or subject,
                operation=str(request.get("operation") or "CREATE"),
                old_object=request.get("oldObject"),
                user=UserInfo(str(user.get("username", "")), tuple(user.get("groups") or ())),
            )
        else:
            violations = [a.violation for a in engine.audit([obj])]
        return [v.message for v in violations]


def _check(assertion: Assertion, messages: Sequence[str]) -> None:
    try:
        pattern = re.compile(assertion.message) if assertion.message is not None else None
    except re.error as exc:
        raise SuiteError(f"invalid message regex {assertion.message!r}: {exc}") from None
    matching = sum(1 for m in messages if pattern is None or pattern.search(m))
    want = assertion.violations
    containing = f" containing {assertion.message!r}" if assertion.message is not None else ""
    if isinstance(want, int) and not isinstance(want, bool):
        if want < 0:
            raise SuiteError('assertion.violations must be a nonnegative integer, "yes" or "no"')
        ok, expect = matching == want, f"exactly {want}"
    elif want == "yes":
        ok, expect = matching > 0, "at least 1"
    elif want == "no":
        ok, expect = matching == 0, "none"
    else:
        raise SuiteError('assertion.violations must be a nonnegative integer, "yes" or "no"')
    if not ok:
        raise SuiteError(
            f"got {matching} violations{containing} but want {expect}: "
            f"got messages {list(messages)}"
        )


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        return f"invalid suite: {loc}: {err['msg']}"
    return str(exc)


def print_results(results: Sequence[SuiteResult], out: TextIO, *, verbose: bool) -> None:
    """go-test-like output, as ``gator verify`` prints it."""
    for suite in results:
        if verbose or suite.failed:
            for test in suite.tests:
                _print_test(test, out, verbose=verbose)
        if suite.error:
            out.write(f"    {suite.error}\n")
        status = "FAIL" if suite.failed else "ok"
        out.write(f"{status}\t{suite.path}\t{suite.runtime_s:.3f}s\n")
    out.write("FAIL\n" if any(s.failed for s in results) else "PASS\n")


def _print_test(test: TestResult, out: TextIO, *, verbose: bool) -> None:
    if test.skipped:
        out.write(f"=== SKIP  {test.name}\n")
        return
    if not test.failed and not verbose:
        return
    out.write(f"--- {'FAIL' if test.failed else 'PASS'}: {test.name}\t({test.runtime_s:.3f}s)\n")
    if test.error:
        out.write(f"    {test.error}\n")
    for case in test.cases:
        if case.skipped:
            if verbose:
                out.write(f"    === SKIP  {case.name}\n")
        elif case.error:
            out.write(f"    --- FAIL: {case.name}\t({case.runtime_s:.3f}s)\n        {case.error}\n")
        elif verbose:
            out.write(f"    --- PASS: {case.name}\t({case.runtime_s:.3f}s)\n")


def verify(paths: Sequence[Path], *, run: str | None, verbose: bool, out: TextIO) -> bool:
    """Run every suite under ``paths``; True when all passed."""
    suites: list[Path] = []
    for path in paths:
        suites.extend(find_suites(path))
    if not suites:
        raise SuiteError(f"no {SUITE_API} Suite files under {', '.join(map(str, paths))}")
    with Runner(run=run) as runner:
        results = [runner.run(p) for p in suites]
    print_results(results, out, verbose=verbose)
    return not any(r.failed for r in results)


def iter_failures(results: Sequence[SuiteResult]) -> Iterator[str]:
    for suite in results:
        if suite.error:
            yield f"{suite.path}: {suite.error}"
        for test in suite.tests:
            if test.error:
                yield f"{suite.path}: {test.name}: {test.error}"
            for case in test.cases:
                if case.error:
                    yield f"{suite.path}: {test.name}/{case.name}: {case.error}"
