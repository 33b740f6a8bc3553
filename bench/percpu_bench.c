// SPDX-License-Identifier: GPL-2.0
/*
 * percpu_bench: a per-CPU counter increment through a per-CPU GS base
 * (issue 6), against rseq, sched_getcpu() + atomic and one shared atomic,
 * all in the same run (figure 5 of 'make bench').
 *
 * Methods, each incrementing a 64-bit counter:
 *   gs_percpu          incq %gs:(reg) / incq %gs:0 with ARCH_SET_GS_PERCPU:
 *                      GS base = base + cpu * stride on every CPU
 *   gs_thread_standin  (--standin, kernels without the feature) the same
 *                      instructions with a per-thread GS base (WRGSBASE, or
 *                      ARCH_SET_GS without FSGSBASE): not per-CPU, only the
 *                      instruction cost is comparable
 *   rseq_add           an rseq critical section (cpu_id check, addq commit)
 *                      on the current CPU's slot, retried on abort
 *   getcpu_atomic      sched_getcpu() + lock add on that CPU's slot
 *   shared_atomic      lock add on one shared counter
 *   plain_thread       control: plain incq (reg) on a per-thread slot, no
 *                      segment prefix (not per-CPU)
 * Patterns: spread8 (round robin over 8 counters, one cache line each, in
 * the slot) and one (always the same counter). Threads: 1, n, 2n, 4n for n
 * online CPUs, unpinned. Figure: CPU time per increment, the sum of the
 * threads' CPU time (CLOCK_THREAD_CPUTIME_ID, loop only) over all their
 * increments; median of the repetitions (each about 40 ms of CPU time).
 *
 * Every run checks that the counters sum to threads x increments (per
 * thread for per-thread slots); with the real feature also the ABI
 * (GET/CLEAR, selector 0x3b, -EINVAL cases, inheritance by clone) and,
 * inside an rseq critical section, that %gs addresses the current CPU's
 * slot. A failed check is 'not ok'; a timing never is.
 *
 * Output: KTAP, one test per method, and per measurement
 *   # @bench fig=5 metric=<method>-<pattern>-t<N> unit=ns/increment median=..
 * parsed by bench/run.py (the format of fsgs_bench).
 *
 * Usage: percpu_bench [--tiny|--full] [--standin] [-r reps] [-t ms]
 * Without --tiny/--full: full when the kernel command line has lab.bench=
 * with a 5 in it, all skipped when lab.bench= lacks it, tiny otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include "bench_stats.h"

/* The feature's user ABI (issue 6), until the installed headers have it. */
#ifndef ARCH_SET_GS_PERCPU
#define ARCH_SET_GS_PERCPU	0x1005	/* arg2: const struct arch_gs_percpu * */
struct arch_gs_percpu {
	__u64 base;
	__u64 stride;
};
#endif
#ifndef ARCH_GET_GS_PERCPU
#define ARCH_GET_GS_PERCPU	0x1006	/* arg2: struct arch_gs_percpu * (stride 0 = off) */
#endif
#ifndef ARCH_CLEAR_GS_PERCPU
#define ARCH_CLEAR_GS_PERCPU	0x1007	/* arg2: 0 */
#endif
#ifndef ARCH_GS_PERCPU_SELECTOR
#define ARCH_GS_PERCPU_SELECTOR	0x3b	/* GDT entry 7, RPL 3 */
#endif
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
#define RSEQ_SIGNATURE 0x53053053	/* glibc registers rseq with it (x86) */

/*
 * A slot (one per CPU, or per thread) is NCOUNT counters on their own cache
 * lines and one line holding the slot's tag: 576 bytes, a multiple of 64.
 */
#define NCOUNT	8
#define LINE	64
#define STRIDE	((NCOUNT + 1) * LINE)
#define TAG_OFF	(NCOUNT * LINE)
#define TAG(i)	(0x5107000000000000ull | (unsigned)(i))

