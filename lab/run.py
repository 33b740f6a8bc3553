#!/usr/bin/env python3
"""Boot the lab kernel in QEMU and collect results.

  run.py demo            boot once (first config), run the demo, show it
  run.py check           boot every config, run the suites, write results
  run.py shell           interactive busybox shell (serial on this terminal)
  run.py stress          boot the first config, run tests/fsgs_stress.c for
                         STRESS_SECONDS (results in <kernel>/stress-<config>/,
                         not in summary.json)

Knobs come from the environment (the Makefile exports them): KERNEL, DEBUG,
CONFIGS, TIMEOUT, SUITE_TIMEOUT, ACCEL, SMP, MEM, ONLY, V, STRESS_SECONDS.
DEBUG=1 boots build/obj/<kernel>-debug and files its results as kernel
'<kernel>-debug'. Results: build/results/<kernel>/<config>/{serial.log,
<suite>.ktap,boot.ktap}, build/results/summary.json. The last line of
'check' is 'N passed, N failed, N skipped'.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
ENV = os.environ.get

# Boot configurations: QEMU -cpu model and extra kernel command line.
CONFIGS = {
    "fsgsbase": ("max", ""),
    "nofsgsbase": ("max", "nofsgsbase"),
    "nocpu": ("max,-fsgsbase", ""),
}
# Kernel messages that mean the kernel is hurt. Besides oopses and WARN:
# what the debug kernel (DEBUG=1, configs/debug/) reports: KASAN ("BUG:
# KASAN: ..."), lockdep ("WARNING: possible circular locking dependency",
# "inconsistent lock state", "suspicious RCU usage", "INFO: lockdep is
# turned off"), might_sleep ("BUG: sleeping function called from invalid
# context"), DEBUG_PREEMPT ("BUG: using smp_processor_id() in preemptible"),
# UBSAN, hung tasks ("INFO: task ... blocked for more than"), soft lockups
# ("BUG: soft lockup") and RCU stalls ("INFO: ... detected stalls").
OOPS = re.compile(r"Kernel panic|BUG: |Oops|general protection fault|"
                  r"WARNING: |Call Trace:|kernel BUG|unable to handle|"
                  r"KASAN: |UBSAN: |INFO: |blocked for more than|detected stall|"
                  r"possible circular locking|inconsistent lock state|"
                  r"suspicious RCU usage|locking correctness validator")
PRINTK = re.compile(r"^\[\s*\d+\.\d+\] ")
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1bc|\r")
RESULT = re.compile(r"^(not ok|ok) (\d+) ?-? ?([^#]*?)\s*(?:#\s*(.*))?$")


def say(msg):
    print("lab: " + msg, flush=True)


def kimage(kernel):
    """The bzImage under test: KIMAGE if set (a kernel built elsewhere,
    e.g. a work-in-progress tree), else build/obj/<kernel>'s."""
    return ENV("KIMAGE") or os.path.join(BUILD, "obj", kernel, "arch/x86/boot/bzImage")


def qemu_args(kernel, config, mode, extra_serial_port=None, qmp=None):
    """Every QEMU argument of a boot, in one place."""
    cpu, cmdline_extra = CONFIGS[config]
    obj = os.path.join(BUILD, "obj", kernel)
    accel = ENV("ACCEL", "tcg")
    cmdline = ["console=ttyS0", "panic=-1", "loglevel=5", "rdinit=/init",
               "lab.mode=" + mode, "lab.config=" + config,
               "lab.series=" + ENV("SERIES_VERSION", "unknown"),
               "lab.stimeout=" + ENV("SUITE_TIMEOUT", "600")]
    if ENV("ONLY"):
        cmdline.append("lab.only=" + ENV("ONLY"))
    if mode == "stress":
        cmdline.append("lab.stress=" + ENV("STRESS_SECONDS", "600"))
    if cmdline_extra:
        cmdline.append(cmdline_extra)
    if kernel.endswith("-debug"):
        # 4-level paging: with LA57, identify_cpu() clears the boot CPU's
        # capabilities for a moment, and KASAN then takes a direct-map
        # address in an interrupt for a wild access (upstream, not ours:
        # "kasan: Fix false-positive wild-memory-access on x86 under
        # 5-level paging", LKML, June 2026; README "Debug kernel").
        cmdline.append("no5lvl")
    args = ["qemu-system-x86_64", "-accel", accel, "-cpu", cpu,
            "-smp", ENV("SMP", "2"), "-m", ENV("MEM", "1G"),
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "mon:stdio",
            "-kernel", kimage(kernel),
            "-initrd", os.path.join(BUILD, "initramfs.cpio"),
            "-append", " ".join(cmdline)]
    if accel == "kvm" and cpu == "max":
        args[args.index("-cpu") + 1] = "host"
    elif accel == "kvm":
        args[args.index("-cpu") + 1] = "host,-fsgsbase"
    if extra_serial_port:
        args += ["-serial",
                 "tcp:127.0.0.1:%d,server=on,wait=off" % extra_serial_port]
    if qmp:
        # QMP for host helpers (e.g. inject-nmi); never waits for a client.
        args += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
    return args


