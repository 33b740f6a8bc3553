"""bench.json -> chart (gnuplot PNG) and Markdown table (README).

Used by bench/run.py; also runnable alone to redraw from an existing JSON:
  python3 bench/report.py [build/results/bench.json]
"""
import json
import os
import subprocess
import sys
import tempfile

BEGIN = "<!-- bench-results:begin (written by 'make bench') -->"
END = "<!-- bench-results:end -->"

PF, PN, BF = ("guest-patched-fsgsbase-tcg", "guest-patched-nofsgsbase-tcg",
              "guest-base-fsgsbase-tcg")
KVMRUN, HOST = "guest-patched-fsgsbase-kvm", "host"
PERCPU = "guest-percpu-fsgsbase-tcg"  # BZIMAGE_PERCPU: figure 5 only
SHORT = {PF: "patched, fsgsbase (TCG)", PN: "patched, nofsgsbase (TCG)",
         BF: "base 6.12, fsgsbase (TCG)", KVMRUN: "patched, fsgsbase (KVM)",
         HOST: "host", PERCPU: "per-CPU GS kernel, fsgsbase (TCG)"}
LABEL = {
    "rdfsbase": "RDFSBASE", "wrfsbase": "WRFSBASE", "rdgsbase": "RDGSBASE",
    "wrgsbase": "WRGSBASE", "arch_prctl_get_fs": "ARCH_GET_FS",
    "arch_prctl_set_fs": "ARCH_SET_FS", "arch_prctl_get_gs": "ARCH_GET_GS",
    "arch_prctl_set_gs": "ARCH_SET_GS",
    "futex_null_sel": "futex, null sel", "futex_real_sel": "futex, real sel",
    "pipe_null_sel": "pipe, null sel", "pipe_real_sel": "pipe, real sel",
    "getregs": "GETREGS", "setregs": "SETREGS",
    "peekuser_fs_base": "PEEKUSER fs_base", "pokeuser_fs_base": "POKEUSER fs_base",
    "peekuser_gs_base": "PEEKUSER gs_base", "pokeuser_gs_base": "POKEUSER gs_base",
    "shared_atomic": "(a) shared atomic", "sched_getcpu_atomic": "(b) sched_getcpu",
    "rseq_addv": "(c) rseq_addv", "gs_slot": "(d) GS-based slot",
}
# Figure 5: methods (rows) and patterns.
METHOD5 = {
    "gs_percpu": "per-CPU GS base: `incq %gs:(reg)` / `incq %gs:0`",
    "gs_thread_standin": "per-thread GS base, host stand-in (not per-CPU): "
                         "`incq %gs:(reg)` / `incq %gs:0`",
    "rseq_add": "rseq: cpu_id check + `addq` commit (as `rseq_addv`)",
    "getcpu_atomic": "`sched_getcpu()` + `lock add` on that CPU's slot",
    "shared_atomic": "one shared `lock add`",
    "plain_thread": "control: plain `incq (reg)`, per-thread slot (not per-CPU)",
}
PATTERN5 = {"spread8": "spread over 8 counters (8 cache lines)",
            "one": "a tight loop on one counter"}


def meas(res, fig, run, metric):
    for m in res["figures"][fig]["measurements"]:
        if m["run"] == run and m["metric"] == metric:
            return m
    return None


def runs_with(res, fig, candidates):
    have = {m["run"] for m in res["figures"][fig]["measurements"]}
    return [r for r in candidates if r in have]


def fmt(x):
    if x is None:
        return "-"
    return "%.3g" % x if x < 100 else "%d" % round(x)


def short_ratio(a, b):
    return "x%.3g" % (a / b) if a and b else "n/a"


def gq(s):
    # gnuplot: backslash escapes in double quotes; '%' is a format in tic labels.
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace(
        "\n", "\\n").replace("%", "%%") + '"'