enum { GS, RSEQ, GETCPU, SHARED, PLAIN, NMETHOD };
enum { SPREAD, ONE };
static const char *method_name[NMETHOD] = {
	"gs_percpu", "rseq_add", "getcpu_atomic", "shared_atomic", "plain_thread",
};
static const char *const pattern_name[] = { "spread8", "one" };

static int opt_tiny = -1, opt_standin, opt_reps = 11;
static double opt_target_ns = 40e6;	/* CPU time of one repetition, all threads */
#define TINY_ITERS 5000

static enum { GS_FEATURE, GS_STANDIN, GS_NONE } gs_mode;
static char skip_reason[NMETHOD][200];
static int have_fsgsbase;
static char *area;		/* nslots slots, below 4 GiB */
static int nslots, npossible;
static long shared_ctr[NCOUNT * LINE / 8] __attribute__((aligned(LINE)));
static pthread_barrier_t barrier;

static long *counter(char *slot, int k)
{
	return (long *)(slot + k * LINE);
}

static char *slot_of(int i)
{
	return area + (size_t)i * STRIDE;
}

/* ---- the increments ------------------------------------------------------ */

static struct rseq *rseq_area(void)
{
	return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/*
 * One increment of the counter at offset off in the current CPU's slot.
 * The critical section runs from 1 to 2: the cpu_id check, then the add as
 * its single commit instruction. Preempted, migrated or signalled inside
 * it, the kernel resumes at 4 (after the signature it verifies), which
 * jumps back to retry; a changed CPU takes the same way. The descriptor
 * (struct rseq_cs: version, flags, start_ip, post_commit_offset, abort_ip)
 * lives in its own section.
 */
static inline __attribute__((always_inline)) void rseq_inc(struct rseq *rs, long off, long *aborts)
{
	unsigned int cpu;

retry:
	cpu = __atomic_load_n(&rs->cpu_id_start, __ATOMIC_RELAXED);
	asm goto(".pushsection __rseq_cs, \"aw\"\n\t"
		 ".balign 32\n"
		 "73:\n\t"
		 ".long 0, 0\n\t"
		 ".quad 71f, 72f - 71f, 74f\n\t"
		 ".popsection\n\t"
		 "leaq 73b(%%rip), %%rax\n\t"
		 "movq %%rax, %c[cs](%[rs])\n"
		 "71:\n\t"
		 "cmpl %[cpu], %c[cpu_id](%[rs])\n\t"
		 "jne %l[abort]\n\t"
		 "addq $1, (%[ctr])\n"
		 "72:\n\t"
		 ".pushsection __rseq_failure, \"ax\"\n\t"
		 /* ud1 <sig>(%rip), %edi: the signature, decodable. */
		 ".byte 0x0f, 0xb9, 0x3d\n\t"
		 ".long %c[sig]\n"
		 "74:\n\t"
		 "jmp %l[abort]\n\t"
		 ".popsection"
		 : : [rs] "r"(rs), [cpu] "r"(cpu),
		   [ctr] "r"(slot_of(cpu) + off),
		   [cs] "i"(offsetof(struct rseq, rseq_cs)),
		   [cpu_id] "i"(offsetof(struct rseq, cpu_id)),
		   [sig] "i"(RSEQ_SIGNATURE)
		 : "rax", "memory", "cc" : abort);
	return;
abort:
	(*aborts)++;
	goto retry;
}

/* off of the i-th increment: round robin over the counters, or always 0. */
#define OFF(pattern, i) ((pattern) == SPREAD ? ((i) & (NCOUNT - 1)) * LINE : 0)

static __attribute__((noinline)) long loop(int method, int pattern, long n, char *mine)
{
	struct rseq *rs = rseq_area();
	long i, aborts = 0;

	switch (method) {
	case GS:
		if (pattern == SPREAD)
			for (i = 0; i < n; i++)
				asm volatile("incq %%gs:(%0)" : : "r"(OFF(SPREAD, i)) : "memory");
		else
			for (i = 0; i < n; i++)
				asm volatile("incq %%gs:0" : : : "memory");
		break;
	case RSEQ:
		for (i = 0; i < n; i++)
			rseq_inc(rs, OFF(pattern, i), &aborts);
		break;
	case GETCPU:
		for (i = 0; i < n; i++)
			__atomic_fetch_add((long *)(slot_of(sched_getcpu()) + OFF(pattern, i)), 1,
					   __ATOMIC_RELAXED);
		break;
	case SHARED:
		for (i = 0; i < n; i++)
			__atomic_fetch_add((long *)((char *)shared_ctr + OFF(pattern, i)), 1,
					   __ATOMIC_RELAXED);
		break;
	case PLAIN:
		if (pattern == SPREAD)
			for (i = 0; i < n; i++)
				asm volatile("incq (%0)" : : "r"(mine + OFF(SPREAD, i)) : "memory");
		else
			for (i = 0; i < n; i++)
				asm volatile("incq (%0)" : : "r"(mine) : "memory");
		break;
	}
	return aborts;
}

/* ---- checks of the per-CPU GS base --------------------------------------- */

static long gs_percpu(int code, struct arch_gs_percpu *cfg)
{
	return syscall(SYS_arch_prctl, code, cfg);
}

static unsigned short gs_selector(void)
{
	unsigned short s;

	asm volatile("mov %%gs, %0" : "=r"(s));
	return s;
}

/*
 * Read rseq's cpu_id and the tag of the slot %gs addresses with no
 * preemption or migration between them: inside an rseq critical section
 * (an abort retries), so a mismatch is the kernel's, never a race.
 */
static int gs_slot_matches_cpu(struct rseq *rs, unsigned int *cpu, unsigned long *tag)
{
retry:
	asm goto(".pushsection __rseq_cs, \"aw\"\n\t"
		 ".balign 32\n"
		 "83:\n\t"
		 ".long 0, 0\n\t"
		 ".quad 81f, 82f - 81f, 84f\n\t"
		 ".popsection\n\t"
		 "leaq 83b(%%rip), %%rax\n\t"
		 "movq %%rax, %c[cs](%[rs])\n"
		 "81:\n\t"
		 "movl %c[cpu_id](%[rs]), %%eax\n\t"
		 "movq %%gs:%c[tag], %%rdx\n\t"
		 "movq %%rdx, (%[tagp])\n\t"
		 "movl %%eax, (%[cpup])\n"
		 "82:\n\t"
		 ".pushsection __rseq_failure, \"ax\"\n\t"
		 ".byte 0x0f, 0xb9, 0x3d\n\t"
		 ".long %c[sig]\n"
		 "84:\n\t"
		 "jmp %l[abort]\n\t"
		 ".popsection"
		 : : [rs] "r"(rs), [cpup] "r"(cpu), [tagp] "r"(tag),
		   [cs] "i"(offsetof(struct rseq, rseq_cs)),
		   [cpu_id] "i"(offsetof(struct rseq, cpu_id)),
		   [tag] "i"(TAG_OFF), [sig] "i"(RSEQ_SIGNATURE)
		 : "rax", "rdx", "memory", "cc" : abort);
	return *tag == TAG(*cpu);
abort:
	goto retry;
}

static int rseq_ok(void)
{
	return __rseq_size > 0 && (int)rseq_area()->cpu_id >= 0;
}

/* In a thread: the per-CPU GS base it inherited is in force, on its CPU. */
static void check_inherited(const struct arch_gs_percpu *want, char *err, size_t len)
{
	struct arch_gs_percpu got = { 0, 0 };
	unsigned long tag;
	unsigned int cpu;
	int i;

	if (gs_percpu(ARCH_GET_GS_PERCPU, &got) || got.base != want->base ||
	    got.stride != want->stride) {
		snprintf(err, len, "thread: ARCH_GET_GS_PERCPU %#llx/%llu (%s), want the inherited %#llx/%llu",
			 got.base, got.stride, strerror(errno), want->base, want->stride);
		return;
	}
	if (gs_selector() != ARCH_GS_PERCPU_SELECTOR) {
		snprintf(err, len, "thread: GS selector %#x, want %#x", gs_selector(),
			 ARCH_GS_PERCPU_SELECTOR);
		return;
	}
	for (i = 0; rseq_ok() && i < 50; i++) {
		if (!gs_slot_matches_cpu(rseq_area(), &cpu, &tag)) {
			snprintf(err, len, "thread on CPU %u: %%gs:%d holds %#lx, want %#llx (CPU %u's slot)",
				 cpu, TAG_OFF, tag, TAG(cpu), cpu);
			return;
		}
		sched_yield();	/* a chance to migrate before the next sample */
	}
}

/*
 * The main thread: probe the feature, then check its ABI. Returns 0 when
 * the feature is there (and left cleared), -1 when it is absent (EINVAL).
 */
static int gs_probe(void)
{
	struct arch_gs_percpu cfg = { (unsigned long)area, STRIDE }, got, bad;
	int ret;

	if (gs_percpu(ARCH_SET_GS_PERCPU, &cfg)) {
		if (errno != EINVAL)
			fail("ARCH_SET_GS_PERCPU(base %#llx, stride %d): %s, want 0 or EINVAL (no feature)",
			     cfg.base, STRIDE, strerror(errno));
		return -1;
	}
	memset(&got, 0xff, sizeof(got));
	if (gs_percpu(ARCH_GET_GS_PERCPU, &got) || got.base != cfg.base || got.stride != cfg.stride)
		fail("ARCH_GET_GS_PERCPU after SET: %#llx/%llu, want %#llx/%llu",
		     got.base, got.stride, cfg.base, cfg.stride);
	if (gs_selector() != ARCH_GS_PERCPU_SELECTOR)
		fail("GS selector after SET: %#x, want %#x", gs_selector(), ARCH_GS_PERCPU_SELECTOR);
	if (gs_percpu(ARCH_CLEAR_GS_PERCPU, NULL))
		fail("ARCH_CLEAR_GS_PERCPU: %s", strerror(errno));
	memset(&got, 0xff, sizeof(got));
	if (gs_percpu(ARCH_GET_GS_PERCPU, &got) || got.stride != 0)
		fail("ARCH_GET_GS_PERCPU after CLEAR: stride %llu (%s), want 0", got.stride,
		     strerror(errno));
	/* The constraints: stride a non-zero multiple of 64, all below 4 GiB. */
	bad = (struct arch_gs_percpu){ cfg.base, 32 };
	ret = gs_percpu(ARCH_SET_GS_PERCPU, &bad);
	if (ret != -1 || errno != EINVAL)
		fail("ARCH_SET_GS_PERCPU with stride 32: %d (%s), want EINVAL", ret, strerror(errno));
	bad = (struct arch_gs_percpu){ 0x100000000ull - STRIDE, STRIDE };
	ret = gs_percpu(ARCH_SET_GS_PERCPU, &bad);
	if (npossible > 1 && (ret != -1 || errno != EINVAL))
		fail("ARCH_SET_GS_PERCPU ending above 4 GiB (base %#llx, %d CPUs): %d (%s), want EINVAL",
		     bad.base, npossible, ret, strerror(errno));
	gs_percpu(ARCH_CLEAR_GS_PERCPU, NULL);
	return 0;
}

/* ---- one run: N threads, iters increments each ---------------------------- */

struct worker {
	pthread_t th;
	int method, pattern, idx;
	long iters, aborts;
	double cpu_ns;
	const struct arch_gs_percpu *inherited;
	char err[200];
};

static double cputime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	char *mine = slot_of(w->idx);
	double t0;

