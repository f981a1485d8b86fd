"""Expected outcomes of HTTP requests on L7-governed cells (Cilium's Envoy proxy semantics).

A request on a proxied cell (``Expectation.l7_proxied``) meets Envoy's HTTP connection manager,
which normalises the request target, then Cilium's ``cilium.l7policy`` filter, which checks the
source's egress HTTP rules and the destination's ingress HTTP rules; both must allow it.

What was read, and where (search index of public sources; commits as stored there):

- cilium/cilium pkg/envoy/xds_server.go (getHttpFilterChainProto): with ``http-normalize-path``
  the connection manager gets NormalizePath=true, MergeSlashes=true and
  PathWithEscapedSlashesAction=UNESCAPE_AND_REDIRECT. The agent registers the option as
  ``flags.Bool(option.HTTPNormalizePath, true, ...)`` (pkg/option/config.go names it): on by
  default. (The newest agent passes it through an xdsServerConfig; the default was read in the
  flag registration of older agents only.)
- cilium/proxy (cilium-envoy; Envoy 1.38.3 per its WORKSPACE): cilium/l7policy.cc answers a
  denied request with 403 and body "Access denied"; each pod proxy listener enforces its own
  direction (the source's egress, the destination's ingress; an L7 load balancer checks egress
  then ingress). cilium/network_policy.cc: an HTTP rule allows when all its Envoy header matchers
  match; rules are ORed; a HeaderMatch whose SDS secret has no value falls back to its inline
  ``value`` and, with no inline value, fails the rule whatever its mismatch action; mismatch
  actions LOG/ADD/DELETE/REPLACE continue (side effects only).
- cilium/cilium pkg/envoy/server.go getHTTPRule: ``path`` -> ``:path``, ``method`` ->
  ``:method``, ``host`` -> ``:authority``, each a safe_regex (RE2) matcher; ``headers`` entry
  "Name value" (split at the first space, trailing ':' of the name trimmed) -> exact match,
  "Name" -> presence; ``headerMatches`` without ``mismatch`` -> exact value, or presence when the
  value is empty. Envoy's HeaderMatcher doc: a regex matches the *entire* header value.
- envoyproxy/envoy source/common/http/conn_manager_utility.cc maybeNormalizePath: order is
  (1) a '#' in the path is rejected (runtime guard http_reject_path_with_fragment, default on);
  (2) %2F/%2f -> '/' and %5C/%5c -> '\\' in the path part (PathUtil::unescapeSlashes), which
  turns the final answer into a redirect; (3) PathUtil::canonicalPath on the part before '?'
  (query kept verbatim), failure -> reject; (4) PathUtil::mergeSlashes (keeps a leading and a
  trailing slash). conn_manager_impl.cc: reject -> 400, redirect -> 307 with ``Location`` set to
  the normalised path. codec_impl.cc (HTTP/1): a request target that is neither origin-form
  ('/...') nor a valid absolute URL is a protocol error answered 400.
- canonicalPath is Chromium's url::CanonicalizePath (Envoy's fork source/common/chromium_url/
  url_canon_path.cc, read; today Envoy links googleurl pinned at dd4080f, dated 2022-11-03 by
  Envoy's bazel registry): escapes of ALPHA/DIGIT/-/_/~ are decoded, '%2e'/'%2E' counts as a
  dot, '.' and '..' segments are removed ('..' never climbs above the root), '\\' becomes '/',
  other escapes are kept *with their original hex case* (Chromium: "in case the server is
  sensitive to that"), characters such as space, '"', '<', '>', '`', '{', '|', '}', '^' and
  non-ASCII bytes are escaped with upper-case hex, and a NUL (raw or %00) fails the path.
  Envoy's own tests confirm e.g. "/a/b/%2E%2E/c" -> "/a/c", "/%5c%25" -> "/%5c%25" (case kept),
  "/xyz/.%00../abc" -> rejected.

Not verified: the content of googleurl dd4080f itself (the table above is from Envoy's fork of
the same Chromium code; Chromium stopped decoding unreserved escapes only in 2024,
crbug.com/1509295, after that pin); RE2 program-size limits Envoy applies to rule regexes;
how Envoy joins repeated request headers for an exact match (modelled: joined with ',');
absolute-form targets ('http://host/path') and HTTP/2 are not modelled. Python's ``re`` with
``re.ASCII`` stands in for RE2; ``check_re2`` rejects the constructs where the two differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from gauntlet.blueprint.cilium import HTTPHeaderMatch, HTTPRule, check_re2
from gauntlet.oracle.connectivity import Expectation

__all__ = [
    "L7Expectation",
    "L7Request",
    "L7Verdict",
    "NormalizedPath",
    "check_re2",
    "expect_l7",
    "normalize_path",
    "rule_matches",
    "rule_summary",
    "side_summary",
]


class L7Verdict(StrEnum):
    FORWARDED = "forwarded"  # the application answers (the proxy let it through, or no proxy)
    DENIED = "denied"  # HTTP 403, body "Access denied", from the proxy
    REDIRECTED = "redirected"  # HTTP 307 from the proxy (escaped slashes unescaped)
    REJECTED = "rejected"  # HTTP 400 from the proxy (the path cannot be normalised)
    DROPPED = "dropped"  # denied at L3/L4: the client times out


@dataclass(frozen=True)
class L7Request:
    """One HTTP request of a probe. ``host`` None: the client's default ``<dst ip>:<port>``."""

    method: str = "GET"
    path: str = "/"
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NormalizedPath:
    """What Envoy's connection manager makes of a request target before any filter sees it."""

    path: str  # the normalised target (query kept) the rules see and the application receives
    redirect: bool = False  # escaped slashes (%2F, %5C): 307 to ``path``
    rejected: bool = False  # cannot be normalised: 400


