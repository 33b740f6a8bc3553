#!/usr/bin/env python3
"""make bench: run bench/fsgs_bench everywhere it is needed, in one go.

Runs, all in this one invocation, so that every ratio is taken between runs
of the same invocation:
  guest  patched kernel, fsgsbase    figures 1 2 3 4
  guest  patched kernel, nofsgsbase  figures 1 2 3
  guest  base kernel,    fsgsbase    figures 1 2 3
  host   this machine's kernel       figures 1 (when AT_HWCAP2 has
                                     FSGSBASE, else skipped with the reason) 4 5
  guest  patched, fsgsbase, KVM      figures 1 2 3 4, only with BENCH_KVM=1,
                                     under a short timeout (nested KVM hangs
                                     on some hosts: a timeout is a skip)
Figure 5 (per-CPU GS base against rseq, issue 6) is bench/percpu_bench, run
by the same boots (suite 'bench') and on the host with --standin (a
per-thread GS base: the host kernel has no per-CPU one). BZIMAGE_PERCPU=
<bzImage> adds a TCG boot of that kernel (fsgsbase) for figure 5 alone: a
kernel with the per-CPU GS base built outside the series.
Boots go through the lab (lab/run.py: same QEMU arguments, timeouts and oops
detection as 'make check'); the guest programs read lab.bench=<figures>.

Writes build/results/bench/<run>.log, build/results/bench.json,
build/results/bench.png (gnuplot), build/results/bench.md, and the README's
table between its bench-results markers. Exits non-zero when a boot fails or
a benchmark is broken (a wrong value, a lost update), never on a timing.

Knobs (environment): BENCH_KVM=1, BENCH_KVM_TIMEOUT (s, 120),
BENCH_TIMEOUT (s per TCG boot, 600), BENCH_HOST=0 (no host runs),
BENCH_ARGS (extra fsgs_bench options on the host, e.g. '-r 5'), BZIMAGE_PERCPU,
BZIMAGE_PATCHED / BZIMAGE_BASE / BENCH_INITRD / BENCH_PROG (other kernel
images, initramfs or host binary: for developing the benchmark itself).
"""
import datetime
import json
import os
import platform
import re
import struct
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
OUT = os.path.join(BUILD, "results")
PROG = os.environ.get("BENCH_PROG", os.path.join(BUILD, "tests", "fsgs_bench"))
PERCPU_PROG = os.path.join(os.path.dirname(PROG), "percpu_bench")
sys.dont_write_bytecode = True  # no __pycache__ in lab/ or bench/
sys.path.insert(0, os.path.join(TOP, "lab"))
import run as lab  # noqa: E402  (lab/run.py: qemu_args, boot, OOPS, PRINTK)

ENV = os.environ.get
AT_HWCAP2 = 26
HWCAP2_FSGSBASE = 1 << 1
TCG = "tcg (emulated)"
KVM = "kvm"

