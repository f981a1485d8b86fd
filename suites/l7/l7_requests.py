"""Requests the L7 suite sends on a cell, derived from the cell's HTTP rules.

Three kinds, each labelled so a failure says why the request exists:

* ``allowed``: one concrete request per rule (and per standard method its method regex admits),
  built to satisfy the rule: a literal path as written, a regex path by hand expansion of
  ``.*``/``.+``/``[0-9]+`` to the plain segment ``42`` or, failing that, hypothesis's smallest
  full match of the regex; the rule's method or ``GET``; its required headers with their values.
  When the other side of the cell (egress vs ingress) has a rule admitting the same method and
  path, that rule's headers are added too, so the example can pass both proxies.
* ``near-miss``: variations of every allowed example that a sloppy rule or proxy lets through:
  ``/admin``, a trailing slash, upper case, ``..`` escapes, doubled slashes, a query string, a
  percent-encoded letter, an encoded slash, other methods, a missing or wrong header, the
  header name in another case (HTTP header names are case-insensitive: that one must match).
* ``generated``: hypothesis draws paths from a vocabulary of the rules' own segments plus
  dangerous ones (``..``, ``%2F``, empty segments, escapes) and random unreserved text, with
  methods and header variants. Generation is derandomized and bounded, so every run sends the
  same requests. Paths never hold ``#``, whitespace or malformed escapes: those are outside
  what the oracle and Envoy's normaliser are specified for here.

What each request should observe is not decided here: the suite asks the oracle
(``gauntlet.oracle.l7.expect_l7``). Rule fields follow Cilium's API (``pkg/policy/api/http.go``):
``headers`` entries are ``"Name value"`` or ``"Name: value"`` (exact value) or ``"Name"``
(presence), as Cilium's Envoy translation splits them; ``headerMatches`` without a mismatch
action are exact values too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from gauntlet.blueprint.cilium import HTTPRule
from gauntlet.oracle.l7 import L7Request

STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
NEAR_MISS_METHODS = ("POST", "PUT", "DELETE", "HEAD")
UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
SUB_DELIMS = "!$&'()*+,;=:@"
# Regex fragments a hand expansion turns into one plain segment.
_EXPANSIONS = (".*", ".+", "[0-9]+", "[0-9]*", "\\d+", "\\d*", "[^/]+", "[^/]*")
_PLAIN_SEGMENT = "42"
# Dangerous segments every generated path may contain besides the rules' own.
_VOCABULARY = ("", ".", "..", "admin", "API", "%2F", "%2f", "%5C", "%41", "%7E", "42", "a-b_c~d")
DEFAULT_GENERATED = 24


class CaseKind(StrEnum):
    ALLOWED = "allowed"
    NEAR_MISS = "near-miss"
    GENERATED = "generated"


@dataclass(frozen=True)
class HeaderRequirement:
    """A header a rule requires: ``value`` None means presence only (any value)."""

    name: str
    value: str | None = None


@dataclass(frozen=True)
class RequestCase:
    kind: CaseKind
    label: str  # why the request exists, for failure tables
    request: L7Request


def describe_rule(rule: HTTPRule) -> str:
    parts = [rule.method or "*", rule.path or "*"]
    if rule.host:
        parts.append(f"host={rule.host}")
    parts += [f"[{h}]" for h in rule.headers]
    parts += [f"[{m.name}: {m.value or '<present>'}]" for m in rule.header_matches]
    return " ".join(parts)


def header_requirements(rule: HTTPRule) -> tuple[HeaderRequirement, ...] | None:
    """The headers ``rule`` requires; None when one cannot be satisfied from the blueprint
    (a ``headerMatches`` value held in a Kubernetes secret)."""
    out: list[HeaderRequirement] = []
    for entry in rule.headers:
        # Cilium's Envoy translation: SplitN(entry, " ", 2), the name with a trailing ':' removed.
        name, sep, value = entry.partition(" ")
        out.append(HeaderRequirement(name.rstrip(":"), value if sep else None))
    for match in rule.header_matches:
        if match.mismatch is not None:
            continue  # LOG/ADD/DELETE/REPLACE rewrite the request, they never deny it
        if match.secret is not None and match.value is None:
            return None
        out.append(HeaderRequirement(match.name, match.value))
    return tuple(out)


def _headers_of(reqs: Iterable[HeaderRequirement]) -> tuple[tuple[str, str], ...]:
    seen: dict[str, tuple[str, str]] = {}
    for r in reqs:
        seen.setdefault(r.name.lower(), (r.name, r.value if r.value is not None else "1"))
    return tuple(seen.values())


def is_plain_path(target: str) -> bool:
    """A request target Envoy's normaliser leaves alone: no escapes, dot segments, doubled
    slashes or characters outside unreserved/sub-delims (a query may follow ``?``)."""
    path, _, query = target.partition("?")
    if not path.startswith("/") or "//" in path:
        return False
    if not set(path) <= set(UNRESERVED + SUB_DELIMS + "/"):
        return False
    if not set(query) <= set(UNRESERVED + SUB_DELIMS + "/?"):
        return False
    return all(seg not in (".", "..") for seg in path.split("/"))


def _full(regex: str, text: str) -> bool:
    try:
        return re.fullmatch(regex, text) is not None
    except re.error:
        return False


def _hand_expand(regex: str) -> str:
    text = regex.removeprefix("^").removesuffix("$")
    for fragment in _EXPANSIONS:
        text = text.replace(fragment, _PLAIN_SEGMENT)
    return re.sub(r"\\(.)", r"\1", text)


def _smallest_match(regex: str, alphabet: str, accept: Callable[[str], bool]) -> str | None:
    """Hypothesis's smallest full match of ``regex`` over ``alphabet`` (deterministic)."""
    try:
        found: str = find(
            st.from_regex(regex, fullmatch=True, alphabet=alphabet),
            accept,
            settings=settings(database=None, derandomize=True, max_examples=500),
        )
    except (HypothesisException, re.error):
        return None
    return found


