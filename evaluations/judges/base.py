"""What every judge kind shares: the Verdict it returns and a registry of kinds by name.

A kind is a plain class with one method, ``score(*, interaction, response, other=None)``.
Adding a kind means adding one module to this package with a ``@register`` class; the
registry imports every module of the package on first lookup.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings

from evaluations.llm import LLMClient, estimate_cost_usd, get_client


@dataclass
class Verdict:
    """One judge's opinion of one response (or of a candidate/production pair).

    ``value`` is in [0, 1] with higher meaning better, so paired differences read the same
    way for every judge; ``None`` means the judge had nothing to say (e.g. no reference).
    """

    value: float | None = None
    verdict: str = ""  # "win" | "tie" | "loss", pairwise judges only, from the candidate's side
    label: str = ""
    rationale: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    def __post_init__(self) -> None:
        if self.value is not None and not 0.0 <= self.value <= 1.0:
            raise ValueError(f"verdict value {self.value} is outside [0, 1]")
        # Score.label is a short column; the full story belongs in rationale/details.
        self.label = self.label[:64]


class JudgeKind:
    """Base class of judge kinds. Instances are built per judge from its ``params``."""

    name: ClassVar[str] = ""
    pairwise: ClassVar[bool] = False  # scores a candidate response against production's
    uses_llm: ClassVar[bool] = False  # calls the network: rate caps, budgets, backoff apply
    needs_text: ClassVar[bool] = True  # opted-out interactions store no text to judge
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, params: dict[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = {**self.default_params, **(params or {})}

    def applies_to(self, *, interaction: Any, response: Any) -> bool:
        """Whether a score row is worth creating at all for this response."""
        return not (self.needs_text and interaction.opt_out)

    def score(self, *, interaction: Any, response: Any, other: Any = None) -> Verdict:
        raise NotImplementedError

    def estimated_tokens(self, *, interaction: Any, response: Any, other: Any = None) -> int:
        """Tokens one scoring is expected to use, charged to the tokens/min cap up front."""
        return 0


class LLMJudgeKind(JudgeKind):
    """Kinds that ask a judge model; endpoint settings come from params, else settings."""

    uses_llm = True
    # Tokens every prompt template spends on instructions, on top of the texts it carries.
    PROMPT_OVERHEAD_TOKENS: ClassVar[int] = 350
    MAX_TOKENS: ClassVar[int] = 400

    @property
    def model(self) -> str:
        return str(self.params.get("model") or settings.JUDGE_LLM_MODEL)

    def client(self) -> LLMClient:
        base_url = self.params.get("base_url") or settings.JUDGE_LLM_BASE_URL
        if not base_url:
            from evaluations.llm import PermanentLLMError

            raise PermanentLLMError("no judge LLM endpoint configured (JUDGE_LLM_BASE_URL)")
        return get_client(
            base_url=str(base_url),
            api_key=str(self.params.get("api_key") or settings.JUDGE_LLM_API_KEY),
            model=self.model,
            timeout=float(self.params.get("timeout", 30.0)),
        )

    def cost_usd(self, *, tokens_in: int, tokens_out: int, model: str | None = None) -> float:
        return estimate_cost_usd(
            model=model or self.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            price_in_per_1k=_optional_float(self.params.get("price_in_per_1k")),
            price_out_per_1k=_optional_float(self.params.get("price_out_per_1k")),
        )

    def prompt(self, default: str) -> str:
        return str(self.params.get("prompt") or default)

    def estimated_tokens(self, *, interaction: Any, response: Any, other: Any = None) -> int:
        chars = len(interaction.input or "") + len(response.output or "")
        if other is not None:
            chars += len(other.output or "")
        per_call = self.PROMPT_OVERHEAD_TOKENS + chars // 4 + self.MAX_TOKENS
        return per_call * (2 if self.pairwise else 1)


def _optional_float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


_REGISTRY: dict[str, type[JudgeKind]] = {}
_NOT_KINDS = frozenset({"base", "defaults"})


def register(cls: type[JudgeKind]) -> type[JudgeKind]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name")
    if _REGISTRY.get(cls.name, cls) is not cls:
        raise ValueError(f"judge kind {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    package = importlib.import_module("evaluations.judges")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_KINDS and not module.name.startswith("_"):
            importlib.import_module(f"evaluations.judges.{module.name}")


def judge_kind(name: str) -> type[JudgeKind]:
    if name not in _REGISTRY:
        _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown judge kind {name!r}; known: {sorted(_REGISTRY)}") from None


def judge_kinds() -> dict[str, type[JudgeKind]]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def judge_instance(judge: Any) -> JudgeKind:
    """The kind object for a Judge row, configured with its params."""
    return judge_kind(judge.kind)(params=judge.params or {})
