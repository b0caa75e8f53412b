"""Cost of the offline guardrail detectors for one interaction.

One interaction = every detector once on the text it is meant for, for a 1 KB input and a 1 KB
output: ``compute_slices`` on the input (which runs injection, emotion and language detection on
it), PII leaked from input to output, refusal and system-prompt leak on the output, and token
counts of both. ``separately_us`` adds injection, emotion and language of the input called again
on their own (a judge that ignores the stored slices would pay that). Baseline, measured in the
same run over the same two texts: ``str.lower()`` plus one precompiled regex search per text.

Times are CPU time of the measuring thread (``time.thread_time_ns``), median over many
iterations after warm-up, in interleaved rounds: the machines this runs on are shared, and
wall-clock medians swing several-fold with other processes' load. Wall-clock medians are
reported too (``wall_us``).

    .venv/bin/python bench/detectors.py [--quick]

Progress goes to stderr; the last stdout line is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluations.detectors import (  # noqa: E402
    compute_slices,
    count_tokens,
    detect_emotion,
    detect_injection,
    detect_language,
    detect_refusal,
    detect_system_prompt_leak,
    is_unexpected_language,
    pii_leaked,
)
from evaluations.detectors.language import warm_up  # noqa: E402

TARGET_US = 500
SUPPORT_ADDRESS = "support@example.com"

INPUT_1KB = (
    "Hi, I'm writing again about my subscription because nobody has answered my last two "
    "emails. This month I was charged twice for the Pro plan, once on the 3rd and again on the "
    "4th, both for $29.00, and the second charge is not pending anymore, it has posted. My "
    "account email is jane.doe@example.org and the order number on the first invoice is "
    "48213. I already checked Billing > Invoices and I can only see one invoice there, so I "
    "have no idea what the second charge is for. I also tried to update my card under Billing "
    "> Payment methods last week because my old card expired, maybe that has something to do "
    "with it? Honestly this is frustrating, I have been a customer for three years and never "
    "had a problem before. Could you please refund the duplicate charge and tell me how long "
    "it will take to show up on my statement? And if it happens again next month, should I "
    "cancel and sign up again, or is there something on my side I should change? I would really "
    "like this sorted out before the next renewal. Thanks, Jane"
)
OUTPUT_1KB = (
    "Hi Jane, thanks for your patience, and sorry that your earlier emails went unanswered. "
    "I can see why the second charge is confusing. When a card is replaced, the renewal can be "
    "attempted on both the old and the new card; the bank usually drops the second "
    "authorization within 3 to 5 business days, but in your case it has posted, so it needs a "
    "refund. I have flagged the duplicate payment on the account registered to "
    "jane.doe@example.org for a refund to the original payment method. Refunds take 5 to 10 "
    "business days to appear on your statement, depending on your bank. You do not need to "
    "cancel your plan: now that the new card is your default under Billing > Payment methods, "
    "next month's renewal will only be charged once. If you see two charges again, reply to "
    "this message or write to support@example.com with both invoice numbers and we will fix "
    "it the same day. Your invoices are always available as PDFs under Billing > Invoices. "
    "Is there anything else I can help you with today? Best regards, the support team."
)
SHORT_INPUT = "Where is my order? It was supposed to arrive yesterday."
SHORT_OUTPUT = (
    "Standard shipping takes 3 to 5 business days. You can follow your parcel with the "
    "tracking link under Orders in your account."
)

_BASELINE_PATTERN = re.compile(r"ignore (?:all )?previous instructions")


def run_detectors(user_input: str, output: str) -> None:
    """Every detector once on the text it is meant for."""
    compute_slices(input=user_input)  # injection, emotion and language of the input inside
    pii_leaked(input=user_input, output=output, allowed=(SUPPORT_ADDRESS,))
    detect_refusal(output)
    detect_system_prompt_leak(output)
    count_tokens(user_input)
    count_tokens(output)


def run_detectors_separately(user_input: str, output: str) -> None:
    """As above plus the input's injection, emotion and language detectors called on their own."""
    run_detectors(user_input, output)
    detect_injection(user_input)
    detect_emotion(user_input)
    detect_language(user_input)


def run_baseline(user_input: str, output: str) -> None:
    _BASELINE_PATTERN.search(user_input.lower())
    _BASELINE_PATTERN.search(output.lower())