FIGURES = {
    "1": {
        "title": "Base access: instruction vs arch_prctl()",
        "unit": "ns/op",
        "shows": "What one read or write of the FS or GS base costs from user space "
                 "with RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE against the system call "
                 "that does the same (arch_prctl ARCH_GET_*/ARCH_SET_*), and the ratio.",
        "does_not_show": "Any cost of the series itself: the instructions never enter the "
                         "kernel. Under TCG both columns are emulator costs (an emulated "
                         "instruction against an emulated system call); only the host and "
                         "KVM columns say anything about hardware.",
    },
    "2": {
        "title": "Context switch: futex and pipe ping-pong on one CPU",
        "unit": "ns/roundtrip",
        "shows": "A round trip (two context switches) between two threads pinned to one "
                 "CPU, each with distinct non-zero FS and GS bases and null selectors, "
                 "then with real (LDT) selectors; the patched kernel with FSGSBASE against "
                 "the same kernel booted nofsgsbase, and against the base 6.12 kernel.",
        "does_not_show": "Hardware switch cost: under TCG the emulator's cost of WRMSR, "
                         "segment loads and the scheduler dominates, and a difference of a "
                         "few percent is within the spread. Switches between processes "
                         "(an mm switch) are not measured.",
    },
    "3": {
        "title": "ptrace: registers and bases of a stopped tracee",
        "unit": "ns/op",
        "shows": "PTRACE_GETREGS, PTRACE_SETREGS and PEEKUSER/POKEUSER of fs_base and "
                 "gs_base, per operation, patched kernel against base kernel (what a "
                 "debugger pays).",
        "does_not_show": "The cost at the tracee's next resume (R0/R1 apply there, not in "
                         "the ptrace call); emulator timings only under TCG.",
    },
    "4": {
        "title": "Per-CPU counter: the baseline for a per-CPU GS base",
        "unit": "ns/increment",
        "shows": "One increment of a counter by N threads (one per CPU) with (a) one "
                 "shared atomic, (b) sched_getcpu() and an atomic on that CPU's slot, "
                 "(c) rseq_addv (the kernel tree's rseq selftest library), (d) a plain "
                 "add to %gs:0 with the GS base set per thread, the best a per-CPU GS "
                 "base could reach. Every run checks that the final sum is exact.",
        "does_not_show": "A per-CPU GS base itself (that is later work: (d) is per thread, "
                         "so it is a bound, not an implementation). Under TCG, atomics "
                         "and rseq are emulated and their ratios differ from hardware.",
    },
    "5": {
        "title": "Per-CPU increment: %gs against rseq",
        "unit": "ns/increment",
        "shows": "CPU time per increment of a per-CPU counter with the per-CPU GS base "
                 "(incq %gs:(reg) over 8 counters, incq %gs:0 on one), against rseq (an "
                 "rseq_addv-style critical section), sched_getcpu() + lock add, one shared "
                 "lock add, and a plain incq (reg) on a per-thread slot as control; 1, n, "
                 "2n and 4n threads for n CPUs; ratios to rseq in the same run. Every run "
                 "checks the sums.",
        "does_not_show": "On the host, a per-CPU GS base: the host kernel has none, so the "
                         "gs row there is a per-thread GS base (a stand-in: same instruction, "
                         "not per-CPU). Under TCG, every row is an emulator timing.",
    },
}
FIG_ORDER = {
    "1": ["rdfsbase", "arch_prctl_get_fs", "wrfsbase", "arch_prctl_set_fs",
          "rdgsbase", "arch_prctl_get_gs", "wrgsbase", "arch_prctl_set_gs"],
    "2": ["futex_null_sel", "futex_real_sel", "pipe_null_sel", "pipe_real_sel"],
    "3": ["getregs", "setregs", "peekuser_fs_base", "pokeuser_fs_base",
          "peekuser_gs_base", "pokeuser_gs_base"],
    "4": ["shared_atomic", "sched_getcpu_atomic", "rseq_addv", "gs_slot"],
    "5": ["gs_percpu", "gs_thread_standin", "rseq_add", "getcpu_atomic", "shared_atomic",
          "plain_thread"],
}
BENCH_RE = re.compile(r"^# @(bench|skip|info) (.*)$")
KV_RE = re.compile(r"(\w+)=(.*?)(?= \w+=|$)")


def say(msg):
    print("bench: " + msg, flush=True)


def host_hwcap2():
    with open("/proc/self/auxv", "rb") as f:
        data = f.read()
    for i in range(0, len(data) - 15, 16):
        key, val = struct.unpack_from("<QQ", data, i)
        if key == AT_HWCAP2:
            return val
    return 0


def host_cpu():
    model, hyper = "unknown", False
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and " hypervisor" in line:
                hyper = True
    return model, hyper


def parse(lines):
    """fsgs_bench output -> (info, [measurement], [skip], [(figure test, ok)])."""
    info, meas, skips, tests = {}, [], [], []
    for text in lines:
        m = BENCH_RE.match(text)
        if m:
            kv = dict(KV_RE.findall(m.group(2)))
            if m.group(1) == "info":
                info = kv
            elif m.group(1) == "skip":
                skips.append(kv)
            else:
                for k in ("median", "p25", "p75", "min", "max"):
                    kv[k] = float(kv[k])
                kv["n"], kv["iters"] = int(kv["n"]), int(kv["iters"])
                meas.append(kv)
            continue
        m = re.match(r"^(not ok|ok) \d+ (\S+)(.*)$", text)
        if m:
            tests.append((m.group(2), m.group(1) == "ok", m.group(3).strip()))
    return info, meas, skips, tests