@dataclass(frozen=True)
class L7Expectation:
    request: L7Request
    verdict: L7Verdict
    status: int | None  # the proxy's status (403/307/400); None for FORWARDED and DROPPED
    upstream_path: str | None  # FORWARDED: the target the application receives
    location: str | None  # REDIRECTED: the Location header
    proxied: bool  # the request traverses an L7 proxy at all
    reason: str  # which side and rule decided, for reports


# --------------------------------------------------------------------------------------------
# Path normalisation: Envoy's connection manager with Cilium's settings
# --------------------------------------------------------------------------------------------

# Chromium's kPathCharLookup, as a per-byte class: "u" unescape (the RFC 3986 unreserved
# characters: a %XX of them is decoded), "e" escape on output, "x" invalid (fails the path),
# "s" special ('.', handled as a dot), "p" pass through.
_HEX = "0123456789ABCDEFabcdef"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
_ESCAPED = frozenset(b' "#%<>?\\^`{|}\x7f').union(range(0x01, 0x20), range(0x80, 0x100))


def _is_dot(p: bytes, i: int) -> int:
    """Length of a dot at ``p[i]``: 1 for '.', 3 for '%2e'/'%2E', else 0 (Chromium IsDot)."""
    if p[i : i + 1] == b".":
        return 1
    if p[i : i + 3].lower() == b"%2e":
        return 3
    return 0


def _decode_escape(p: bytes, i: int) -> int | None:
    """The byte ``%XX`` at ``p[i]`` stands for, if ``XX`` are two hex digits."""
    pair = p[i + 1 : i + 3]
    if len(pair) == 2 and all(chr(c) in _HEX for c in pair):
        return int(pair, 16)
    return None


def _back_up_to_previous_slash(out: bytearray) -> None:
    """Drop the last segment of ``out`` (which ends in '/'), never above the first slash."""
    i = len(out) - 1
    if i == 0:
        return
    i -= 1
    while out[i] != ord("/") and i > 0:
        i -= 1
    del out[i + 1 :]


def _nested_escape(p: bytes, nxt: int, percent_at: int, out: bytearray) -> None:
    """Chromium CheckForNestedEscapes: if decoding just formed a valid escape with an earlier
    stray '%' (e.g. "%%30%30" -> "%00"), escape that '%' as "%25" so it cannot be re-decoded."""
    length = len(out)
    last = out[-1]
    append_next = percent_at == length - 2
    if append_next:
        if nxt >= len(p) or p[nxt] >= 0x80:
            return
        out.append(p[nxt])
    if _decode_escape(bytes(out), percent_at) is not None:
        if not append_next:
            out.append(out[percent_at + 1])
        out[percent_at + 1 : percent_at + 3] = b"25"
        out.append(last)
    elif append_next:
        del out[length:]


