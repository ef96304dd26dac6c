"""Writes bench/results/latest.md and latest.png from the raw results of bench/run.

Inputs (in the results directory): latest.jsonl (one line per load run),
latest-meta.json (machine, gateway RSS), memory.json (optional).
Prints the targets' status.

Given a second argument NAME, reads NAME.jsonl and NAME-meta.json and writes
NAME.md instead. An A/B run (bench/run with BENCH_BASELINE, whose baseline
runs are the targets named `baseline:<target>`) is written as the comparison
of the two builds, target by target.
"""

import json
import statistics
import sys
from pathlib import Path

TARGETS = ["direct", "nginx", "allow-all", "globs", "limited", "schema"]
LABELS = {
    "direct": "direct (no proxy)",
    "nginx": "nginx (bare reverse proxy)",
    "allow-all": "Toolgate: allow-all",
    "globs": "Toolgate: 50-tool policy with globs",
    "limited": "Toolgate: one Redis limit (never reached)",
    "schema": "Toolgate: argument schema",
}
# The realism run: @modelcontextprotocol/server-everything, direct and through Toolgate.
REALISM = ["everything-direct", "everything"]
REALISM_LABELS = {
    "everything-direct": "server-everything, direct",
    "everything": "server-everything through Toolgate (allow-all)",
}
MIB = 1024


BASELINE = "baseline:"
CPU_PARTS = ("proxy", "postgres", "redis")
CPU_LABELS = {"proxy": "`toolgate serve`", "postgres": "Postgres", "redis": "Redis"}


def load(results, name):
    runs = [json.loads(line) for line in (results / f"{name}.jsonl").read_text().splitlines() if line]
    meta = json.loads((results / f"{name}-meta.json").read_text())
    memory_path = results / "memory.json"
    memory = json.loads(memory_path.read_text()) if name == "latest" and memory_path.exists() else None
    return runs, meta, memory


def summarise(runs):
    """Median over rounds of each figure, plus the spread, per (target, concurrency)."""
    table = {}
    for target in dict.fromkeys(r["target"] for r in runs):
        for c in (1, 64):
            rows = [r for r in runs if r["target"] == target and r["concurrency"] == c]
            if not rows:
                continue
            fig = {}
            for key in ("throughput", "p50_us", "p90_us", "p99_us"):
                values = [r[key] for r in rows]
                fig[key] = statistics.median(values)
                fig[key + "_min"] = min(values)
                fig[key + "_max"] = max(values)
            if all("cpu_us_per_call" in r for r in rows):
                fig["cpu"] = {
                    part: statistics.median(r["cpu_us_per_call"][part] for r in rows)
                    for part in ("proxy", "postgres", "redis")
                }
            fig["errors"] = sum(r["errors"] for r in rows)
            fig["calls"] = sum(r["calls"] for r in rows)
            fig["rounds"] = len(rows)
            table[(target, c)] = fig
    return table


def targets_status(t):
    lines = []
    ok_all = True

    def check(name, passed, detail):
        nonlocal ok_all
        ok_all &= passed
        lines.append(f"- **{'MET' if passed else 'MISSED'}** {name}: {detail}")

    tg, ng = t[("allow-all", 64)], t[("nginx", 64)]
    ratio = tg["throughput"] / ng["throughput"]
    check(
        "at 64 in flight, Toolgate allow-all ≥ 0.8× nginx's throughput",
        ratio >= 0.8,
        f"{tg['throughput']:,.0f} vs {ng['throughput']:,.0f} calls/s = **{ratio:.2f}×**"
        + ("" if ratio >= 0.8 else f" (short by {(0.8 - ratio) / 0.8:.0%} of the target)"),
    )
    for c in (1, 64):
        direct = t[("direct", c)]["p50_us"]
        added_tg = t[("allow-all", c)]["p50_us"] - direct
        added_ng = t[("nginx", c)]["p50_us"] - direct
        passed = added_tg <= 1.5 * added_ng
        times = added_tg / added_ng if added_ng > 0 else float("inf")
        check(
            f"at {c} in flight, p50 added over direct ≤ 1.5× nginx's",
            passed,
            f"Toolgate allow-all adds {added_tg:,.0f} µs, nginx adds {added_ng:,.0f} µs = **{times:.2f}×**",
        )
    for c in (1, 64):
        added = t[("limited", c)]["p50_us"] - t[("allow-all", c)]["p50_us"]
        check(
            f"at {c} in flight, the Redis-limited configuration adds ≤ 100 µs p50 over allow-all",
            added <= 100,
            f"**{added:+,.0f} µs** ({t[('limited', c)]['p50_us']:,.0f} vs {t[('allow-all', c)]['p50_us']:,.0f} µs)",
        )
    return lines, ok_all