def median_us(
    func: Callable[[], object], *, iterations: int, warmup: int, batch: int = 1
) -> tuple[float, float]:
    """Median (CPU, wall) microseconds per call; ``batch`` calls per sample amortise the
    clock reads for very cheap functions."""
    for _ in range(warmup):
        func()
    cpu, wall = [], []
    for _ in range(iterations):
        cpu_start, wall_start = time.thread_time_ns(), time.perf_counter_ns()
        for _ in range(batch):
            func()
        cpu.append((time.thread_time_ns() - cpu_start) / batch)
        wall.append((time.perf_counter_ns() - wall_start) / batch)
    return statistics.median(cpu) / 1000, statistics.median(wall) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    iterations, warmup, rounds = (300, 50, 3) if args.quick else (1000, 200, 5)
    assert 1000 <= len(INPUT_1KB) <= 1100 and 1000 <= len(OUTPUT_1KB) <= 1100

    started = time.perf_counter()
    warm_up()
    print(f"language models loaded in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    variants: dict[str, tuple[Callable[[], object], int]] = {
        "detectors": (lambda: run_detectors(INPUT_1KB, OUTPUT_1KB), 1),
        "baseline": (lambda: run_baseline(INPUT_1KB, OUTPUT_1KB), 100),
        "separately": (lambda: run_detectors_separately(INPUT_1KB, OUTPUT_1KB), 1),
        "short": (lambda: run_detectors(SHORT_INPUT, SHORT_OUTPUT), 1),
    }
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    # Interleaved rounds so a burst of load on the shared machine hits every variant alike.
    for round_number in range(1, rounds + 1):
        for name, (func, batch) in variants.items():
            cpu_us, wall_us = median_us(
                func,
                iterations=iterations if batch == 1 else iterations // 10,
                warmup=warmup,
                batch=batch,
            )
            cpu[name].append(cpu_us)
            wall[name].append(wall_us)
        print(
            f"round {round_number}/{rounds}: "
            + ", ".join(f"{name} {values[-1]:.1f} us" for name, values in cpu.items()),
            file=sys.stderr,
        )

    parts: dict[str, Callable[[], object]] = {
        "compute_slices(input)": lambda: compute_slices(input=INPUT_1KB),
        "detect_injection(input)": lambda: detect_injection(INPUT_1KB),
        "detect_emotion(input)": lambda: detect_emotion(INPUT_1KB),
        "detect_language(input)": lambda: detect_language(INPUT_1KB),
        "pii_leaked": lambda: pii_leaked(
            input=INPUT_1KB, output=OUTPUT_1KB, allowed=(SUPPORT_ADDRESS,)
        ),
        "detect_refusal(output)": lambda: detect_refusal(OUTPUT_1KB),
        "detect_system_prompt_leak(output)": lambda: detect_system_prompt_leak(OUTPUT_1KB),
        "count_tokens(input+output)": lambda: (count_tokens(INPUT_1KB), count_tokens(OUTPUT_1KB)),
        "is_unexpected_language(output)": lambda: is_unexpected_language(OUTPUT_1KB),
    }
    breakdown = {}
    for name, func in parts.items():
        breakdown[name] = round(median_us(func, iterations=iterations, warmup=warmup)[0], 1)
        print(f"  {name}: {breakdown[name]} us", file=sys.stderr)

    def overall(values: dict[str, list[float]], name: str) -> float:
        return statistics.median(values[name])

    us = overall(cpu, "detectors")
    baseline = overall(cpu, "baseline")
    # The least disturbed round: closest to the cost on an idle machine.
    best_round = min(cpu["detectors"])
    result = {
        "bench": "detectors",
        "us_per_interaction": round(us, 1),
        "baseline_us": round(baseline, 2),
        "ratio": round(us / baseline, 1),
        "target_us": TARGET_US,
        "best_round_us": round(best_round, 1),
        "separately_us": round(overall(cpu, "separately"), 1),
        "short_texts_us": round(overall(cpu, "short"), 1),
        "wall_us": round(overall(wall, "detectors"), 1),
        "wall_baseline_us": round(overall(wall, "baseline"), 2),
        "input_chars": len(INPUT_1KB),
        "output_chars": len(OUTPUT_1KB),
        "breakdown_us": breakdown,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