def figures_arg(figs):
    return "".join(figs)


def guest_run(kernel, config, figs, accel, timeout):
    """One boot through the lab; returns the run record and its output lines."""
    rid = "guest-%s-%s-%s" % (kernel, config, accel)
    outdir = os.path.join(OUT, "bench", rid)
    os.makedirs(outdir, exist_ok=True)
    bz = ENV("BZIMAGE_" + kernel.upper())
    orig = lab.qemu_args

    def qemu_args(*a, **kw):  # lab.qemu_args's own, whatever they are
        args = orig(*a, **kw)
        i = args.index("-append") + 1
        args[i] += " lab.bench=" + figures_arg(figs)
        if bz:
            args[args.index("-kernel") + 1] = bz
        if ENV("BENCH_INITRD"):
            args[args.index("-initrd") + 1] = ENV("BENCH_INITRD")
        return args

    os.environ.update(ACCEL=accel, ONLY="bench", TIMEOUT=str(timeout),
                      SUITE_TIMEOUT=str(timeout))
    lab.qemu_args = qemu_args
    t0 = time.time()
    say("booting %s kernel, %s, %s: figures %s ..." % (kernel, config, accel, " ".join(figs)))
    try:
        lines, timed_out, _ = lab.boot(kernel, config, "bench", outdir)
    finally:
        lab.qemu_args = orig
    texts = [t for _, t in lines]
    block, inside = [], False
    for t in texts:
        if t.startswith("@@LAB-BEGIN bench"):
            inside = True
        elif t.startswith("@@LAB-END bench"):
            inside = False
        elif inside and not lab.PRINTK.match(t):
            block.append(t)
    with open(os.path.join(OUT, "bench", rid + ".log"), "w") as f:
        f.write("\n".join(block) + "\n")
    oops = [t for t in texts if lab.PRINTK.match(t) and lab.OOPS.search(t)]
    done = any(t.startswith("@@LAB-DONE") for t in texts)
    status, reason = "ok", ""
    if timed_out:
        status, reason = "failed", "boot timeout after %ds" % timeout
    elif not done:
        status, reason = "failed", "no @@LAB-DONE: crash or truncated log"
    elif oops:
        status, reason = "failed", "kernel oops/warning: " + oops[0]
    say("booting %s kernel, %s, %s done in %ds%s" % (
        kernel, config, accel, time.time() - t0, "" if status == "ok" else ": " + reason))
    if status != "ok" and accel != KVM:
        for t in texts[-20:]:
            print("    | " + t)
    return {"id": rid, "where": "guest", "kernel": kernel, "config": config,
            "accelerator": TCG if accel == "tcg" else KVM,
            "qemu": "-accel %s -cpu %s -smp %s" % (
                accel, lab.CONFIGS[config][0] if accel == "tcg" else "host",
                ENV("SMP", "2")),
            "status": status, "reason": reason,
            "image": os.path.relpath(bz, TOP) if bz else ""}, block