def markdown(t, meta, memory, status_lines):
    m = meta["machine"]
    out = [
        "# Toolgate benchmark: direct vs nginx vs Toolgate",
        "",
        f"- **Date**: {m['date']} · **commit** `{m['commit']}` · **command** `{m['command']}`",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['kernel']}; {m['rustc']}; {m['nginx']}",
        f"- **Method**: every process on this one machine over loopback (load generator, nginx, Toolgate, "
        f"the upstream, Postgres, Redis share the {m['cores']} cores). Load generator `toolgate-load`: MCP handshake, "
        f"then `tools/call echo` with 1 or 64 calls in flight, one keep-alive connection each. "
        f"{meta['rounds']} rounds, targets interleaved within each round, {meta['warmup_s']} s warm-up + "
        f"{meta['duration_s']} s measured per run. Figures are the median over rounds; [min–max] shows the spread.",
        "- **Toolgate**: one `toolgate serve` process (control plane + gateway; audit events queued on a Redis "
        "Stream and written to Postgres by the same process) serving the four configurations as four servers "
        "of one account.",
        "",
        "## Targets",
        "",
        *status_lines,
        "",
    ]
    for c in (1, 64):
        direct, nginx = t[("direct", c)], t[("nginx", c)]
        out += [
            f"## {c} call{'s' if c > 1 else ''} in flight",
            "",
            "| target | calls/s | ×direct | ×nginx | p50 µs | p90 µs | p99 µs | p50 ×direct | p50 ×nginx | p50 added over direct | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for target in TARGETS:
            f = t.get((target, c))
            if not f:
                continue
            out.append(
                f"| {LABELS[target]} "
                f"| {f['throughput']:,.0f} [{f['throughput_min']:,.0f}–{f['throughput_max']:,.0f}] "
                f"| {f['throughput'] / direct['throughput']:.2f} | {f['throughput'] / nginx['throughput']:.2f} "
                f"| {f['p50_us']:,.0f} [{f['p50_us_min']:,.0f}–{f['p50_us_max']:,.0f}] "
                f"| {f['p90_us']:,.0f} | {f['p99_us']:,.0f} [{f['p99_us_min']:,.0f}–{f['p99_us_max']:,.0f}] "
                f"| {f['p50_us'] / direct['p50_us']:.2f} | {f['p50_us'] / nginx['p50_us']:.2f} "
                f"| {f['p50_us'] - direct['p50_us']:+,.0f} | {f['errors']} / {f['calls']:,} |"
            )
        out.append("")
    if all("cpu" in t[(target, c)] for target in TARGETS for c in (1, 64) if (target, c) in t):
        out += [
            "## CPU per call",
            "",
            "CPU time (user + system, from `/proc`) used during each run, warm-up included, divided by the "
            "calls made: by the proxy in the path (nginx's master and workers; the `toolgate serve` process, "
            "gateway and audit consumer), and by Postgres and Redis, which Toolgate's audit trail and limits "
            "use (they idle for direct and nginx). The load generator and the upstream are not counted. "
            + ("For Toolgate the window closes once the run's audit events are stored (its stream is "
               "empty), so the deferred writes count for the calls that caused them. "
               if meta.get("audit_drained") else "")
            + "Medians over rounds.",
            "",
            "| target | in flight | proxy µs | Postgres µs | Redis µs | total µs | total ×nginx |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for c in (1, 64):
            nginx_total = sum(t[("nginx", c)]["cpu"].values())
            for target in TARGETS[1:]:
                f = t.get((target, c))
                if not f:
                    continue
                cpu = f["cpu"]
                total = sum(cpu.values())
                out.append(
                    f"| {LABELS[target]} | {c} | {cpu['proxy']:.1f} | {cpu['postgres']:.1f} | {cpu['redis']:.1f} "
                    f"| {total:.1f} | {total / nginx_total:.2f} |"
                )
        out.append("")
    if ("everything", 1) in t:
        out += [
            "## Realism: @modelcontextprotocol/server-everything",
            "",
            "The reference MCP server (Node.js, streamableHttp, sessions, SSE answers) as the upstream; "
            "`tools/call echo {\"message\": \"hello\"}`. Here the upstream is the bottleneck, "
            "which is what a real deployment looks like.",
            "",
            "| target | in flight | calls/s | ×direct | p50 µs | p90 µs | p99 µs | p50 added over direct | errors |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in (1, 64):
            direct = t[("everything-direct", c)]
            for target in REALISM:
                f = t[(target, c)]
                out.append(
                    f"| {REALISM_LABELS[target]} | {c} "
                    f"| {f['throughput']:,.0f} [{f['throughput_min']:,.0f}–{f['throughput_max']:,.0f}] "
                    f"| {f['throughput'] / direct['throughput']:.2f} "
                    f"| {f['p50_us']:,.0f} | {f['p90_us']:,.0f} | {f['p99_us']:,.0f} "
                    f"| {f['p50_us'] - direct['p50_us']:+,.0f} | {f['errors']} / {f['calls']:,} |"
                )
        out.append("")
    out += [
        "## Memory",
        "",
        f"- Throughput run, peak RSS (VmHWM): Toolgate `serve` **{meta['gateway_vmhwm_kib'] / MIB:.1f} MiB**; "
        f"nginx workers together {meta['nginx_workers_vmhwm_kib'] / MIB:.1f} MiB.",
    ]
    if memory:
        rss = memory["vmrss_kib"] / MIB
        out += [
            f"- One `toolgate proxy` after one call for each of **{memory['accounts']:,} accounts** (each a server, "
            f"a small policy and a grant, so every account's snapshot is loaded): RSS **{rss:.1f} MiB** "
            f"(peak {memory['vmhwm_kib'] / MIB:.1f} MiB; {memory['idle_vmrss_kib'] / MIB:.1f} MiB before the first call) — "
            f"target < 64 MiB: **{'MET' if memory['vmhwm_kib'] / MIB < 64 else 'MISSED'}**. Errors: {memory['errors']}.",
            f"- Cold account (first call, configuration loaded from Postgres), one call at a time: p50 "
            f"**{memory['cold_p50_us'] / 1000:.2f} ms**, p90 {memory['cold_p90_us'] / 1000:.2f} ms, "
            f"p99 {memory['cold_p99_us'] / 1000:.2f} ms; the same accounts warm (second call, "
            f"{memory['warm_calls']:,} of them): p50 {memory['warm_p50_us'] / 1000:.2f} ms, "
            f"p99 {memory['warm_p99_us'] / 1000:.2f} ms. Loading an account costs about "
            f"**{(memory['cold_p50_us'] - memory['warm_p50_us']) / 1000:.2f} ms** at p50. "
            f"All {memory['accounts']:,} cold calls took {memory['cold_pass_s']:.1f} s.",
        ]
    else:
        out.append("- The 10,000-account memory run was not part of this run (`bench/run memory`).")
    out += ["", "Raw figures: `latest.jsonl` (one line per run), `latest-meta.json`, `memory.json`.", ""]
    return "\n".join(out)


def chart(t, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    names = [LABELS[x].replace("Toolgate: ", "TG ").replace(" (bare reverse proxy)", "").replace(" (no proxy)", "")
             .replace("one Redis limit (never reached)", "Redis limit").replace("50-tool policy with globs", "50-tool globs")
             for x in TARGETS]
    colours = ["#7f7f7f", "#2ca02c", "#1f77b4", "#4a90d9", "#ff7f0e", "#9467bd"]
    panels = [
        (axes[0], 64, "throughput", "calls/s at 64 in flight (higher is better)"),
        (axes[1], 1, "p50_us", "p50 µs at 1 in flight (lower is better)"),
        (axes[2], 64, "p50_us", "p50 µs at 64 in flight (lower is better)"),
    ]
    for ax, c, key, title in panels:
        values = [t[(x, c)][key] for x in TARGETS]
        low = [v - t[(x, c)][key + "_min"] for x, v in zip(TARGETS, values)]
        high = [t[(x, c)][key + "_max"] - v for x, v in zip(TARGETS, values)]
        ax.bar(range(len(TARGETS)), values, color=colours, yerr=[low, high], capsize=3)
        ax.set_xticks(range(len(TARGETS)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=7)
    fig.suptitle("Toolgate vs nginx vs direct — median of rounds, bars show min–max", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def ab_figures(row):
    """The figures compared in an A/B, from one load run."""
    figures = {"calls/s": row["throughput"], "p50 µs": row["p50_us"], "p99 µs": row["p99_us"]}
    if "cpu_us_per_call" in row:
        cpu = row["cpu_us_per_call"]
        for part in CPU_PARTS:
            figures[f"CPU per call, {CPU_LABELS[part]} µs"] = cpu[part]
        figures["CPU per call, total µs"] = sum(cpu[part] for part in CPU_PARTS)
    return figures


def ab_markdown(runs, meta, name):
    """Each Toolgate target on this build against the baseline: medians over
    rounds, and the ratio of the two runs of each round (back to back)."""
    m = meta["machine"]
    baseline = m.get("baseline", "the baseline")
    out = [
        f"# Toolgate A/B: `{m['commit']}` against {baseline}",
        "",
        f"- **Date**: {m['date']} · **this build** `{m['commit']}` · **baseline** {baseline}",
        f"- **Command**: `{m['command']}`",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['kernel']}; {m['rustc']}",
        f"- **Method**: two `toolgate serve` processes, this build and the baseline, each with its own "
        f"database and Redis namespace on the same Postgres and Redis, both seeded alike. In each of "
        f"{meta['rounds']} rounds every target runs on both builds back to back ({meta['warmup_s']} s warm-up + "
        f"{meta['duration_s']} s measured each), the baseline first in even rounds. CPU per call is read "
        f"from `/proc` (user + system) for the serving process and for the Postgres and Redis servers, "
        f"from the start of the warm-up until the run's audit events are stored (its stream is empty), "
        f"divided by the calls made; a figure also carries whatever else those shared processes "
        f"(and anything else on the machine) did meanwhile: compare ratios, not absolute figures. "
        f"Columns: median over rounds [min–max]; the ratio is this build's figure over the baseline's in "
        f"the same round, median [min–max] over rounds.",
        "",
    ]
    summary = []
    targets = [t[len(BASELINE):] for t in dict.fromkeys(r["target"] for r in runs) if t.startswith(BASELINE)]
    nginx = {r["concurrency"]: [] for r in runs}
    for r in runs:
        if r["target"] == "nginx" and "cpu_us_per_call" in r:
            nginx[r["concurrency"]].append(sum(r["cpu_us_per_call"][p] for p in CPU_PARTS))
    for target in targets:
        for c in sorted({r["concurrency"] for r in runs}):
            pairs = []
            for rnd in sorted({r["round"] for r in runs}):
                a = [r for r in runs if r["target"] == BASELINE + target and r["concurrency"] == c and r["round"] == rnd]
                b = [r for r in runs if r["target"] == target and r["concurrency"] == c and r["round"] == rnd]
                if a and b:
                    pairs.append((ab_figures(a[0]), ab_figures(b[0])))
            if not pairs:
                continue
            errors = sum(r["errors"] for r in runs if r["target"] in (target, BASELINE + target)
                         and r["concurrency"] == c)
            out += [
                f"## {LABELS.get(target, target)}, {c} in flight",
                "",
                "| | baseline | this build | this build / baseline |",
                "|---|---:|---:|---:|",
            ]

            def spread(values, fmt):
                return f"{fmt(statistics.median(values))} [{fmt(min(values))}–{fmt(max(values))}]"

            for key in pairs[0][0]:
                before = [a[key] for a, _ in pairs]
                after = [b[key] for _, b in pairs]
                ratios = [b[key] / a[key] for a, b in pairs if a[key] > 0]
                fmt = (lambda v: f"{v:,.0f}") if key in ("calls/s", "p50 µs", "p99 µs") else (lambda v: f"{v:.1f}")
                ratio = spread(ratios, lambda v: f"{v:.2f}") if ratios else "–"
                out.append(f"| {key} | {spread(before, fmt)} | {spread(after, fmt)} | **{ratio}** |")
                if key in ("calls/s", "CPU per call, total µs", "CPU per call, Postgres µs", "CPU per call, Redis µs") \
                        and ratios:
                    summary.append(f"- {target} at {c}: {key} {statistics.median(before):.1f} → "
                                   f"{statistics.median(after):.1f} (×{statistics.median(ratios):.2f})")
            out.append("")
            if nginx.get(c):
                out.append(f"nginx's CPU per call at {c} in flight in the same run: "
                           f"{statistics.median(nginx[c]):.1f} µs. Errors: {errors}.")
            else:
                out.append(f"Errors: {errors}.")
            out.append("")
    out += [f"Raw figures: `{name}.jsonl` (one line per run), `{name}-meta.json`.", ""]
    return "\n".join(out), summary


def main():
    results = Path(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "latest"
    if not (results / f"{name}.jsonl").exists():
        sys.exit("no throughput results yet: run `bench/run throughput` (or `bench/run`) first")
    runs, meta, memory = load(results, name)
    if any(r["target"].startswith(BASELINE) for r in runs):
        text, summary = ab_markdown(runs, meta, name)
        (results / f"{name}.md").write_text(text)
        print("\n".join(summary))
        print(f"wrote {results / f'{name}.md'}")
        return
    t = summarise(runs)
    if not all((target, c) in t for target in TARGETS for c in (1, 64)):
        sys.exit("a report needs every target at 1 and 64 in flight; partial runs are for A/B comparisons "
                 "(BENCH_BASELINE)")
    status_lines, _ = targets_status(t)
    (results / f"{name}.md").write_text(markdown(t, meta, memory, status_lines))
    chart(t, results / f"{name}.png")
    print("\n".join(status_lines))
    if memory:
        print(f"- memory: {memory['vmrss_kib'] / MIB:.1f} MiB RSS after {memory['accounts']} accounts "
              f"(target < 64 MiB); cold account p50 {memory['cold_p50_us'] / 1000:.2f} ms")
    print(f"wrote {results / f'{name}.md'} and {results / f'{name}.png'}")


if __name__ == "__main__":
    main()