	if (w->method == GS && gs_mode == GS_STANDIN) {
		if (have_fsgsbase)
			asm volatile("wrgsbase %0" : : "r"(mine) : "memory");
		else if (syscall(SYS_arch_prctl, ARCH_SET_GS, mine))
			snprintf(w->err, sizeof(w->err), "ARCH_SET_GS: %s", strerror(errno));
	}
	if (w->inherited)
		check_inherited(w->inherited, w->err, sizeof(w->err));
	pthread_barrier_wait(&barrier);
	if (w->err[0])
		return NULL;
	t0 = cputime_ns();
	w->aborts = loop(w->method, w->pattern, w->iters, mine);
	w->cpu_ns = cputime_ns() - t0;
	if (w->inherited)	/* still on the right slot after all that */
		check_inherited(w->inherited, w->err, sizeof(w->err));
	return NULL;
}

static struct worker workers[1024];
static long run_aborts;

/* Mean CPU ns per thread for iters increments each, or -1 (printed why). */
static double run(int method, int pattern, int nthreads, long iters)
{
	struct arch_gs_percpu cfg = { (unsigned long)area, STRIDE };
	int per_thread = method == PLAIN || (method == GS && gs_mode == GS_STANDIN);
	long long sum = 0, want = (long long)nthreads * iters, s;
	double cpu = 0;
	int i, k, bad = 0;

	memset(area, 0, (size_t)nslots * STRIDE);
	for (i = 0; i < nslots; i++)
		*(unsigned long *)(slot_of(i) + TAG_OFF) = TAG(i);
	memset(shared_ctr, 0, sizeof(shared_ctr));
	/* The threads inherit the main thread's per-CPU GS base (clone). */
	if (method == GS && gs_mode == GS_FEATURE && gs_percpu(ARCH_SET_GS_PERCPU, &cfg)) {
		printf("# ARCH_SET_GS_PERCPU: %s\n", strerror(errno));
		return -1;
	}
	pthread_barrier_init(&barrier, NULL, nthreads);
	for (i = 0; i < nthreads; i++) {
		workers[i] = (struct worker){
			.method = method, .pattern = pattern, .idx = i, .iters = iters,
			.inherited = method == GS && gs_mode == GS_FEATURE ? &cfg : NULL,
		};
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i])) {
			printf("# pthread_create failed\n");
			exit(1);
		}
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].th, NULL);
	pthread_barrier_destroy(&barrier);
	if (method == GS && gs_mode == GS_FEATURE)
		gs_percpu(ARCH_CLEAR_GS_PERCPU, NULL);

	for (i = 0; i < nthreads; i++) {
		if (workers[i].err[0]) {
			printf("# %s: %s\n", method_name[method], workers[i].err);
			bad = 1;
		}
		cpu += workers[i].cpu_ns / nthreads;
		run_aborts += workers[i].aborts;
	}
	for (i = 0; i < nslots; i++) {
		for (k = 0, s = 0; k < NCOUNT; k++)
			s += *counter(slot_of(i), k);
		if (!bad && per_thread && i < nthreads && s != iters) {
			printf("# %s: thread %d's slot holds %lld, want %ld\n", method_name[method], i, s, iters);
			bad = 1;
		}
		sum += s;
	}
	for (k = 0; k < NCOUNT; k++)
		sum += *counter((char *)shared_ctr, k);
	if (!bad && sum != want) {
		printf("# %s %s, %d threads: LOST UPDATE: the counters sum to %lld, want %lld (%d x %ld)\n",
		       method_name[method], pattern_name[pattern], nthreads, sum, want, nthreads, iters);
		bad = 1;
	}
	return bad ? -1 : cpu;
}