def host_run(figs):
    rid = "host"
    cpu, hyper = host_cpu()
    cmds = [[PROG, "--full", "-f", figures_arg(f for f in figs if f != "5")]
            + ENV("BENCH_ARGS", "").split()]
    if "5" in figs:
        cmds.append([PERCPU_PROG, "--full", "--standin"])
    say("host (%s, kernel %s): figures %s ..." % (cpu, platform.release(), " ".join(figs)))
    t0 = time.time()
    block, rc = [], 0
    for args in cmds:
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900)
        block += p.stdout.decode("utf-8", "replace").splitlines()
        rc = rc or p.returncode
    os.makedirs(os.path.join(OUT, "bench"), exist_ok=True)
    with open(os.path.join(OUT, "bench", rid + ".log"), "w") as f:
        f.write("\n".join(block) + "\n")
    say("host done in %ds" % (time.time() - t0))
    acc = "native (host kernel%s)" % (", itself a virtual machine" if hyper else "")
    return {"id": rid, "where": "host", "kernel": "host",
            "config": "host", "accelerator": acc, "status": "ok" if rc == 0 else "failed",
            "reason": "" if rc == 0 else "benchmark exit %d" % rc}, block


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def main():
    for prog in (PROG, PERCPU_PROG):
        if not os.access(prog, os.X_OK):
            sys.exit("bench: error: %s missing (run 'make tests')" % os.path.relpath(prog, TOP))
    os.makedirs(os.path.join(OUT, "bench"), exist_ok=True)
    t_start = time.time()
    runs, problems = [], []

    plan = [("patched", "fsgsbase", "12345", "tcg"),
            ("patched", "nofsgsbase", "123", "tcg"),
            ("base", "fsgsbase", "123", "tcg")]
    outputs = []
    for kernel, config, figs, accel in plan:
        bz = ENV("BZIMAGE_" + kernel.upper()) or os.path.join(
            BUILD, "obj", kernel, "arch/x86/boot/bzImage")
        if not os.path.exists(bz):
            problems.append("no %s kernel image (%s): run 'make bench' (it builds both)" % (
                kernel, os.path.relpath(bz, TOP)))
            runs.append({"id": "guest-%s-%s-%s" % (kernel, config, accel), "where": "guest",
                         "kernel": kernel, "config": config, "accelerator": TCG,
                         "status": "failed", "reason": problems[-1]})
            outputs.append([])
            continue
        rec, block = guest_run(kernel, config, list(figs), accel,
                               int(ENV("BENCH_TIMEOUT", "600")))
        runs.append(rec)
        outputs.append(block)

    if ENV("BZIMAGE_PERCPU"):
        rec, block = guest_run("percpu", "fsgsbase", ["5"], "tcg",
                               int(ENV("BENCH_TIMEOUT", "600")))
        runs.append(rec)
        outputs.append(block)

    host_skips = []
    if ENV("BENCH_HOST", "1") != "0":
        figs = ["4", "5"]
        hw2 = host_hwcap2()
        if hw2 & HWCAP2_FSGSBASE:
            figs.insert(0, "1")
        else:
            host_skips.append({"fig": "1", "metric": "all", "reason":
                               "host kernel does not set HWCAP2_FSGSBASE (AT_HWCAP2=%#x)" % hw2})
        rec, block = host_run(figs)
        runs.append(rec)
        outputs.append(block)

    if ENV("BENCH_KVM") == "1":
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            runs.append({"id": "guest-patched-fsgsbase-kvm", "where": "guest", "kernel": "patched",
                         "config": "fsgsbase", "accelerator": KVM, "status": "skipped",
                         "reason": "/dev/kvm not usable"})
            outputs.append([])
        else:
            rec, block = guest_run("patched", "fsgsbase", list("1234"), "kvm",
                                   int(ENV("BENCH_KVM_TIMEOUT", "120")))
            if rec["status"] != "ok":
                rec["status"] = "skipped"
                rec["reason"] = "KVM probe: " + rec["reason"] + " (nested KVM does not work here)"
            runs.append(rec)
            outputs.append(block)

    figures = {k: dict(v, measurements=[], skipped=list(
        s for s in host_skips if s["fig"] == k), ratios=[]) for k, v in FIGURES.items()}
    for rec, block in zip(runs, outputs):
        info, meas, skips, tests = parse(block)
        if info:
            rec["cpu_model"] = info.get("cpu", "?")
            rec["kernel_release"] = info.get("release", "?")
            rec["cpus"] = int(info.get("cpus", "0"))
            rec["hwcap2_fsgsbase"] = info.get("hwcap2_fsgsbase") == "1"
        if rec["where"] == "guest" and "cpu_model" in rec:
            rec["cpu_model"] = "%s (QEMU %s; host CPU: %s)" % (
                rec["cpu_model"], rec.get("qemu", ""), host_cpu()[0])
        for name, ok, rest in tests:
            if not ok:
                problems.append("%s: %s is broken (see %s)" % (
                    rec["id"], name, os.path.relpath(os.path.join(OUT, "bench", rec["id"] + ".log"), TOP)))
        if rec["status"] == "failed":
            problems.append("%s: %s" % (rec["id"], rec["reason"]))
        rec["broken"] = [name for name, ok, _ in tests if not ok]
        for m in meas:
            fig = m.pop("fig")
            figures[fig]["measurements"].append(dict(
                m, run=rec["id"], accelerator=rec["accelerator"],
                cpu_model=rec.get("cpu_model", "?"),
                kernel="%s (%s)" % (rec["kernel"], rec.get("kernel_release", "?")),
                config=rec["config"]))
        for s in skips:
            figures[s.pop("fig")]["skipped"].append(dict(s, run=rec["id"]))

    # Ratios, all between runs of this invocation.
    def med(fig, run, metric):
        for m in figures[fig]["measurements"]:
            if m["run"] == run and m["metric"] == metric:
                return m["median"]
        return None

    ids = [r["id"] for r in runs]
    for run in ids:
        for ins, sysc in (("rdfsbase", "arch_prctl_get_fs"), ("wrfsbase", "arch_prctl_set_fs"),
                          ("rdgsbase", "arch_prctl_get_gs"), ("wrgsbase", "arch_prctl_set_gs")):
            r = ratio(med("1", run, sysc), med("1", run, ins))
            if r:
                figures["1"]["ratios"].append({"run": run, "name": "%s / %s" % (sysc, ins),
                                               "value": r, "meaning": "times faster with the instruction"})
        for v in FIG_ORDER["4"][1:]:
            r = ratio(med("4", run, "shared_atomic"), med("4", run, v))
            if r:
                figures["4"]["ratios"].append({"run": run, "name": "shared_atomic / " + v,
                                               "value": r, "meaning": "times faster than one shared atomic"})
        for m in figures["5"]["measurements"]:
            rseq = "rseq_add-%s-t%s" % (m["pattern"], m["threads"])
            r = ratio(m["median"], med("5", run, rseq)) if m["run"] == run else None
            if r and m["method"] != "rseq_add":
                figures["5"]["ratios"].append({"run": run, "name": "%s / %s" % (m["metric"], rseq),
                                               "value": r, "meaning": "< 1: faster than rseq"})
    pf, pn, bf = ("guest-patched-fsgsbase-tcg", "guest-patched-nofsgsbase-tcg",
                  "guest-base-fsgsbase-tcg")
    for fig in ("2", "3"):
        for metric in FIG_ORDER[fig]:
            for other, what in ((pn, "patched nofsgsbase / patched fsgsbase"),
                                (bf, "base kernel / patched kernel (both fsgsbase)")):
                r = ratio(med(fig, other, metric), med(fig, pf, metric))
                if r:
                    figures[fig]["ratios"].append({"run": "%s vs %s" % (other, pf), "name":
                                                   "%s: %s" % (metric, what), "value": r,
                                                   "meaning": "> 1: the patched fsgsbase boot is faster"})

    cpu, hyper = host_cpu()
    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                              stdout=subprocess.PIPE, text=True).stdout.strip(),
        "series": ENV("SERIES_VERSION", ""),
        "note": "Timings labelled 'tcg (emulated)' are QEMU TCG emulator timings: "
                "they are not hardware costs. Each figure is the median of n repetitions "
                "(p25-p75 and min-max give the spread); ratios are between runs of this "
                "one 'make bench' invocation.",
        "host": {"cpu_model": cpu, "kernel": platform.release(), "hypervisor": hyper,
                 "hwcap2_fsgsbase": bool(host_hwcap2() & HWCAP2_FSGSBASE)},
        "duration_s": round(time.time() - t_start),
        "runs": runs,
        "figures": figures,
        "problems": problems,
    }
    with open(os.path.join(OUT, "bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    say("wrote build/results/bench.json")
    import report  # bench/report.py: chart and table
    report.chart(result, os.path.join(OUT, "bench.png"))
    say("wrote build/results/bench.png")
    md = report.table(result)
    with open(os.path.join(OUT, "bench.md"), "w") as f:
        f.write(md)
    if report.update_readme(os.path.join(TOP, "README.md"), md):
        say("updated the Benchmarks table in README.md")
    print(md)
    for p in problems:
        say("error: " + p)
    say("done in %ds" % (time.time() - t_start))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