def panel(res, fig, clusters, series, title, ylabel, logscale, path):
    """clusters: [(xtic label, [metric per series])]; series: [(run, title)].
    Writes the data file; returns the gnuplot commands of the panel."""
    rows = []
    for label, metrics in clusters:
        row = []
        for (run, _), metric in zip(series, metrics):
            m = meas(res, fig, run, metric) if metric else None
            row += ["%g %g %g" % (m["median"], m["p25"], m["p75"]) if m else "NaN NaN NaN"]
        rows.append(" ".join(row))
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")
    cmds = ["set title %s" % gq(title), "set ylabel %s" % gq(ylabel),
            "set logscale y" if logscale else "unset logscale y",
            "set yrange [%s:*]" % ("*" if logscale else "0"),
            "set xtics (%s)" % ", ".join("%s %d" % (gq(c[0]), i) for i, c in enumerate(clusters))]
    plots = ["%s using %d:%d:%d title %s" % (gq(path) if i == 0 else "''", 3 * i + 1, 3 * i + 2,
                                             3 * i + 3, gq(t))
             for i, (_, t) in enumerate(series)]
    cmds.append("plot " + ", ".join(plots))
    return cmds


def chart(res, png):
    tmp = tempfile.mkdtemp(prefix="bench-plot-")
    guest = [r for r in res["runs"] if r["where"] == "guest" and r["status"] == "ok"]
    host = [r for r in res["runs"] if r["where"] == "host"]
    cmds = ["set terminal pngcairo size 1500,2900 font 'DejaVu Sans,12' noenhanced",
            "set output %s" % gq(png),
            "set datafile missing 'NaN'",
            "set style data histogram",
            "set style histogram errorbars gap 2 lw 1",
            "set style fill solid 0.8 border -1",
            "set boxwidth 0.9",
            "set grid ytics",
            "set key top left opaque box",
            "set offsets 0, 0, graph 0.3, 0",
            "set lmargin 12", "set bmargin 6",
            "set bars 0.5",
            "set multiplot layout 5,1 title %s" % gq(
                "fsgs_bench, %s.  Bars: median; whiskers: p25-p75.\n"
                "TCG = QEMU emulation: EMULATOR timings, not hardware costs.\n"
                "Guest: %s.  Host: %s, kernel %s%s." % (
                    res["generated"][:10],
                    guest[0].get("cpu_model", "?") if guest else "no guest run",
                    res["host"]["cpu_model"], res["host"]["kernel"],
                    " (itself a VM)" if res["host"]["hypervisor"] else ""))]

    # 1: instruction vs syscall, per run that has the instructions.
    runs1 = runs_with(res, "1", [PF, KVMRUN, HOST])
    series, clusters = [], []
    for r in runs1:
        series += [(r, SHORT[r] + ": instruction"), (r, SHORT[r] + ": arch_prctl")]
    for what, ins, sysc in (("FS read", "rdfsbase", "arch_prctl_get_fs"),
                            ("FS write", "wrfsbase", "arch_prctl_set_fs"),
                            ("GS read", "rdgsbase", "arch_prctl_get_gs"),
                            ("GS write", "wrgsbase", "arch_prctl_set_gs")):
        ratios = []
        for r in runs1:
            a, b = meas(res, "1", r, sysc), meas(res, "1", r, ins)
            if a and b:
                ratios.append("%s: instruction %s faster" % (
                    "host" if r == HOST else "KVM" if r == KVMRUN else "TCG",
                    short_ratio(a["median"], b["median"])))
        clusters.append(("%s\n%s" % (what, "\n".join(ratios)),
                         [m for _ in runs1 for m in (ins, sysc)]))
    cmds += panel(res, "1", clusters, series,
                  "1. Base access: instruction vs arch_prctl() (log scale)",
                  "ns per operation (log)", True, os.path.join(tmp, "f1.dat"))

    # 2: context switch, three boots.
    runs2 = runs_with(res, "2", [PF, PN, BF, KVMRUN])
    clusters = []
    for metric in ("futex_null_sel", "futex_real_sel", "pipe_null_sel", "pipe_real_sel"):
        a = meas(res, "2", PF, metric)
        extra = []
        for other, name in ((PN, "nofsgsbase"), (BF, "base")):
            b = meas(res, "2", other, metric)
            if a and b:
                extra.append("%s: %.2f" % (name, b["median"] / a["median"]))
        clusters.append(("%s\n%s" % (LABEL[metric], "\n".join(extra)), [metric] * len(runs2)))
    cmds += panel(res, "2", clusters, [(r, SHORT[r]) for r in runs2],
                  "2. Context switch round trip (2 switches), two threads pinned to one CPU.  "
                  "Ratios: that boot / patched fsgsbase (> 1: patched fsgsbase faster)",
                  "ns per round trip", False, os.path.join(tmp, "f2.dat"))

    # 3: ptrace.
    runs3 = runs_with(res, "3", [PF, PN, BF, KVMRUN])
    clusters = []
    for metric in ("getregs", "setregs", "peekuser_fs_base", "pokeuser_fs_base",
                   "peekuser_gs_base", "pokeuser_gs_base"):
        a, b = meas(res, "3", PF, metric), meas(res, "3", BF, metric)
        clusters.append(("%s\n%s" % (LABEL[metric], "base: %.2f" % (
            b["median"] / a["median"]) if a and b else ""), [metric] * len(runs3)))
        if meas(res, "3", PN, metric) and a:
            clusters[-1] = (clusters[-1][0] + "\nnofsgsbase: %.2f" % (
                meas(res, "3", PN, metric)["median"] / a["median"]), clusters[-1][1])
    cmds += panel(res, "3", clusters, [(r, SHORT[r]) for r in runs3],
                  "3. ptrace on a stopped tracee, per operation.  "
                  "Ratios: that boot / patched fsgsbase (> 1: patched fsgsbase faster)",
                  "ns per operation", False, os.path.join(tmp, "f3.dat"))

    # 4: per-CPU counter.
    runs4 = runs_with(res, "4", [PF, KVMRUN, HOST])
    clusters = []
    for metric in ("shared_atomic", "sched_getcpu_atomic", "rseq_addv", "gs_slot"):
        parts = []
        for r in runs4:
            a, b = meas(res, "4", r, "shared_atomic"), meas(res, "4", r, metric)
            if a and b and metric != "shared_atomic":
                parts.append("%s: %s (a)" % (
                    "host" if r == HOST else "KVM" if r == KVMRUN else "TCG",
                    short_ratio(a["median"], b["median"]).replace("x", "") + "x faster than"))
        clusters.append(("%s\n%s" % (LABEL[metric], "\n".join(parts)),
                         [metric] * len(runs4)))
    threads = {m["run"]: m.get("threads", "?") for m in res["figures"]["4"]["measurements"]}
    cmds += panel(res, "4", clusters,
                  [(r, "%s, %s threads" % (SHORT[r], threads.get(r, "?"))) for r in runs4],
                  "4. Per-CPU counter, one increment while all threads run (log scale; sums verified)",
                  "ns per increment (log)", True, os.path.join(tmp, "f4.dat"))
    # 5: per-CPU increment against rseq, every run that has it.
    runs5 = runs_with(res, "5", [PF, PERCPU, KVMRUN, HOST])
    m5 = res["figures"]["5"]["measurements"]
    threads = sorted({int(m["threads"]) for m in m5})
    methods = [x for x in METHOD5 if any(m["method"] == x for m in m5)]
    pairs = [(r, x) for r in runs5 for x in methods
             if any(m["run"] == r and m["method"] == x for m in m5)]
    clusters = [("%s\n%d thread%s" % (pat, n, "s" if n > 1 else ""),
                 ["%s-%s-t%d" % (x, pat, n) for _, x in pairs])
                for pat in PATTERN5 for n in threads]
    cmds.append("set key below horizontal maxcols 5")  # the bars reach the top here
    cmds += panel(res, "5", clusters, [(r, "%s: %s" % (SHORT[r], x)) for r, x in pairs],
                  "5. Per-CPU increment: GS-based against rseq, CPU time per increment (log "
                  "scale; sums verified; host gs = per-thread stand-in, not per-CPU)",
                  "ns per increment (log)", True, os.path.join(tmp, "f5.dat"))
    cmds.append("unset multiplot")
    script = os.path.join(tmp, "bench.gp")
    with open(script, "w") as f:
        f.write("\n".join(cmds) + "\n")
    p = subprocess.run(["gnuplot", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    errors = [x for x in p.stdout.splitlines() if x.strip() and "warning" not in x.lower()]
    if p.returncode != 0 or errors:
        raise SystemExit("bench: error: gnuplot failed (%s):\n%s" % (script, p.stdout))


def table(res):
    out = ["Measured by `make bench` on %s (%s, %ds). **TCG rows are QEMU emulator "
           "timings, not hardware costs.** Median of n runs, [p25-p75]; full data with "
           "min/max in `build/results/bench.json`, chart in `build/results/bench.png`."
           % (res["generated"][:10], res["git"], res["duration_s"]), ""]
    out.append("| run | accelerator | CPU model | kernel |")
    out.append("|---|---|---|---|")
    for r in res["runs"]:
        out.append("| %s | %s | %s | %s |" % (
            SHORT.get(r["id"], r["id"]), r["accelerator"], r.get("cpu_model", "-"),
            (r["kernel"] + " " + r.get("kernel_release", "")).strip()
            + (" (image %s)" % r["image"] if r.get("image") else "")
            + ("" if r["status"] == "ok" else " (%s: %s)" % (r["status"], r["reason"]))))
    for fig in ("1", "2", "3", "4"):
        f = res["figures"][fig]
        runs = [r["id"] for r in res["runs"]
                if any(m["run"] == r["id"] for m in f["measurements"])]
        metrics = []
        for m in f["measurements"]:
            if m["metric"] not in metrics:
                metrics.append(m["metric"])
        out += ["", "**%s. %s** (%s)" % (fig, f["title"], f["unit"]), ""]
        if not runs:
            out.append("No measurement.")
            continue
        out.append("| | " + " | ".join(SHORT.get(r, r) for r in runs) + " |")
        out.append("|---" * (len(runs) + 1) + "|")
        for metric in metrics:
            cells = []
            for r in runs:
                m = meas(res, fig, r, metric)
                cells.append("%s [%s-%s] n=%d" % (fmt(m["median"]), fmt(m["p25"]), fmt(m["p75"]),
                                                  m["n"]) if m else "-")
            out.append("| %s | %s |" % (LABEL.get(metric, metric), " | ".join(cells)))
        if f["ratios"]:
            out.append("")
            out.append("Ratios (medians, this run): " + "; ".join(
                "%s %s = %.2f" % (SHORT.get(x["run"], x["run"]) if x["run"] in SHORT else "",
                                  x["name"], x["value"]) for x in f["ratios"]) + ".")
        skipped = ["%s %s: %s" % (SHORT.get(s.get("run", "host"), s.get("run", "host")),
                                  s["metric"], s["reason"]) for s in f["skipped"]]
        if skipped:
            out.append("")
            out.append("Skipped: " + "; ".join(sorted(set(skipped))) + ".")
    out += table5(res)
    if res["problems"]:
        out += ["", "Problems: " + "; ".join(res["problems"])]
    return "\n".join(out) + "\n"


def table5(res):
    """Figure 5: per run and pattern, methods x thread counts, ratio to rseq."""
    f = res["figures"]["5"]
    out = ["", "**5. %s** (%s: CPU time per increment, all threads; (xR) = median / "
           "rseq's median in the same run, pattern and thread count, < 1 beats rseq)"
           % (f["title"], f["unit"])]
    for run in [r["id"] for r in res["runs"]]:
        ms = [m for m in f["measurements"] if m["run"] == run]
        if not ms:
            continue
        threads = sorted({int(m["threads"]) for m in ms})
        for pat, what in PATTERN5.items():
            out += ["", "%s, %s:" % (SHORT.get(run, run), what), "",
                    "| | " + " | ".join("%d thread%s" % (n, "s" if n > 1 else "")
                                        for n in threads) + " |",
                    "|---" * (len(threads) + 1) + "|"]
            for method in METHOD5:
                cells = []
                for n in threads:
                    m = meas(res, "5", run, "%s-%s-t%d" % (method, pat, n))
                    rs = meas(res, "5", run, "rseq_add-%s-t%d" % (pat, n))
                    cells.append("-" if not m else "%s [%s-%s]%s" % (
                        fmt(m["median"]), fmt(m["p25"]), fmt(m["p75"]),
                        " (x%.2f)" % (m["median"] / rs["median"]) if rs and method != "rseq_add"
                        else ""))
                if any(c != "-" for c in cells):
                    out.append("| %s | %s |" % (METHOD5[method], " | ".join(cells)))
    if len(out) == 1:
        out += ["", "No measurement."]
    skipped = sorted({"%s %s: %s" % (SHORT.get(s.get("run"), s.get("run")), s["metric"],
                                     s["reason"]) for s in f["skipped"]})
    if skipped:
        out += ["", "Skipped: " + "; ".join(skipped) + "."]
    return out


def update_readme(path, md):
    """Replace the text between the markers; False when there are none."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return False
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + md + END + tail)
    return True


if __name__ == "__main__":
    src = sys.argv[1] if len(sys.argv) > 1 else "build/results/bench.json"
    with open(src) as f:
        data = json.load(f)
    chart(data, os.path.join(os.path.dirname(src), "bench.png"))
    print(table(data))