/*
 * Calibrated so that one repetition takes about opt_target_ns of CPU time
 * over all threads, then opt_reps repetitions; returns the median.
 */
static double measure(int method, int pattern, int nthreads)
{
	int reps = opt_tiny ? 1 : opt_reps, r;
	long iters = TINY_ITERS;
	double v[64], t = 0;

	run_aborts = 0;
	if (!opt_tiny) {
		if (run(method, pattern, nthreads, 16) < 0)
			return -1;
		for (iters = 256;; iters *= 4) {
			t = run(method, pattern, nthreads, iters);
			if (t < 0)
				return -1;
			if (t * nthreads >= opt_target_ns / 4 || iters >= (1L << 32))
				break;
		}
		iters = (long)(iters * opt_target_ns / (t * nthreads > 0 ? t * nthreads : 1));
	}
	run_aborts = 0;
	for (r = 0; r < reps; r++) {
		t = run(method, pattern, nthreads, iters);
		if (t < 0)
			return -1;
		v[r] = t / iters;
	}
	qsort(v, reps, sizeof(v[0]), cmp_double);
	printf("# @bench fig=5 metric=%s-%s-t%d unit=ns/increment median=%.3f p25=%.3f p75=%.3f min=%.3f max=%.3f n=%d iters=%ld method=%s pattern=%s threads=%d",
	       method_name[method], pattern_name[pattern], nthreads, quantile(v, reps, 0.5),
	       quantile(v, reps, 0.25), quantile(v, reps, 0.75), v[0], v[reps - 1], reps, iters,
	       method_name[method], pattern_name[pattern], nthreads);
	if (method == RSEQ)
		printf(" aborts_per_million=%.1f", run_aborts * 1e6 / ((double)reps * iters * nthreads));
	printf("\n");
	return quantile(v, reps, 0.5);
}