def read_suites():
    """tests/suites: [(name, configs, command)]."""
    suites = []
    with open(os.path.join(TOP, "tests", "suites")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, configs, cmd = line.split(None, 2)
                suites.append((name, configs, cmd))
    return suites


def wanted(suites, config):
    only = ENV("ONLY")
    return [s for s in suites
            if (s[1] == "all" or config in s[1].split(","))
            and (not only or only == s[0])]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def host_helper(name):
    path = os.path.join(TOP, "tests", "host", name)
    return path if os.access(path, os.X_OK) else None


def boot(kernel, config, mode, outdir, suites=()):
    """One boot. Returns (lines [(t, text)], timed_out, helpers)."""
    port = qmp = None
    helpers = {s[0]: host_helper(s[0]) for s in suites if host_helper(s[0])}
    if helpers:
        port = free_port()
        qmp = os.path.join(outdir, "qmp.sock")
    args = qemu_args(kernel, config, mode, port, qmp)
    if ENV("V") == "1":
        say("qemu: " + " ".join(args))
    timeout = float(ENV("TIMEOUT", "900"))
    lines, running = [], {}
    t0 = time.time()
    log = open(os.path.join(outdir, "serial.log"), "w")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    in_demo = [False]

    def reader():
        for raw in proc.stdout:
            text = ANSI.sub("", raw.decode("utf-8", "replace").rstrip("\r\n"))
            lines.append((time.time() - t0, text))
            log.write(text + "\n")
            log.flush()
            if text.startswith("@@LAB-BEGIN demo"):
                in_demo[0] = True
            elif text.startswith("@@LAB-END demo"):
                in_demo[0] = False
            elif ENV("V") == "1" or (in_demo[0] and not PRINTK.match(text)):
                print("    " + text, flush=True)
            m = re.match(r"@@LAB-BEGIN (\S+)", text)
            if m and m.group(1) in helpers:
                env = dict(os.environ, LAB_PORT=str(port), LAB_QMP=qmp, LAB_CONFIG=config,
                           LAB_KERNEL=kernel, LAB_RESULTS=outdir,
                           LAB_VMLINUX=os.path.join(BUILD, "obj", kernel, "vmlinux"))
                out = open(os.path.join(outdir, m.group(1) + ".host.ktap"), "w")
                running[m.group(1)] = subprocess.Popen(
                    [helpers[m.group(1)]], env=env, stdout=out,
                    stderr=subprocess.STDOUT, cwd=os.path.join(TOP, "tests"))

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        proc.wait()
    th.join(5)
    log.close()
    for p in running.values():
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    return lines, timed_out, list(running)


def parse_ktap(block):
    """Top-level results of one suite's output: [(name, outcome, t, reason)]
    and the plan (or None). block: [(t, text)] without kernel messages."""
    tests, plan = [], None
    for t, text in block:
        if re.match(r"^1\.\.(\d+)", text) and plan is None:
            plan = int(text[3:].split()[0]) if text[3:].strip() else 0
            if plan == 0 and "# SKIP" in text.upper():
                # KTAP: the whole program skipped ("1..0 # SKIP reason").
                tests.append(("(all)", "skip", t, text.split("#", 1)[1].strip()))
            continue
        m = RESULT.match(text)
        if not m:
            if text.startswith("Bail out!"):
                tests.append(("bail-out", "fail", t, text))
            continue
        ok, _, name, directive = m.groups()
        directive = directive or ""
        if directive.upper().startswith("SKIP"):
            outcome = "skip"
        elif ok == "ok" or directive.upper().startswith("XFAIL"):
            outcome = "pass"
        else:
            outcome = "fail"
        tests.append((name.strip() or "test", outcome, t, directive))
    return tests, plan


def collect(kernel, config, suites, lines, timed_out, outdir):
    """Split the serial log into suites, write KTAP files, return results."""
    results, blocks, current, info = [], {}, None, {}
    ends, done, oops_at = {}, False, None
    t_begin = {}
    for i, (t, text) in enumerate(lines):
        if PRINTK.match(text):
            if oops_at is None and OOPS.search(text):
                oops_at = i
            continue
        m = re.match(r"@@LAB-(BEGIN|END|INFO|DONE) ?(\S*) ?(.*)", text)
        if m:
            kind, name, rest = m.groups()
            if kind == "BEGIN":
                current, blocks[name], t_begin[name] = name, [], t
            elif kind == "END":
                ends[name] = int(rest.split("rc=")[1]) if "rc=" in rest else -1
                current = None
            elif kind == "INFO":
                info = dict(kv.split("=", 1) for kv in (name + " " + rest).split() if "=" in kv)
            else:
                done = True
            continue
        if current is not None:
            blocks[current].append((t, text))

    def add(suite, name, outcome, duration, reason=""):
        results.append({"kernel": kernel, "config": config, "suite": suite,
                        "name": name, "outcome": outcome,
                        "duration": round(duration, 3), "reason": reason})

    total = lines[-1][0] if lines else 0.0
    # The lab's own checks of the boot.
    add("lab", "boot", "pass" if done and not timed_out else "fail", total,
        "timeout" if timed_out else "" if done else "no @@LAB-DONE: crash or truncated log")
    cpus = info.get("cpus")
    add("lab", "cpus", "pass" if cpus == ENV("SMP", "2") else "fail", 0,
        "guest sees %s CPU(s), want %s" % (cpus, ENV("SMP", "2")))
    want_fsgs = "1" if config == "fsgsbase" else "0"
    add("lab", "fsgsbase-state", "pass" if info.get("fsgsbase") == want_fsgs else "fail", 0,
        "fsgsbase in /proc/cpuinfo: %s, want %s" % (info.get("fsgsbase"), want_fsgs))
    add("lab", "no-oops", "pass" if oops_at is None else "fail", 0,
        "" if oops_at is None else lines[oops_at][1])

    ktap_all = ["TAP version 13",
                "# lab: kernel=%s config=%s release=%s cpus=%s fsgsbase=%s"
                % (kernel, config, info.get("release"), cpus, info.get("fsgsbase")),
                "1..%d" % len(suites)]
    for n, (suite, _, _) in enumerate(suites, 1):
        block = blocks.get(suite)
        with open(os.path.join(outdir, suite + ".ktap"), "w") as f:
            f.write("".join(text + "\n" for _, text in block or []))
        tests, plan = parse_ktap(block or [])
        hostfile = os.path.join(outdir, suite + ".host.ktap")
        if os.path.exists(hostfile):
            with open(hostfile) as f:
                htests, _ = parse_ktap([(0.0, x.rstrip("\n")) for x in f])
            tests += [("host:" + a, b, c, d) for a, b, c, d in htests]
        last = t_begin.get(suite, 0.0)
        for name, outcome, t, reason in tests:
            add(suite, name, outcome, max(t - last, 0.0), reason)
            last = max(t, last)
        rc = ends.get(suite)
        problem = None
        if block is None:
            problem = "suite did not start"
        elif rc is None:
            problem = "suite did not finish (crash, hang or truncated log)"
        elif plan is not None and len([x for x in tests if not x[0].startswith("host:")]) < plan:
            problem = "only %d of %d planned results" % (len(tests), plan)
        elif rc == 124 or rc == 143:
            problem = "suite timed out in the guest (SUITE_TIMEOUT)"
        elif rc not in (0, 4) and not any(x[1] == "fail" for x in tests):
            problem = "exit status %d without a failed test" % rc
        elif not tests:
            problem = "no KTAP results"
        if problem:
            add(suite, "(suite)", "fail", 0, problem)
        ok = not problem and not any(x[1] == "fail" for x in tests)
        ktap_all.append("# Subtest: " + suite)
        for _, text in block or []:
            ktap_all.append("    " + text)
        ktap_all.append("%s %d %s%s" % ("ok" if ok else "not ok", n, suite,
                                        "" if not problem else " # " + problem))
    with open(os.path.join(outdir, "boot.ktap"), "w") as f:
        f.write("\n".join(ktap_all) + "\n")

    verbose = ENV("V") == "1"
    for text in ktap_all:
        s = text.strip()
        if verbose or not s.startswith("#") or s.startswith("# Subtest") \
                or s.startswith("# lab:") or s.startswith("# SKIP"):
            print(text)
    if timed_out or not done:
        say("error: %s/%s: %s; serial log tail (%s):" % (
            kernel, config, "boot timeout after %ss" % ENV("TIMEOUT", "900")
            if timed_out else "no result (crash or truncated log)",
            os.path.relpath(os.path.join(outdir, "serial.log"), TOP)))
        for _, text in lines[-30:]:
            print("    | " + text)
        print()
    if oops_at is not None:
        say("error: %s/%s: kernel oops/panic/warning:" % (kernel, config))
        for _, text in lines[oops_at:oops_at + 40]:
            print("    | " + text)
    return results


def load_summary():
    try:
        with open(os.path.join(BUILD, "results", "summary.json")) as f:
            return json.load(f)["tests"]
    except (OSError, ValueError, KeyError):
        return []


def compare_with_patched(base_results, patched_results):
    """KERNEL=base: a cell differs when it fails on base (the patched kernel
    passes or skips it under 'make check'). Those cells are compared with
    tests/expected-base-differences.txt; the patched kernel's last outcome is
    shown alongside when known. Returns the number of surprises."""
    expected, may_pass = set(), set()
    path = os.path.join(TOP, "tests", "expected-base-differences.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].split()
                # "may-pass <cell>": a race that base loses only sometimes
                racy = line[:1] == ["may-pass"]
                line = line[1:] if racy else line
                if len(line) >= 3:
                    cell = (line[0], line[1], " ".join(line[2:]))
                    (may_pass if racy else expected).add(cell)
    patched = {(r["config"], r["suite"], r["name"]): r["outcome"] for r in patched_results}
    base = {(r["config"], r["suite"], r["name"]): r["outcome"] for r in base_results}
    differ = {k for k, o in base.items() if o == "fail"}
    ran_configs = {r["config"] for r in base_results}
    surprises = 0
    print("# base vs patched: cells that fail on base (patched: %s)" %
          ("its last results" if patched_results else "no results yet"))
    listed = expected | may_pass
    for key in sorted(differ | {e for e in expected if e[0] in ran_configs} |
                      (may_pass & base.keys())):
        if key in differ and key in listed:
            tag = "expected"
        elif key in may_pass:
            tag = "may-pass: passed on base this time"
        elif key in differ:
            tag, surprises = "UNEXPECTED difference" + (
                " (fails on patched too)" if patched.get(key) == "fail" else ""), surprises + 1
        else:
            tag, surprises = "UNEXPECTED: listed, but no difference", surprises + 1
        if tag != "expected" or ENV("V") == "1":
            print("#   %-10s %-22s %-48s base=%-4s patched=%-4s %s" % (
                key + (base.get(key, "none"), patched.get(key, "?"), tag)))
    print("# %d cell(s) differ, %d expected (V=1 lists them), %d unexpected; "
          "list: tests/expected-base-differences.txt" %
          (len(differ), len(differ & listed), surprises))
    return surprises


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "check"
    # DEBUG=1: the debug kernel, build/obj/<kernel>-debug; its results are
    # kernel '<kernel>-debug' (build/results/<kernel>-debug/, summary.json).
    debug = "-debug" if ENV("DEBUG") == "1" else ""
    kernel = ENV("KERNEL", "patched") + debug
    configs = ENV("CONFIGS", "fsgsbase nofsgsbase nocpu").replace(",", " ").split()
    for c in configs:
        if c not in CONFIGS:
            sys.exit("lab: error: unknown config '%s' (known: %s)" % (c, " ".join(CONFIGS)))
    if not shutil.which("qemu-system-x86_64"):
        sys.exit("lab: error: QEMU missing: qemu-system-x86_64 not found (run 'make deps')")
    bz = kimage(kernel)
    if not os.path.exists(bz):
        sys.exit("lab: error: no kernel image %s (run 'make')" % os.path.relpath(bz, TOP))

    if mode == "shell":
        say("shell: %s kernel, config %s; 'poweroff -f' (or Ctrl-A x) to leave" % (kernel, configs[0]))
        args = qemu_args(kernel, configs[0], "shell")
        os.execvp(args[0], args)

    suites = read_suites()
    if mode == "stress":
        # fsgs_stress takes at most STRESS_SECONDS + 190 s (see its header).
        need = int(ENV("STRESS_SECONDS", "600")) + 210
        if float(ENV("TIMEOUT", "900")) < need + 30:
            sys.exit("lab: error: TIMEOUT must be at least STRESS_SECONDS + 240 (%d)" % (need + 30))
        os.environ["SUITE_TIMEOUT"] = str(need)  # the guest's limit for the one suite
        suites = [("stress", "all", "fsgs_stress")]
    results = []
    for config in configs if mode == "check" else configs[:1]:
        outdir = os.path.join(BUILD, "results", kernel,
                              "stress-" + config if mode == "stress" else config)
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        want = wanted(suites, config) if mode != "demo" else [("demo", "all", "demo")]
        t0 = time.time()
        say("booting %s kernel, config %s (%s, %d suite(s)) ..." % (
            kernel, config, ENV("ACCEL", "tcg"), len(want)))
        lines, timed_out, _ = boot(kernel, config, mode, outdir, want)
        say("booting %s kernel, config %s done in %ds" % (kernel, config, time.time() - t0))
        results += collect(kernel, config, want, lines, timed_out, outdir) \
            if mode in ("check", "stress") else []
        if mode == "demo":
            done = any(t.startswith("@@LAB-END demo") for _, t in lines)
            oops = [t for _, t in lines if PRINTK.match(t) and OOPS.search(t)]
            if timed_out or not done or oops:
                for _, text in lines[-30:]:
                    print("    | " + text)
                print()
                sys.exit("lab: error: demo did not complete (%s)" % (
                    "boot timeout" if timed_out else "kernel oops/panic" if oops
                    else "crash or truncated log"))
            return 0

    # summary.json keeps the other kernel's results for side-by-side reading.
    old = load_summary()
    keep = [r for r in old if r["kernel"] != kernel
            or (r["config"] not in configs) or ENV("ONLY")]
    os.makedirs(os.path.join(BUILD, "results"), exist_ok=True)
    if mode == "check":
        with open(os.path.join(BUILD, "results", "summary.json"), "w") as f:
            json.dump({"base": ENV("BASE_VERSION", ""), "series": ENV("SERIES_VERSION", ""),
                       "tests": keep + results}, f, indent=1)

    failed = [r for r in results if r["outcome"] == "fail"]
    rc = 1 if failed else 0
    compare = mode == "check" and kernel == "base" + debug
    if compare:
        patched = [r for r in old if r["kernel"] == "patched" + debug and r["config"] in configs]
        surprises = compare_with_patched(results, patched)
        rc = 1 if surprises else 0
    elif failed:
        print("# failed:")
        for r in failed:
            print("#   %s %s %s %s" % (r["config"], r["suite"], r["name"], r["reason"]))
    npass = len([r for r in results if r["outcome"] == "pass"])
    nskip = len([r for r in results if r["outcome"] == "skip"])
    if compare:
        # The judgement on base is the comparison: a cell passes when its
        # outcome is the expected one (an expected difference included).
        print("# base kernel raw outcomes: %d passed, %d failed, %d skipped" %
              (npass, len(failed), nskip))
        print("%d passed, %d failed, %d skipped" %
              (npass + len(failed) - surprises, surprises, nskip))
    else:
        print("%d passed, %d failed, %d skipped" % (npass, len(failed), nskip))
    return rc


if __name__ == "__main__":
    sys.exit(main())
