"""Versioned judge prompt templates stored as TOML files in ``evaluations/prompts/``.

TOML rather than .txt or .json: multi-line strings stay readable and the stdlib parses them.
A file ``<name>.toml`` declares ``version`` (recorded on every score it produced) plus ``system``
and ``user`` strings; ``user`` holds ``$placeholders`` for the untrusted texts.

Untrusted texts (user input, agent answers, references) are wrapped in BEGIN/END marker lines
carrying a nonce derived from the texts themselves, so a text cannot forge the closing marker
and smuggle instructions outside its block.
"""

from __future__ import annotations

import functools
import hashlib
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
DEFAULT_MAX_BLOCK_CHARS = 12_000


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    system: str
    user_template: str

    @property
    def digest(self) -> str:
        """Short hash of the exact text, to tell apart edits that forgot to bump ``version``."""
        text = f"{self.system}\0{self.user_template}".encode()
        return hashlib.sha256(text).hexdigest()[:12]

    def render(
        self, *, blocks: dict[str, str], max_block_chars: int = DEFAULT_MAX_BLOCK_CHARS
    ) -> list[dict[str, str]]:
        """Chat messages with each ``$name`` placeholder replaced by a delimited data block."""
        texts = {name: _truncate(text, max_block_chars) for name, text in blocks.items()}
        nonce = _nonce(texts)
        delimited = {name: _delimit(name, text, nonce) for name, text in texts.items()}
        # substitute() raises KeyError for a missing block, which is a programming error.
        user = string.Template(self.user_template).substitute(delimited)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@functools.cache
def load_prompt(name: str) -> Prompt:
    path = PROMPTS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown judge prompt {name!r} (no {path.name} in {PROMPTS_DIR})")
    with path.open("rb") as handle:
        spec = tomllib.load(handle)
    missing = {"version", "system", "user"} - spec.keys()
    if missing:
        raise ValueError(f"judge prompt {name!r} lacks {sorted(missing)}")
    return Prompt(
        name=name,
        version=str(spec["version"]),
        system=spec["system"].strip(),
        user_template=spec["user"].strip(),
    )


def available_prompts() -> list[str]:
    return sorted(path.stem for path in PROMPTS_DIR.glob("*.toml"))


def _block_title(name: str) -> str:
    return name.upper().replace("_", " ")


def _delimit(name: str, text: str, nonce: str) -> str:
    title = _block_title(name)
    return f"-----BEGIN {title} {nonce}-----\n{text}\n-----END {title} {nonce}-----"


def _nonce(texts: dict[str, str]) -> str:
    # Derived from the contents (not random) so the same inputs give the same prompt, which
    # keeps judge calls reproducible and cacheable.
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(texts[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... truncated {len(text) - limit} characters]"