/* ---- main ----------------------------------------------------------------- */

static void first_line(const char *path, const char *key, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[256];

	snprintf(buf, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, strlen(key))) {
			snprintf(buf, len, "%s", strchr(line, ':') ? strchr(line, ':') + 2 : line);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}

/* nr_cpu_ids: the last number of /sys/devices/system/cpu/possible, + 1. */
static int possible_cpus(void)
{
	char buf[256], *p;

	first_line("/sys/devices/system/cpu/possible", "", buf, sizeof(buf));
	p = strrchr(buf, '-');
	if (!p)
		p = strrchr(buf, ',');
	p = p ? p + 1 : buf;
	return *p >= '0' && *p <= '9' ? atoi(p) + 1 : get_nprocs_conf();
}

/* 1: full, 0: tiny, -1: lab.bench= without figure 5 (skip all). */
static int cmdline_mode(void)
{
	char buf[4096] = "", *p;
	FILE *f = fopen("/proc/cmdline", "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	p = strstr(buf, "lab.bench=");
	if (!p)
		return 0;
	return strcspn(p + 10, "5 \n") < strcspn(p + 10, " \n") ? 1 : -1;
}

int main(int argc, char **argv)
{
	int ncpu = get_nprocs(), nthr[4] = { 1, ncpu, 2 * ncpu, 4 * ncpu };
	int i, m, p, t, test = 0, any_failed = 0, selected = 1, gs_broken;
	double med[NMETHOD][2][4];
	char cpu[128], rel[128];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tiny"))
			opt_tiny = 1;
		else if (!strcmp(argv[i], "--full"))
			opt_tiny = 0;
		else if (!strcmp(argv[i], "--standin"))
			opt_standin = 1;
		else if (!strcmp(argv[i], "-r") && i + 1 < argc && atoi(argv[i + 1]) >= 1 &&
			 atoi(argv[i + 1]) <= 64)
			opt_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-t") && i + 1 < argc && atof(argv[i + 1]) > 0)
			opt_target_ns = atof(argv[++i]) * 1e6;
		else {
			fprintf(stderr, "usage: %s [--tiny|--full] [--standin] [-r reps] [-t ms]\n", argv[0]);
			return 2;
		}
	}
	if (opt_tiny < 0) {
		int mode = cmdline_mode();

		selected = mode >= 0;
		opt_tiny = mode != 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	have_fsgsbase = !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE);
	first_line("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	first_line("/proc/sys/kernel/osrelease", "", rel, sizeof(rel));
	printf("TAP version 13\n");
	printf("# @info mode=%s hwcap2_fsgsbase=%d cpus=%d release=%s cpu=%s\n",
	       opt_tiny ? "tiny" : "full", have_fsgsbase, ncpu, rel, cpu);
	printf("1..%d\n", NMETHOD);
	if (!selected) {
		for (m = 0; m < NMETHOD; m++)
			printf("ok %d %s # SKIP figure 5 not selected by lab.bench=\n", m + 1,
			       method_name[m]);
		return 0;
	}

	npossible = possible_cpus();
	nslots = npossible > nthr[3] ? npossible : nthr[3];
	if (nthr[3] > (int)(sizeof(workers) / sizeof(workers[0]))) {
		printf("Bail out! %d threads: more than this program handles\n", nthr[3]);
		return 1;
	}
	/* Below 2 GiB: descriptors hold 32-bit bases (issue 6's constraint). */
	area = mmap(NULL, (size_t)nslots * STRIDE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (area == MAP_FAILED) {
		printf("Bail out! mmap(MAP_32BIT): %s\n", strerror(errno));
		return 1;
	}

	bench_failed = 0;
	gs_mode = GS_FEATURE;
	if (gs_probe()) {
		gs_mode = GS_NONE;	/* an error other than EINVAL: gs fails */
		if (!bench_failed && opt_standin) {
			gs_mode = GS_STANDIN;
			method_name[GS] = "gs_thread_standin";
			printf("# gs: no per-CPU GS base here (EINVAL); per-thread GS base, host stand-in (not per-CPU), set with %s: only the instruction cost is comparable\n",
			       have_fsgsbase ? "WRGSBASE" : "ARCH_SET_GS");
		} else if (!bench_failed) {
			snprintf(skip_reason[GS], sizeof(skip_reason[GS]),
				 "no per-CPU GS base in this kernel: arch_prctl ARCH_SET_GS_PERCPU returned EINVAL");
		}
	}
	if (!rseq_ok()) {
		snprintf(skip_reason[RSEQ], sizeof(skip_reason[RSEQ]),
			 "rseq not registered by glibc (kernel without CONFIG_RSEQ, or tunable glibc.pthread.rseq=0)");
		if (gs_mode == GS_FEATURE)
			printf("# gs: without rseq, the check that %%gs addresses the current CPU's slot is not done\n");
	}

	gs_broken = bench_failed;	/* the probe's ABI checks */
	for (m = 0; m < NMETHOD; m++) {
		bench_failed = m == GS ? gs_broken : 0;
		if (skip_reason[m][0]) {
			printf("# @skip fig=5 metric=%s reason=%s\n", method_name[m], skip_reason[m]);
			printf("ok %d %s # SKIP %s\n", ++test, method_name[m], skip_reason[m]);
			continue;
		}
		for (p = SPREAD; p <= ONE; p++) {
			for (t = 0; t < 4; t++) {
				med[m][p][t] = -1;
				if (bench_failed || (t > 0 && nthr[t] == nthr[t - 1]))
					continue;	/* one CPU: 1 == n */
				med[m][p][t] = measure(m, p, nthr[t]);
				if (med[m][p][t] < 0)
					fail("%s %s, %d threads: broken (see above)", method_name[m],
					     pattern_name[p], nthr[t]);
			}
		}
		printf("%s %d %s\n", bench_failed ? "not ok" : "ok", ++test, method_name[m]);
		any_failed |= bench_failed;
	}

	/* A readable summary: ratio to rseq, same pattern and thread count. */
	if (!opt_tiny && !skip_reason[RSEQ][0] && !any_failed) {
		for (p = SPREAD; p <= ONE; p++) {
			printf("# %s, ns/increment (x rseq):", pattern_name[p]);
			for (m = 0; m < NMETHOD; m++) {
				if (skip_reason[m][0])
					continue;
				printf("  %s", method_name[m]);
				for (t = 0; t < 4; t++)
					if (med[m][p][t] >= 0)
						printf(" t%d %.3g (x%.2f)", nthr[t], med[m][p][t],
						       med[m][p][t] / med[RSEQ][p][t]);
			}
			printf("\n");
		}
	}
	return any_failed;
}