def example_path(regex: str | None) -> str | None:
    """A plain path that fully matches ``regex`` (``/`` for a rule without a path)."""
    if regex is None:
        return "/"
    expanded = _hand_expand(regex)
    if _full(regex, expanded) and is_plain_path(expanded):
        return expanded
    return _smallest_match(regex, UNRESERVED + SUB_DELIMS + "/?", is_plain_path)


def example_host(regex: str) -> str | None:
    expanded = _hand_expand(regex).replace(_PLAIN_SEGMENT, "api")
    if _full(regex, expanded) and expanded and set(expanded) <= set(UNRESERVED + ":"):
        return expanded
    return _smallest_match(regex, UNRESERVED + ":", lambda s: bool(s))


def example_methods(regex: str | None, *, limit: int = 2) -> list[str]:
    """Standard methods the rule's method regex admits (GET when it has none)."""
    if regex is None:
        return ["GET"]
    found = [m for m in STANDARD_METHODS if _full(regex, m)]
    if found:
        return found[:limit]
    other = _smallest_match(regex, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", lambda s: bool(s))
    return [other] if other else []


def _rule_admits(rule: HTTPRule, *, method: str, path: str, host: str | None) -> bool:
    """Method, path and host of ``rule`` admit the request (headers not considered)."""
    if rule.method is not None and not _full(rule.method, method):
        return False
    if rule.path is not None and not _full(rule.path, path):
        return False
    return rule.host is None or (host is not None and _full(rule.host, host))


def allowed_examples(
    rule: HTTPRule, *, other_side: Sequence[HTTPRule] | None, host: str | None
) -> tuple[list[RequestCase], str | None]:
    """Requests built to satisfy ``rule``; the second value says why none could be built."""
    path = example_path(rule.path)
    if path is None:
        return [], f"no plain path fully matches {rule.path!r}"
    reqs = header_requirements(rule)
    if reqs is None:
        return [], "a required header value is held in a secret"
    methods = example_methods(rule.method)
    if not methods:
        return [], f"no method fully matches {rule.method!r}"
    if rule.host is not None:
        host = example_host(rule.host)
        if host is None:
            return [], f"no host fully matches {rule.host!r}"
    cases = []
    for method in methods:
        headers = list(reqs)
        for peer in other_side or ():
            peer_reqs = header_requirements(peer)
            if peer_reqs is not None and _rule_admits(peer, method=method, path=path, host=host):
                headers += peer_reqs
                break
        cases.append(
            RequestCase(
                CaseKind.ALLOWED,
                f"example of {describe_rule(rule)}",
                L7Request(method=method, path=path, host=host, headers=_headers_of(headers)),
            )
        )
    return cases, None


def _upper_first_segment(path: str) -> str:
    segs = path.split("/")
    for i, seg in enumerate(segs):
        if seg.upper() != seg:
            segs[i] = seg.upper()
            return "/".join(segs)
    return path


def _escape_a_letter(path: str) -> str | None:
    """The first letter of the last segment holding one, percent-encoded
    (``/api/v1/%68ealth``, ``/api/v1/%69tems/42``): an unreserved escape Envoy decodes."""
    segs = path.split("/")
    for n in range(len(segs) - 1, 0, -1):
        seg = segs[n]
        for i, ch in enumerate(seg):
            if ch.isalpha():
                segs[n] = f"{seg[:i]}%{ord(ch):02x}{seg[i + 1 :]}"
                return "/".join(segs)
    return None


def _encode_last_slash(path: str) -> str | None:
    """The last slash but the leading one as ``%2F`` (``/api/v1/items%2F42``)."""
    head, sep, last = path.rpartition("/")
    return f"{head}%2F{last}" if sep and head else None


def near_misses(base: RequestCase) -> list[RequestCase]:
    """Variations of ``base`` a sloppy rule or proxy would let through (or mishandle)."""
    req = base.request
    path, sep, query = req.path.partition("?")
    tail = sep + query
    out: list[tuple[str, L7Request]] = []

    def add(label: str, **changes: object) -> None:
        out.append((label, replace(req, **changes)))  # type: ignore[arg-type]

    add("admin path", path="/admin")
    if not path.endswith("/"):
        add("trailing slash", path=path + "/" + tail)
    if (upper := _upper_first_segment(path)) != path:
        add("upper-case segment", path=upper + tail)
    add("dot-dot escape", path=path.rstrip("/") + "/../admin")
    add("doubled leading slash", path="/" + path + tail)
    add("query string", path=req.path + ("&" if sep else "?") + "x=1")
    if (escaped := _escape_a_letter(path)) is not None:
        add("percent-encoded letter", path=escaped + tail)
    if (slashed := _encode_last_slash(path)) is not None:
        add("encoded slash", path=slashed + tail)
    for method in NEAR_MISS_METHODS:
        if method != req.method:
            add(f"method {method}", method=method)
    for i, (name, value) in enumerate(req.headers):
        rest = req.headers[:i] + req.headers[i + 1 :]
        add(f"header {name} missing", headers=rest)
        add(f"header {name} wrong value", headers=(*rest, (name, value + "-wrong")))
        flipped = name.upper() if name != name.upper() else name.lower()
        add(f"header name as {flipped}", headers=(*rest, (flipped, value)))
    if req.host is not None:
        add("other host", host="elsewhere.invalid")
    return [RequestCase(CaseKind.NEAR_MISS, f"{label} (from {req.path})", r) for label, r in out]


def _segment_lists(paths: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    lists = {tuple(p.split("?", 1)[0].split("/")[1:]) for p in paths}
    return tuple(sorted(lists))


def generated_cases(
    bases: Sequence[RequestCase], *, count: int = DEFAULT_GENERATED
) -> list[RequestCase]:
    """``count`` distinct derandomized requests around the allowed examples ``bases``."""
    if count <= 0:
        return []
    base_paths = _segment_lists(b.request.path for b in bases) or ((),)
    vocabulary = tuple(sorted({s for segs in base_paths for s in segs} | set(_VOCABULARY)))
    header_pool = sorted({h for b in bases for h in b.request.headers})
    host = next((b.request.host for b in bases if b.request.host is not None), None)
    segment = st.one_of(
        st.sampled_from(vocabulary),
        st.sampled_from(vocabulary).map(str.upper),
        st.text(alphabet=UNRESERVED + SUB_DELIMS, min_size=1, max_size=6),
    )

    @st.composite
    def mutated_path(draw: st.DrawFn) -> list[str]:
        """A prefix of an allowed path plus a few segments: the paths next to a rule's edge."""
        segs = list(draw(st.sampled_from(base_paths)))
        keep = draw(st.integers(0, len(segs)))
        return segs[:keep] + draw(st.lists(segment, max_size=3))

    query = st.one_of(
        st.just(""),
        st.builds(lambda k, v: f"?{k}={v}", st.sampled_from(("x", "id", "admin")), segment),
    )
    headers = st.lists(
        st.sampled_from(header_pool).flatmap(
            lambda h: st.sampled_from((h, (h[0], h[1] + "-x"), (h[0].upper(), h[1])))
        )
        if header_pool
        else st.nothing(),
        max_size=len(header_pool),
        unique_by=lambda h: h[0].lower(),
    )
    requests = st.builds(
        lambda method, segs, q, hs, slash: L7Request(
            method=method,
            path="/" + "/".join(segs) + ("/" if slash else "") + q,
            host=host,
            headers=tuple(hs),
        ),
        # GET weighted up: the reference rules allow reads, so most draws probe path edges.
        st.sampled_from(("GET", "GET", "GET", *STANDARD_METHODS)),
        st.one_of(mutated_path(), mutated_path(), st.lists(segment, max_size=4)),
        query,
        headers,
        st.booleans(),
    )
    found: dict[L7Request, None] = {}

    @settings(
        max_examples=count * 4,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(requests)
    def collect(request: L7Request) -> None:
        if len(found) < count:
            found.setdefault(request, None)

    collect()
    return [RequestCase(CaseKind.GENERATED, "hypothesis", r) for r in found]


@dataclass(frozen=True)
class Derivation:
    """Everything the suite sends on one cell, and the rules it could not exemplify."""

    cases: tuple[RequestCase, ...]
    unexemplified: tuple[tuple[HTTPRule, str], ...] = ()


def derive(
    egress: Sequence[HTTPRule] | None,
    ingress: Sequence[HTTPRule] | None,
    *,
    generated: int = DEFAULT_GENERATED,
    fallback_path: str = "/api/v1/health",
) -> Derivation:
    """The requests for a cell whose egress/ingress HTTP rules are given (None: unrestricted).

    A proxied cell without rules on either side still gets near misses and generated requests
    around ``fallback_path``: the proxy must forward them all, normalised as Envoy does.
    """
    allowed: list[RequestCase] = []
    missing: list[tuple[HTTPRule, str]] = []
    for rules, other in ((egress, ingress), (ingress, egress)):
        for rule in rules or ():
            examples, why = allowed_examples(rule, other_side=other, host=None)
            allowed += examples
            if why is not None:
                missing.append((rule, why))
    host = next((c.request.host for c in allowed if c.request.host is not None), None)
    if allowed:
        bases = allowed
    elif egress is None and ingress is None:
        bases = [RequestCase(CaseKind.ALLOWED, "unrestricted", L7Request(path=fallback_path))]
    else:  # rules exist but none could be exemplified: still probe around a plausible path
        fallback = L7Request(path=fallback_path)
        bases = [RequestCase(CaseKind.NEAR_MISS, "no rule could be exemplified", fallback)]
    cases: dict[L7Request, RequestCase] = {}
    for case in [
        *bases,
        *(m for b in bases for m in near_misses(b)),
        *generated_cases(bases, count=generated),
    ]:
        if host is not None and case.request.host is None:
            # A rule reads the Host header: every request names one, so that no expectation
            # depends on the client's default ``<pod ip>:<port>``, which the suite cannot know.
            case = replace(case, request=replace(case.request, host=host))
        cases.setdefault(case.request, case)
    return Derivation(tuple(cases.values()), tuple(missing))