def _canonicalize(path: bytes) -> bytes | None:
    """Chromium url::CanonicalizePath on an origin-form path; None when it fails."""
    out = bytearray()
    ok = True
    stray_percent = -(10**9)  # index in ``out`` of the last '%' that began no valid escape
    i, end = 0, len(path)
    if not path.startswith((b"/", b"\\")):
        out.append(ord("/"))
    while i < end:
        c = path[i]
        dot = _is_dot(path, i)
        if dot:
            if out.endswith(b"/"):
                after = i + dot
                if after == end:
                    i = after  # "." at the end: current directory
                elif path[after] in b"/\\":
                    i = after + 1
                elif (second := _is_dot(path, after)) and (
                    after + second == end or path[after + second] in b"/\\"
                ):
                    _back_up_to_previous_slash(out)
                    i = min(after + second + 1, end)
                else:
                    out.append(ord("."))  # a dot that starts a file name
                    i += dot
            else:
                out.append(ord("."))
                i += dot
        elif c == ord("\\"):
            out.append(ord("/"))
            i += 1
        elif c == ord("%"):
            value = _decode_escape(path, i)
            if value is None:
                stray_percent = len(out)
                out.append(c)
                i += 1
            elif value in _UNRESERVED:
                out.append(value)
                if stray_percent >= len(out) - 3:
                    _nested_escape(path, i + 3, stray_percent, out)
                i += 3
            else:
                out += path[i : i + 3]  # kept as written, hex case included
                ok = ok and value != 0
                i += 3
        elif c == 0:
            out += b"%00"
            ok = False
            i += 1
        elif c in _ESCAPED:
            out += b"%%%02X" % c
            i += 1
        else:
            out.append(c)
            i += 1
    return bytes(out) if ok else None


def _merge_slashes(path: str) -> str:
    """Envoy PathUtil::mergeSlashes on a path without query."""
    if "//" not in path:
        return path
    prefix = "/" if path.startswith("/") else ""
    suffix = "/" if path.endswith("/") else ""
    return prefix + "/".join(s for s in path.split("/") if s) + suffix


_ESCAPED_SLASH = re.compile(r"%(2f|5c)", re.IGNORECASE)


def normalize_path(target: str) -> NormalizedPath:
    """The request target after Envoy's connection manager as Cilium configures it.

    Rejected (400): a target that is not origin-form (HTTP/1 codec), one with a '#' fragment,
    or one Chromium's canonicaliser fails (a NUL). Redirect (307): the path part held %2F or %5C
    (any case); ``path`` is then the Location. Only the part before the first '?' changes.
    """
    if not target.startswith("/"):
        return NormalizedPath(target, rejected=True)
    if "#" in target:
        return NormalizedPath(target, rejected=True)
    path, sep, query = target.partition("?")
    unescaped = _ESCAPED_SLASH.sub(lambda m: "/" if m.group(1).lower() == "2f" else "\\", path)
    canonical = _canonicalize(unescaped.encode("utf-8"))
    if canonical is None:
        return NormalizedPath(target, rejected=True)
    merged = _merge_slashes(canonical.decode("ascii"))
    return NormalizedPath(merged + sep + query, redirect=unescaped != path)


# --------------------------------------------------------------------------------------------
# Rule matching: Cilium's HTTP rules as Envoy header matchers
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    # re.ASCII: RE2's \d, \w, \s and \b are ASCII-only.
    return re.compile(pattern, re.ASCII)


def _full_match(pattern: str | None, value: str) -> bool:
    # Cilium adds a matcher only for a non-empty field (``if h.Path != ""``).
    return not pattern or _regex(pattern).fullmatch(value) is not None


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """All values of ``name`` (case-insensitive) joined with ',', or None when absent."""
    values = [v for k, v in headers if k.lower() == name.lower()]
    return ",".join(values) if values else None


def _header_rule_matches(entry: str, headers: tuple[tuple[str, str], ...]) -> bool:
    name, sep, value = entry.partition(" ")
    if not sep:
        return _header(headers, name) is not None
    found = _header(headers, name.rstrip(":"))
    # Envoy treats an empty exact value as "any value" (comment in Cilium's getHTTPRule).
    return found is not None and (value == "" or found == value)


