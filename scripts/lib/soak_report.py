"""The soak's report: plots of memory, descriptors, tasks and throughput
against time, and a verdict per resource (flat or growing) over the run
after its warm-up. Usage: soak_report.py OUT_DIR (reads OUT_DIR/samples.csv,
writes OUT_DIR/soak.png and OUT_DIR/report.md)."""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORKLOADS = ["amqp", "kafka", "svc-amqp", "svc-kafka"]
# A resource is flat when its fitted growth over the measured window stays
# under both a share of its median and an absolute allowance (cuts and
# restarts open and close connections and tasks all the time).
ALLOWANCE = {"rss_kib": (0.05, 8 * 1024), "fds": (0.10, 16), "tasks": (0.10, 32)}


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def main(out):
    out = Path(out)
    rows = list(csv.DictReader(open(out / "samples.csv")))
    if len(rows) < 6:
        sys.exit("too few samples for a report")
    t = [int(r["seconds"]) for r in rows]
    warm = max(180, t[-1] // 6)
    measured = [i for i, s in enumerate(t) if s >= warm]
    verdicts = {}
    lines = []
    for key, (share, absolute) in ALLOWANCE.items():
        ys = [int(rows[i][key]) for i in measured]
        xs = [t[i] for i in measured]
        growth = slope(xs, ys) * (xs[-1] - xs[0])
        median = sorted(ys)[len(ys) // 2]
        allowed = max(share * median, absolute)
        flat = growth <= allowed
        verdicts[key] = flat
        lines.append(
            f"| {key} | {min(ys)} | {median} | {max(ys)} | {growth:+.0f} | {allowed:.0f} | "
            f"{'flat' if flat else 'GROWING'} |"
        )

    fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
    minutes = [s / 60 for s in t]
    axes[0].plot(minutes, [int(r["rss_kib"]) / 1024 for r in rows])
    axes[0].set_ylabel("RSS (MiB)")
    axes[1].plot(minutes, [int(r["fds"]) for r in rows])
    axes[1].set_ylabel("open descriptors")
    axes[2].plot(minutes, [int(r["tasks"]) for r in rows])
    axes[2].set_ylabel("tokio tasks")
    for w in WORKLOADS:
        rec = [int(r[f"{w}_received"]) for r in rows]
        rates = [0] + [(b - a) / (t2 - t1) for a, b, t1, t2 in zip(rec, rec[1:], t, t[1:])]
        axes[3].plot(minutes, rates, label=w)
    axes[3].set_ylabel("received / s")
    axes[3].set_xlabel("minutes")
    axes[3].legend(loc="lower right")
    for ax in axes:
        ax.axvline(warm / 60, color="grey", linestyle=":")
        ax.grid(True, alpha=0.3)
    fig.suptitle("mq soak: both clients and the service layer under cuts and restarts")
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=100)

    last = rows[-1]
    totals = "\n".join(
        f"| {w} | {last[f'{w}_sent']} | {last[f'{w}_received']} | {last[f'{w}_errors']} |"
        for w in WORKLOADS
    )
    verdict = "flat" if all(verdicts.values()) else "growing"
    report = f"""# Soak report

{t[-1] // 60} minutes, a sample every 10 s; the first {warm // 60} minutes are
warm-up (dotted line) and left out of the fit.

**Verdict: {verdict}.**

| resource | min | median | max | fitted growth after warm-up | allowed | |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

(RSS in KiB. Allowed: the larger of a share of the median (5% for memory,
10% for descriptors and tasks) and 8 MiB, 16 descriptors or 32 tasks.)

| workload | sent | received | errors seen |
|---|---|---|---|
{totals}

Errors are what the clients reported and recovered from (a publish or
confirm lost to a cut or a restart, a consumer restarted mid-stream); the
workloads go on after each.

![soak](soak.png)
"""
    (out / "report.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main(sys.argv[1])
