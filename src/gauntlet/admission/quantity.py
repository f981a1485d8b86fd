"""Kubernetes resource quantities (``500m``, ``1.5Gi``, ``1e3``), parsed and printed exactly as
kube-apiserver does, because its LimitRanger and ResourceQuota messages print quantities with
``Quantity.String()`` and Gauntlet compares those messages byte for byte.

Design notes, mirroring ``k8s.io/apimachinery/pkg/api/resource/quantity.go``:

- A quantity is an exact number plus the *format* its suffix had (DecimalSI ``k M G``, BinarySI
  ``Ki Mi Gi``, DecimalExponent ``e3``); the format decides how it is printed again. Parsing rounds
  a non-zero value up (away from zero) to a whole nano, so every value here is an integer number
  of nanos, kept in ``Quantity.nanos``.
- Printing is the canonical form: the largest suffix (a multiple of 3 for decimal, of 10 for
  binary) that needs no fraction, e.g. ``1.5`` -> ``1500m``, ``1.5Gi`` -> ``1536Mi``. A BinarySI
  value below 1024 or with a fraction is printed as DecimalSI.
- Upstream caches the input text when its fast path sees a number it believes canonical, and
  ``String()`` then returns that text verbatim: ``+1``, ``01`` and ``1.500`` print as written.
  ``Quantity.text`` keeps that text; arithmetic drops it, as Go's ``Add`` clears its cache.
- The API server rounds every ``ResourceList`` value up to a whole milli on decode
  (``SetDefaults_ResourceList``, ``pkg/apis/core/v1/defaults.go``): ``100u`` of cpu is stored,
  compared and printed as ``1m``. ``resource_list`` applies that rounding.
- Upstream quirks kept on purpose: ``9Ei`` is capped at 2^63-1 (BinarySI only; ``12E`` is not),
  and a DecimalSI value whose canonical exponent has no suffix (>= 10^21) prints without one.

Not mirrored: Go wraps a decimal exponent to 32 bits; Gauntlet refuses exponents beyond +-1000
(no resource is that large) instead of building a number with a billion digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

__all__ = [
    "ERR_FORMAT_WRONG",
    "ERR_NUMERIC",
    "ERR_SUFFIX",
    "Format",
    "Quantity",
    "resource_list",
]

# The split regular expression upstream names in its error; the scanner below implements it.
_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_NANO = 10**9
_MILLI_IN_NANOS = 10**6
# Largest value a BinarySI quantity may hold (upstream's maxAllowed, 2^63-1).
_MAX_ALLOWED = 2**63 - 1
# upstream maxInt64Factors: decimal digits that always fit an int64.
_MAX_INT64_FACTORS = 18
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_EXPONENT_LIMIT = 1000


class Format(StrEnum):
    """How a quantity is printed; chosen by the suffix it was written with."""

    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15}
_DECIMAL_SUFFIXES["E"] = 18
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = {e // 10: s for s, e in _BINARY_SUFFIXES.items()}


@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact Kubernetes quantity.

    Equality and ordering compare values only, like Go's ``Quantity.Cmp``: ``1Gi == 1073741824``.
    """

    nanos: int
    """The value in units of 10^-9 (every parsed quantity is a whole number of nanos)."""
    format: Format = Format.DECIMAL_SI
    text: str | None = field(default=None, repr=False)
    """The input text upstream keeps and prints verbatim, or None to print the canonical form."""

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, value: str | int | float) -> Quantity:
        """Parse a quantity as ``resource.ParseQuantity`` does (``ValueError`` with its message).

        YAML numbers are accepted: an ``int`` is its decimal text; a ``float`` is printed the way
        ``kubectl`` sends it (Go's JSON encoding of the float), e.g. ``0.5`` -> ``"0.5"``.
        """
        if isinstance(value, bool):
            raise ValueError(ERR_FORMAT_WRONG)
        if isinstance(value, int):
            return _parse(str(value))
        if isinstance(value, float):
            return _parse(_go_json_float(value))
        return _parse(value)

    @classmethod
    def of(cls, value: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """``resource.NewQuantity(value, format)``."""
        return cls(value * _NANO, fmt)

    @classmethod
    def of_milli(cls, value: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """``resource.NewMilliQuantity(value, format)``."""
        return cls(value * _MILLI_IN_NANOS, fmt)

    # -- values -------------------------------------------------------------------------------

    @property
    def value(self) -> Fraction:
        """The exact value."""
        return Fraction(self.nanos, _NANO)

    def is_zero(self) -> bool:
        return self.nanos == 0

    def sign(self) -> int:
        return (self.nanos > 0) - (self.nanos < 0)

    def scaled_value(self, scale: int) -> int:
        """``ScaledValue``: the value in units of 10^scale, rounded away from zero."""
        shift = -9 - scale
        return _div_away(self.nanos * 10 ** max(shift, 0), 10 ** max(-shift, 0))

    def int_value(self) -> int:
        """``Value()``: whole units, rounded up (away from zero)."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """``MilliValue()``: whole millis, rounded up (away from zero)."""
        return self.scaled_value(-3)

    def round_up(self, scale: int) -> Quantity:
        """``RoundUp(scale)``: the value rounded away from zero to a multiple of 10^scale.

        An exact value keeps its text (upstream keeps its cached string when no rounding is needed).
        """
        unit = 10 ** (scale + 9) if scale > -9 else 1
        if self.nanos % unit == 0:
            return self
        return Quantity(_div_away(self.nanos, unit) * unit, self.format)

    def rounded_to_milli(self) -> Quantity:
        """What the API server stores for a ResourceList value (``SetDefaults_ResourceList``)."""
        return self.round_up(-3)

    # -- arithmetic (Go's Add/Sub: the result takes the format of the first non-zero operand) --

    def __add__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.nanos == 0 else self.format
        return Quantity(self.nanos + other.nanos, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.nanos == 0 else self.format
        return Quantity(self.nanos - other.nanos, fmt)

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos == other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __lt__(self, other: Quantity) -> bool:
        return self.nanos < other.nanos

    def __le__(self, other: Quantity) -> bool:
        return self.nanos <= other.nanos

    def __gt__(self, other: Quantity) -> bool:
        return self.nanos > other.nanos

    def __ge__(self, other: Quantity) -> bool:
        return self.nanos >= other.nanos

    # -- printing -----------------------------------------------------------------------------

    def __str__(self) -> str:
        """``Quantity.String()``: the kept input text, else the canonical form."""
        return self.text if self.text is not None else self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, {self.format.value})"

    def canonical(self) -> str:
        """The canonical form (``CanonicalizeBytes``), ignoring any kept input text."""
        if self.nanos == 0:
            return "0"
        fmt = self.format
        if fmt is Format.BINARY_SI:
            if abs(self.nanos) < 1024 * _NANO or self.nanos % _NANO != 0:
                # Below 1Ki, or not a whole number: binary would need rounding, print decimal.
                fmt = Format.DECIMAL_SI
            else:
                mantissa, power = _remove_factors(self.nanos // _NANO, 1024)
                return f"{mantissa}{_BINARY_BY_POWER.get(power, '')}"
        mantissa, exponent = _remove_factors(self.nanos, 10)
        exponent -= 9
        while exponent % 3:
            mantissa *= 10
            exponent -= 1
        if fmt is Format.DECIMAL_EXPONENT:
            return f"{mantissa}e{exponent}" if exponent else str(mantissa)
        # Upstream's suffix lookup fails above E (10^18) and prints no suffix at all.
        return f"{mantissa}{_DECIMAL_BY_EXPONENT.get(exponent, '')}"


def resource_list(raw: Mapping[str, object] | None) -> dict[str, Quantity]:
    """A ``ResourceList`` as the API server stores it: each value parsed and rounded up to a
    whole milli (``SetDefaults_ResourceList``). ``None`` is the empty list."""
    if not raw:
        return {}
    out: dict[str, Quantity] = {}
    for name, value in raw.items():
        if not isinstance(value, str | int | float):
            raise ValueError(ERR_FORMAT_WRONG)
        out[str(name)] = Quantity.parse(value).rounded_to_milli()
    return out


# -- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scanned:
    positive: bool
    num: str
    denom: str
    suffix: str


def _scan(text: str) -> _Scanned:
    """Split ``text`` into sign, integer digits (leading zeros dropped), fraction digits and
    suffix, as upstream's ``parseQuantityString`` scanner does (it accepts ``.`` and ``1.``)."""
    end = len(text)
    pos = 0
    positive = True
    if end and text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return _Scanned(positive, "0", "", "")
    start = pos
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos].isascii() and text[pos].isdigit():
            pos += 1
        denom = text[start:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    if pos < end:
        raise ValueError(ERR_FORMAT_WRONG)
    return _Scanned(positive, num, denom, text[suffix_start:])


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) of a suffix; ``E`` alone is exa, ``E3`` an exponent."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[0] in "+-" else digits
        if body.isascii() and body.isdigit():
            exponent = int(digits)
            if exponent.bit_length() < 64:
                return 10, exponent, Format.DECIMAL_EXPONENT
    raise ValueError(ERR_SUFFIX)


def _parse(text: str) -> Quantity:
    if not text:
        raise ValueError(ERR_FORMAT_WRONG)
    if text == "0":
        return Quantity(0, Format.DECIMAL_SI, "0")
    scanned = _scan(text)
    base, exponent, fmt = _interpret(scanned.suffix)
    if abs(exponent) > _EXPONENT_LIMIT:
        raise ValueError(f"{ERR_NUMERIC}: exponent {exponent} is beyond what Gauntlet models")
    fast = _fast_path(text, scanned, base, exponent, fmt)
    if fast is not None:
        return fast
    num, denom = scanned.num, scanned.denom
    amount = Fraction(int(num + denom), 10 ** len(denom))
    amount *= Fraction(10) ** exponent if base == 10 else 2**exponent
    # Non-zero values round up to the smallest representable amount (1n) rather than to zero:
    # "if you want some resources, you should get some resources" (upstream comment).
    nanos = math.ceil(amount * _NANO)
    if fmt is Format.BINARY_SI:
        nanos = min(nanos, _MAX_ALLOWED * _NANO)
        if 0 < nanos < _NANO:
            fmt = Format.DECIMAL_SI
    return Quantity(nanos if scanned.positive else -nanos, fmt)


def _fast_path(
    text: str, scanned: _Scanned, base: int, exponent: int, fmt: Format
) -> Quantity | None:
    """Upstream's int64 fast path, which is also where it decides to keep the input text."""
    num, denom = scanned.num, scanned.denom
    mantissa = 1
    if fmt is Format.BINARY_SI:
        if exponent < 0 or denom:
            return None
        mantissa = 1 << exponent
        # 1Mi has ~6 decimal digits; upstream estimates the precision left as below.
        precision = 15 - len(num) - (exponent * 3) // 10 - 1
        scale = 0
    else:
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
        scale = exponent
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    digits = int(shifted)
    result = digits * mantissa
    if result > _MAX_ALLOWED:
        return None
    nanos = result * 10 ** (scale + 9)
    if not scanned.positive:
        nanos = -nanos
    if fmt is Format.BINARY_SI:
        canonical_input = exponent % 10 == 0 and digits & 0x07 != 0
    else:
        canonical_input = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return Quantity(nanos, fmt, text if canonical_input else None)


def _go_json_float(value: float) -> str:
    """Go's ``encoding/json`` text for a float64 (what kubectl sends for a YAML float)."""
    if not math.isfinite(value):
        raise ValueError(ERR_FORMAT_WRONG)
    try:
        dec = Decimal(repr(value)).normalize()
    except InvalidOperation as exc:  # pragma: no cover - repr of a finite float always parses
        raise ValueError(ERR_FORMAT_WRONG) from exc
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        return format(dec, "f")
    sign, digits, exp = dec.as_tuple()
    assert isinstance(exp, int)
    body = "".join(map(str, digits))
    exp10 = exp + len(body) - 1
    mantissa = body[0] + ("." + body[1:] if len(body) > 1 else "")
    # strconv writes e-07 / e+21; encoding/json then trims e-07 to e-7.
    exponent = f"-{-exp10}" if exp10 < 0 else f"+{exp10:02d}"
    return f"{'-' if sign else ''}{mantissa}e{exponent}"


def _remove_factors(value: int, base: int) -> tuple[int, int]:
    """``removeInt64Factors``: divide ``base`` out of a non-zero value, keeping its sign."""
    negative = value < 0
    value = abs(value)
    times = 0
    while value % base == 0:
        value //= base
        times += 1
    return (-value if negative else value), times


def _div_away(numerator: int, denominator: int) -> int:
    """Integer division rounding away from zero (upstream's RoundUp and ScaledValue)."""
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
