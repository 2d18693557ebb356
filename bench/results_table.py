"""bench/engine_vs_twin.py's results (the JSON it writes) as readable tables."""

from __future__ import annotations

from typing import Any

# figure -> (label, multiplier to the unit shown, format)
FIGURES = {
    "throughput": ("throughput, cases/s", 1.0, "{:.1f}"),
    "worker_cpu_per_case": ("worker CPU per case, ms", 1000.0, "{:.1f}"),
    "server_cpu_per_case": ("server CPU per case, ms", 1000.0, "{:.1f}"),
    "events_per_case": ("history events per case", 1.0, "{:.0f}"),
    "json_bytes_per_case": ("history JSON per case, KiB", 1 / 1024, "{:.1f}"),
    "proto_bytes_per_case": ("history protobuf per case, KiB", 1 / 1024, "{:.1f}"),
    "queries_per_case": ("queries until waiting, per case", 1.0, "{:.1f}"),
}


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def rounds_table(summary: dict[str, dict[str, float]]) -> str:
    rows = []
    for key, (label, scale, fmt) in FIGURES.items():
        s = summary[key]
        rows.append(
            [
                label,
                fmt.format(s["engine_median"] * scale),
                fmt.format(s["twin_median"] * scale),
                f"{s['ratio_min']:.2f}",
                f"{s['ratio_median']:.2f}",
            ]
        )
    header = ["per round (median of rounds)", "engine", "twin", "ratio min", "ratio median"]
    return _grid(header, rows)


def event_types_table(types: dict[str, Any]) -> str:
    names = sorted(set(types["engine"]) | set(types["twin"]))
    rows = [[n, str(types["engine"].get(n, 0)), str(types["twin"].get(n, 0))] for n in names]
    rows.append(["total", str(sum(types["engine"].values())), str(sum(types["twin"].values()))])
    verdict = "identical" if types["identical"] else "DIFFERENT"
    verdict += ", same order" if types.get("same_order") else ", NOT in the same order"
    return _grid([f"event types per case ({verdict})", "engine", "twin"], rows)


def open_table(open_cases: dict[str, Any]) -> str:
    labels = {
        "decide_p50_ms": "decide p50, ms",
        "decide_p95_ms": "decide p95, ms",
        "decide_max_ms": "decide max, ms",
        "rss_idle_mib": "worker RSS before, MiB",
        "rss_open_mib": "worker RSS with all open, MiB",
        "rss_peak_mib": "worker RSS peak, MiB",
    }
    e, t = open_cases["engine"], open_cases["twin"]
    rows = [
        [label, f"{e[k]:.1f}", f"{t[k]:.1f}", f"{e[k] / t[k]:.2f}"] for k, label in labels.items()
    ]
    return _grid([f"{e['cases']} cases waiting for the officer", "engine", "twin", "ratio"], rows)


def replay_table(replay: dict[str, Any]) -> str:
    e, t = replay["engine"], replay["twin"]
    rows = []
    for key, label in (
        ("one_at_a_time_per_s", "one at a time, histories/s"),
        ("batch_per_s", "one batch, histories/s"),
        ("cpu_ms_per_history_one", "CPU per history (one at a time), ms"),
    ):
        rows.append([label, f"{e[key]:.1f}", f"{t[key]:.1f}", f"{e[key] / t[key]:.2f}"])
    return _grid([f"replay of {e['histories']} histories", "engine", "twin", "ratio"], rows)


def procedures_table(procedures: dict[str, Any]) -> str:
    rows = [
        [
            r["procedure"],
            r["case"],
            str(r["events"]),
            str(r.get("empty_tasks", "")),
            f"{r['json_bytes'] / 1024:.1f}",
            f"{r['proto_bytes'] / 1024:.1f}",
        ]
        for r in procedures["cases"]
    ]
    title = {
        "scenarios": "happy path per procedure (scenarios run)",
        "golden": "recorded histories (tests/histories, newest)",
    }[procedures["source"]]
    header = [title, "case", "events", "empty tasks", "JSON KiB", "proto KiB"]
    return _grid(header, rows)


def supplement_text(case: dict[str, Any]) -> str:
    return (
        f"after {case['rounds']} supplement rounds: {case['events']} events, "
        f"{case['json_bytes'] / 1024:.0f} KiB JSON, {case['proto_bytes'] / 1024:.0f} KiB "
        f"protobuf; {case['events_per_round']:.0f} events and "
        f"{case['proto_bytes_per_round'] / 1024:.1f} KiB per round, so about "
        f"{case['rounds_to_event_warning']} rounds reach the {case['event_warning']:,}-event "
        f"warning and {case['rounds_to_bytes_warning']:,} the 10 MB one"
    )


def cli_table(cli: dict[str, dict[str, float]], how: str = "") -> str:
    rows = [[name, f"{t['min_s']:.2f}", f"{t['median_s']:.2f}"] for name, t in cli.items()]
    runs = next(iter(cli.values()))["runs"] if cli else 0
    return _grid([f"CLI start-up, {runs:.0f} runs{how}", "min s", "median s"], rows)


def cli_uncached_table(cli: dict[str, dict[str, float]]) -> str:
    return cli_table(cli, ", no bytecode cache")


def profile_table(profile: dict[str, Any], ranking: str = "by_cumulative") -> str:
    parts = []
    for thread, p in profile.get("engine_top", {}).items():
        rows = [
            [r["function"][-70:], str(r["calls"]), f"{r['self_s']:.2f}", f"{r['cumulative_s']:.2f}"]
            for r in p[ranking]
        ]
        title = f"engine worker, {thread} thread ({ranking.replace('_', ' ')})"
        parts.append(_grid([title, "calls", "self s", "cum s"], rows))
    e, t = profile.get("engine", {}), profile.get("twin", {})
    rows = [[label, f"{ms:.1f}", f"{t.get(label, 0.0):.1f}"] for label, ms in e.items()]
    parts.append(_grid(["under cProfile, ms per case", "engine", "twin"], rows))
    return "\n\n".join(parts)


def table(results: dict[str, Any]) -> str:
    m, b = results["machine"], results.get("bytecode", {})
    cache = "bytecode cached" if b.get("cached") else "no bytecode cache"
    parts = [
        f"{results['command']}\n{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"Python {m['python']}, {m['temporal_cli']}; {cache}; "
        f"{results['engine_version']['label'] or results['engine_version']['head']}",
        rounds_table(results["summary"]),
        event_types_table(results["event_types_per_case"]),
    ]
    sections = [
        ("open_cases", open_table),
        ("replay", replay_table),
        ("procedures", procedures_table),
        ("supplement_case", supplement_text),
        ("cli", cli_table),
        ("cli_as_the_environment_is", cli_uncached_table),
        ("profile", profile_table),
    ]
    for key, render in sections:
        if key in results and "error" in results[key]:
            parts.append(f"{key}: not measured ({results[key]['error']})")
        elif key in results:
            parts.append(render(results[key]))
    return "\n\n".join(parts)
