"""bench/results.md from the numbers bench/run.py measured (pure: results dict in, Markdown out)."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

# (label, our value must be ..., threshold) — checked on our configuration in this run.
TARGETS = "Targets (this 2-core machine)"


def _fmt(value: Any, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{unit}"


def _ratio(ours: float | None, stock: float | None) -> str:
    if not ours or not stock:
        return "–"
    return f"{ours / stock:.2f}×"


def draws(variant: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The held-out measurements of each training of the variant's configuration (the first is
    the served model's)."""
    return list((variant.get("quality") or {}).get("draws") or [])


def mean(values: List[float]) -> float:
    return sum(values) / len(values)


def _values(variant: Dict[str, Any], key: str) -> List[float]:
    """``key`` (e.g. intent_accuracy) of each training of the variant's configuration."""
    return [d[key] for d in draws(variant) if d.get(key) is not None]


def _spread(variant: Dict[str, Any], key: str, digits: int = 3) -> str:
    values = _values(variant, key)
    if not values:
        return "–"
    if len(values) == 1:
        return _fmt(values[0], digits)
    return (
        f"{mean(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f}, "
        f"{len(values)} trainings)"
    )


def _mb(memory: Dict[str, float], name: str) -> float | None:
    return memory.get(name)


def render(results: Dict[str, Any]) -> str:
    variants: Dict[str, Any] = results["variants"]
    ours, stock = variants.get("ours", {}), variants.get("stock", {})
    names = [n for n in ("ours", "stock", "stock-tuned") if n in variants]
    lines: List[str] = [
        "# Benchmark: our configuration vs the stock Rasa configuration",
        "",
        f"Run {results.get('when', '')} with `make bench` (bench/run.py). Machine: "
        f"{results['machine']}. Load: locust (bench/locustfile.py), closed loop without think "
        f"time, {results['seconds']} s per level, over Rasa's REST webhook; each simulated "
        "patient asks 8 questions (one connection per message, as through a load balancer), then "
        "starts a new conversation. All variants but *default* use the same stores (PostgreSQL "
        "tracker store class spine_rasa.tracker_store, Redis lock store) and action server; "
        "*default* is `make run`'s stack (SQLite files for conversations and locks, one worker "
        "per core up to two).",
        "",
        "*ours* = config.yml (spaCy lookups + DIET without transformer + ResponseSelector + "
        "red-flag detector; MemoizationPolicy + RulePolicy) served by `python -m spine_rasa` "
        "(Rasa plus the serving fixes of spine_rasa/fixes.py), one Sanic worker per core, "
        "TensorFlow 1 thread per op. "
        "*stock* = `rasa init`'s config.yml (Rasa 3.6 default pipeline and policies, incl. "
        "TEDPolicy and UnexpecTEDIntentPolicy) trained on the same data, served as Rasa ships "
        "(one Sanic worker, TensorFlow's default threads, SPINE_RASA_FIXES=0)."
        + (
            " *stock-tuned* = the same stock model served with our settings (workers, TensorFlow "
            "threads, fixes), to separate what the configuration gains from what the serving "
            "settings gain."
            if "stock-tuned" in variants
            else " Ours runs one Sanic worker per core (Redis lock store), stock one: part of "
            "the throughput ratio is that serving setting (`--variants ours,stock,stock-tuned` "
            "measures it separately)."
        )
        + " Ratios are ours/stock. Levers tried one by one: bench/levers.md.",
        "",
        "## Quality",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]

    def row(label: str, get: Any) -> str:
        return f"| {label} | " + " | ".join(get(variants[n]) for n in names) + " |"

    lines += [
        row("held-out intent accuracy", lambda v: _fmt(v["quality"]["intent_accuracy"], 3)),
        row(
            "held-out response-selector accuracy",
            lambda v: _fmt(v["quality"]["response_accuracy"], 3),
        ),
        row(
            "held-out answers: right / clarifying question / wrong answer",
            lambda v: " / ".join(
                str(v["quality"].get(key, "–"))
                for key in ("answers_right", "clarified", "answers_wrong")
            ),
        ),
        row(
            "red flags detected",
            lambda v: f"{v['quality']['red_flags_detected']}/{v['quality']['red_flags']}",
        ),
        row("false alarms", lambda v: f"{v['quality']['false_alarms']}/{v['quality']['calm']}"),
        row(
            "blind held-out triage: emergency / crisis / urgent caught, routine escalated",
            lambda v: _triage_cells(v, "blind_heldout"),
        ),
        row(
            "blind held-out triage: triage question first (emergency / crisis / urgent / routine)",
            lambda v: _triage_cells(v, "blind_heldout_asked"),
        ),
        row(
            "patient-voice held-out questions: right / clarify / missed / wrong",
            lambda v: _understanding_cells(v),
        ),
    ]
    if any(len(draws(variants[n])) > 1 for n in names):
        lines += [
            row(
                "held-out intent accuracy, mean over trainings (lowest–highest)",
                lambda v: _spread(v, "intent_accuracy"),
            ),
            row(
                "held-out response-selector accuracy, mean over trainings (lowest–highest)",
                lambda v: _spread(v, "response_accuracy"),
            ),
            "",
            "The first rows are the model trained and served in this run. An unseeded training "
            "is one draw from a spread of a point or more, wider than the differences compared, "
            "so the configurations are also compared over several trainings each: ours with its "
            "configured seed and the next ones (fixed in bench/run.py, never chosen by outcome), "
            "stock unseeded as `rasa init` ships it; the trainings after the first are NLU-only "
            "(`rasa train nlu`, each with an empty cache). Each training:",
            "",
            "| config | training | seed | intent | response | right / clarifying / wrong "
            "| red flags | false alarms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for shown in dict.fromkeys(n for n in names if n != "stock-tuned"):
            for i, d in enumerate(draws(variants[shown]), start=1):
                seed = "unseeded" if d.get("seed") is None else str(d["seed"])
                lines.append(
                    f"| {shown} | {i}{' (served)' if i == 1 else ''} | {seed} | "
                    f"{_fmt(d.get('intent_accuracy'), 3)} | {_fmt(d.get('response_accuracy'), 3)} "
                    "| "
                    + " / ".join(
                        str(d.get(k, "–")) for k in ("answers_right", "clarified", "answers_wrong")
                    )
                    + f" | {d.get('red_flags_detected', '–')}/{d.get('red_flags', '–')} "
                    f"| {d.get('false_alarms', '–')}/{d.get('calm', '–')} |"
                )
    lines += [
        "",
        "## Start, memory, training",
        "",
        "| | " + " | ".join(names) + " | ours/stock |",
        "|---|" + "---|" * (len(names) + 1),
    ]

    def both(label: str, get: Any, digits: int = 0, unit: str = "") -> str:
        values = [get(variants[n]) for n in names]
        ratio = _ratio(get(ours), get(stock)) if ours and stock else "–"
        return f"| {label} | " + " | ".join(_fmt(v, digits, unit) for v in values) + f" | {ratio} |"

    lines += [
        both("full training", lambda v: v.get("train_s"), 0, " s"),
        both("start until the first answer", lambda v: v.get("ready_s"), 1, " s"),
        *(
            both(label, lambda v, when=when, key=key: _mb(v[when], key), 0, " MB")
            for label, when, key in (
                ("Rasa server RSS, idle (all its processes)", "rss_idle", "rasa server"),
                ("Rasa server RSS, peak (sum of its processes' peaks)", "rss_peak", "rasa server"),
                ("Rasa server RSS, largest process, peak", "rss_peak", "rasa server largest"),
                (
                    "Rasa server PSS after the load (shared pages counted once)",
                    "rss_peak",
                    "rasa server PSS",
                ),
                ("action server RSS, peak", "rss_peak", "action server"),
            )
        ),
        both("Sanic workers", lambda v: float(v.get("workers", 1)), 0),
        "",
        "## Serving (REST, real servers)",
        "",
        "| users | config | messages/s | p50 ms | p95 ms | p99 ms | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    levels = sorted({int(u) for v in variants.values() for u in v["load"]})
    for users in levels:
        for name in names:
            load = _load(variants[name], users)
            if load:
                lines.append(
                    f"| {users} | {name} | {load['rps']:.1f} | {load['p50']:.0f} | "
                    f"{load['p95']:.0f} | {load['p99']:.0f} | {load['failures']:.0f}"
                    f"/{load['requests']:.0f} |"
                )
        if ours and stock:
            o, s = _load(ours, users), _load(stock, users)
            if o and s:
                lines.append(
                    f"| {users} | **ours/stock** | **{_ratio(o['rps'], s['rps'])}** | "
                    f"{_ratio(o['p50'], s['p50'])} | {_ratio(o['p95'], s['p95'])} | "
                    f"{_ratio(o['p99'], s['p99'])} | |"
                )
    lines += long_conversations(variants)
    lines += ["", f"## {TARGETS}", ""]
    lines += [f"- {'✅' if ok else '❌'} {text}" for ok, text in check(ours, stock)]
    lines += [f"- {'✅' if ok else '❌'} {text}" for ok, text in default_stack(variants)]
    return "\n".join(lines) + "\n"


def long_conversations(variants: Dict[str, Any]) -> List[str]:
    """One patient's messages, one after another: latency by position in the conversation."""
    curves = {n: v["long_conversation"] for n, v in variants.items() if v.get("long_conversation")}
    if not curves:
        return []
    positions = sorted({int(p) for curve in curves.values() for p in curve})
    lines = [
        "",
        "## One long conversation (median ms around each message number)",
        "",
        "| config | " + " | ".join(str(p) for p in positions) + " |",
        "|---|" + "---|" * len(positions),
    ]
    for name, curve in curves.items():
        lines.append(
            f"| {name} | " + " | ".join(_fmt(curve.get(str(p)), 0) for p in positions) + " |"
        )
    return lines


def default_stack(variants: Dict[str, Any], users: int = 20) -> List[Tuple[bool, str]]:
    """`make run`'s stack at ``users`` patients: at least half the production profile's messages/s
    per worker, p95 under 500 ms."""
    ours, default = variants.get("ours"), variants.get("default")
    o = _load(ours, users) if ours else None
    d = _load(default, users) if default else None
    if not (o and d and ours and default):
        return []
    per_worker = o["rps"] / max(1, int(ours.get("workers", 1)))
    own = d["rps"] / max(1, int(default.get("workers", 1)))
    return [
        (
            own >= per_worker / 2,
            f"default stack at {users} users: {own:.1f} messages/s per worker, at least half the "
            f"production profile's {per_worker:.1f}",
        ),
        (d["p95"] < 500, f"default stack at {users} users: p95 {d['p95']:.0f} ms, under 500 ms"),
    ]


def _load(variant: Dict[str, Any], users: int) -> Dict[str, float] | None:
    load = variant.get("load", {})
    return load.get(str(users)) or load.get(users)


def check(ours: Dict[str, Any], stock: Dict[str, Any]) -> List[Tuple[bool, str]]:
    out: List[Tuple[bool, str]] = []
    if not ours:
        return out
    for users in (20, 50):
        o, s = _load(ours, users), _load(stock, users) if stock else None
        if o and s:
            ratio = o["rps"] / s["rps"] if s["rps"] else 0.0
            out.append((ratio >= 3, f"throughput at {users} users ≥ 3× stock: {ratio:.2f}×"))
    for users, limit in ((20, 300), (1, 100)):
        o = _load(ours, users)
        if o:
            out.append(
                (o["p95"] <= limit, f"p95 ≤ {limit} ms at {users} user(s): {o['p95']:.0f} ms")
            )
    # Per Rasa server process: with Sanic workers each worker is a whole server (own model, own
    # event loop); the supervisor process loads no model. Totals are in the memory table.
    rss = max(
        ours["rss_peak"].get("rasa server largest", 0.0),
        ours["rss_idle"].get("rasa server largest", 0.0),
    )
    out.append((rss <= 800, f"RSS ≤ 800 MB per Rasa server process: {rss:.0f} MB"))
    out.append((ours["ready_s"] <= 15, f"ready ≤ 15 s after start: {ours['ready_s']:.1f} s"))
    if ours.get("train_s") is not None:
        out.append((ours["train_s"] <= 180, f"full training ≤ 3 min: {ours['train_s']:.0f} s"))
    if stock:
        for key, label in (("intent_accuracy", "intent"), ("response_accuracy", "response")):
            ours_values, stock_values = _values(ours, key), _values(stock, key)
            if len(ours_values) > 1 and len(stock_values) > 1:
                # Configurations compared as configurations: the mean over their trainings.
                ours_mean, stock_mean = mean(ours_values), mean(stock_values)
                out.append(
                    (
                        ours_mean >= stock_mean,
                        f"held-out {label} accuracy ≥ stock, mean of {len(ours_values)} / "
                        f"{len(stock_values)} trainings: {ours_mean:.4f} vs {stock_mean:.4f} "
                        f"(stock's trainings {min(stock_values):.3f}–{max(stock_values):.3f}; "
                        f"the served models {ours['quality'][key]:.3f} vs "
                        f"{stock['quality'][key]:.3f})",
                    )
                )
                continue
            o, s = ours["quality"][key], stock["quality"][key]
            out.append((o >= s, f"held-out {label} accuracy ≥ stock: {o:.3f} vs {s:.3f}"))
    return out


def _understanding_cells(variant: Dict[str, Any]) -> str:
    counts = variant["quality"].get("understanding_heldout")
    if not counts:
        return "–"
    total = sum(counts.values()) or 1
    cells = " / ".join(str(counts.get(k, 0)) for k in ("right", "clarify", "missed", "wrong"))
    right, wrong = counts.get("right", 0) / total, counts.get("wrong", 0) / total
    return f"{cells} ({right:.0%} right, {wrong:.1%} wrong)"


def _triage_cells(variant: Dict[str, Any], key: str) -> str:
    """ "n/total" per triage level, or "–" for a run that did not record ``key``."""
    counts = variant["quality"].get(key)
    if not counts:
        return "–"
    return " · ".join(
        "/".join(map(str, counts[level])) for level in ("emergency", "crisis", "urgent", "routine")
    )