def _header_match_allows(hm: HTTPHeaderMatch, headers: tuple[tuple[str, str], ...]) -> bool:
    value = hm.value or ""
    if hm.secret is not None and not value:
        # Gauntlet resolves no secrets; without an inline fallback value the match fails,
        # whatever the mismatch action (Cilium: "header match will fail").
        return False
    if hm.mismatch is not None:
        return True  # LOG/ADD/DELETE/REPLACE act on a mismatch but never deny
    found = _header(headers, hm.name)
    return found is not None and (not value or found == value)


def rule_matches(
    rule: HTTPRule,
    *,
    method: str,
    path: str,
    host: str,
    headers: tuple[tuple[str, str], ...],
) -> bool:
    """Whether one Cilium HTTP rule allows a request; ``path`` is the normalised target with
    its query, as Envoy's ``:path``. Every given field must match; ``{}`` matches anything."""
    return (
        _full_match(rule.path, path)
        and _full_match(rule.method, method)
        and _full_match(rule.host, host)
        and all(_header_rule_matches(h, headers) for h in rule.headers)
        and all(_header_match_allows(hm, headers) for hm in rule.header_matches)
    )


def rule_summary(rule: HTTPRule) -> str:
    """A compact form for reports: ``GET /api/v1/items/.* [X-Tenant-Token]``."""
    parts = [rule.method or "*", rule.path or "*"]
    if rule.host:
        parts.append(f"host={rule.host}")
    extras = [h.partition(" ")[0].rstrip(":") for h in rule.headers]
    for hm in rule.header_matches:
        extras.append(hm.name if hm.mismatch is None else f"{hm.name}:{hm.mismatch}")
    if extras:
        parts.append(f"[{', '.join(extras)}]")
    return "any request" if parts == ["*", "*"] else " ".join(parts)


def side_summary(rules: tuple[HTTPRule, ...] | None) -> str:
    """One side of a cell for reports: its rules joined with " | ", or "unrestricted"."""
    return "unrestricted" if rules is None else " | ".join(rule_summary(r) for r in rules)


# --------------------------------------------------------------------------------------------
# The expected outcome of one request
# --------------------------------------------------------------------------------------------


def _side_verdict(
    side: str, rules: tuple[HTTPRule, ...] | None, req: L7Request, path: str, host: str
) -> tuple[bool, str]:
    if rules is None:
        return True, f"{side}: unrestricted"
    for index, rule in enumerate(rules):
        if rule_matches(rule, method=req.method, path=path, host=host, headers=req.headers):
            return True, f"{side}: rule {index} ({rule_summary(rule)}) matches"
    return False, f"{side}: none of {len(rules)} HTTP rule(s) matches ({side_summary(rules)})"


def expect_l7(exp: Expectation, req: L7Request, *, default_host: str) -> L7Expectation:
    """What the client of ``req`` on ``exp``'s cell should see.

    ``default_host`` is the ``:authority`` sent when the request names none (``<ip>:<port>``).
    The source's egress proxy decides before the destination's ingress proxy.
    """

    def result(
        verdict: L7Verdict,
        reason: str,
        *,
        status: int | None = None,
        upstream: str | None = None,
        location: str | None = None,
    ) -> L7Expectation:
        return L7Expectation(req, verdict, status, upstream, location, exp.l7_proxied, reason)

    if not exp.allowed:
        return result(L7Verdict.DROPPED, f"dropped at L3/L4: {exp.reason}")
    if not exp.l7_proxied:
        return result(L7Verdict.FORWARDED, "no L7 proxy on this port", upstream=req.path)
    norm = normalize_path(req.path)
    if norm.rejected:
        return result(L7Verdict.REJECTED, "the proxy cannot normalise the target", status=400)
    if norm.redirect:
        return result(
            L7Verdict.REDIRECTED, "escaped slash in the path", status=307, location=norm.path
        )
    host = req.host if req.host is not None else default_host
    reasons = []
    for side, rules in (("egress", exp.l7_egress), ("ingress", exp.l7_ingress)):
        ok, why = _side_verdict(side, rules, req, norm.path, host)
        reasons.append(why)
        if not ok:
            return result(L7Verdict.DENIED, "; ".join(reasons), status=403)
    return result(L7Verdict.FORWARDED, "; ".join(reasons), upstream=norm.path)
