"""Formatting of estimates for the dashboard: every number with its interval and its n.

Filters return plain text, so Django's autoescaping still applies to everything they output.
"""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()
MINUS = "−"


def _num(value: float | None, *, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return text.replace("-", MINUS)


@register.filter
def estimate(interval: dict | None, digits: int = 3) -> str:
    """ "0.612 [0.580, 0.644]" for an Interval dict; "–" when there is no estimate."""
    if not interval or interval.get("estimate") is None:
        return "–"
    text = _num(interval["estimate"], digits=digits)
    if interval.get("lower") is not None:
        lower = _num(interval["lower"], digits=digits)
        upper = _num(interval["upper"], digits=digits)
        text += f" [{lower}, {upper}]"
    return text


@register.filter
def signed_estimate(interval: dict | None, digits: int = 3) -> str:
    """ "+0.021 [−0.004, +0.046]", for differences."""
    if not interval or interval.get("estimate") is None:
        return "–"
    text = _num(interval["estimate"], digits=digits, signed=True)
    if interval.get("lower") is not None:
        lower = _num(interval["lower"], digits=digits, signed=True)
        upper = _num(interval["upper"], digits=digits, signed=True)
        text += f" [{lower}, {upper}]"
    return text


@register.filter
def percent_estimate(interval: dict | None, digits: int = 1) -> str:
    """ "61.2% [58.0–64.4%]", for proportions and win rates."""
    if not interval or interval.get("estimate") is None:
        return "–"
    text = f"{interval['estimate'] * 100:.{digits}f}%"
    if interval.get("lower") is not None:
        text += f" [{interval['lower'] * 100:.{digits}f}–{interval['upper'] * 100:.{digits}f}%]"
    return text


@register.filter
def n_of(interval: dict | None) -> str:
    """ "n=1,234" for an Interval dict (or a plain count)."""
    if interval is None:
        return "n=0"
    n = interval.get("n", 0) if isinstance(interval, dict) else interval
    return f"n={intcomma(n or 0)}"


@register.filter
def verdict_class(interval: dict | None, reference: float = 0.0) -> str:
    """CSS class: "worse" when the whole interval is below the reference, "better" above."""
    if not interval or interval.get("lower") is None:
        return ""
    if interval["upper"] < reference:
        return "worse"
    if interval["lower"] > reference:
        return "better"
    return ""


@register.filter
def higher_is_worse_class(interval: dict | None, other: dict | None) -> str:
    """For rates where higher is bad (errors): compare two intervals without overlap."""
    if not interval or not other or interval.get("lower") is None or other.get("upper") is None:
        return ""
    if interval["lower"] > other["upper"]:
        return "worse"
    if interval["upper"] < other["lower"]:
        return "better"
    return ""


@register.filter
def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:,.0f} ms"


@register.filter
def usd(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"${value:,.{digits}f}"


@register.filter
def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


@register.filter
def get_item(mapping: dict | None, key):
    """Dictionary lookup with a variable key (templates cannot do mapping[key])."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f}%"


@register.filter
def percent_bounds(interval: dict | None, digits: int = 1) -> str:
    """ "[58.0–64.4%]": just the interval of a proportion."""
    if not interval or interval.get("lower") is None:
        return ""
    return f"[{interval['lower'] * 100:.{digits}f}–{interval['upper'] * 100:.{digits}f}%]"
