"""`motcua samples`: what a scenario's `samples.<kind>[i]` holds, without a running sandbox."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import click

SCENARIO_CITIZENS = 2_000  # a scenario's sandbox unless it says `sandbox: {citizens: N}`


@click.command()
@click.argument("kinds", nargs=-1, metavar="[KIND]...")
@click.option(
    "--count",
    "-n",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Records of each kind, at most: `samples.<kind>[0]` to `[N-1]`.",
)
@click.option("--seed", default=42, show_default=True, help="The sandbox's seed.")
@click.option(
    "--citizens",
    default=SCENARIO_CITIZENS,
    show_default=True,
    type=click.IntRange(2),
    help="The sandbox's population.",
)
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="The sandbox's reference date (default: today in Vietnam); only dates depend on it.",
)
@click.option("--url", default=None, help="Ask a running sandbox instead (its base URL).")
def samples(
    kinds: tuple[str, ...],
    count: int,
    seed: int,
    citizens: int,
    today: datetime | None,
    url: str | None,
) -> None:
    """Print sandbox test samples of each KIND (all kinds when none is given) as JSON.

    The same seed and population give the same records on any day, so this is what a
    scenario with `samples: true` and that `sandbox:` reads as `samples.<kind>[i]`, e.g.
    `motcua samples paper_registration -n 3` shows `samples.paper_registration[0]` to
    `[2]`. The kinds and their fields: docs/sandbox-api.md, "Test samples".
    """
    from motcua.sandbox.samples import KINDS

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise click.ClickException(f"unknown sample kind {unknown[0]!r}; known: {', '.join(KINDS)}")
    wanted = kinds or KINDS
    if url is not None:
        found = _ask(url, count, wanted)
    else:
        found = _generate(seed, citizens, today.date() if today else None, count, wanted)
    click.echo(json.dumps(found, ensure_ascii=False, indent=2))


def _generate(
    seed: int, citizens: int, today: date | None, count: int, kinds: tuple[str, ...]
) -> dict[str, list[Any]]:
    from motcua.sandbox.samples import samples as pick
    from motcua.sandbox.state import Sandbox

    return pick(Sandbox(seed, citizens, today), count, kinds)


def _ask(url: str, count: int, kinds: tuple[str, ...]) -> dict[str, list[Any]]:
    import httpx

    try:
        answer = httpx.get(
            f"{url.rstrip('/')}/_admin/samples",
            params={"count": count, "kind": list(kinds)},
            timeout=60.0,
        )
    except httpx.HTTPError as e:
        raise click.ClickException(f"sandbox at {url} unreachable ({type(e).__name__})") from None
    if answer.status_code != 200:
        raise click.ClickException(f"sandbox at {url} answered {answer.status_code}")
    found: dict[str, list[Any]] = answer.json()
    return found
