// SPDX-License-Identifier: GPL-2.0
/*
 * fsgs_bench: what FSGSBASE buys, measured (issue 5).
 *
 *   1  base access: RD/WR FS/GS BASE against arch_prctl(ARCH_GET/SET_FS/GS)
 *   2  context switch: two tasks pinned to one CPU ping-pong through a futex
 *      and through a pipe, with null selectors and distinct non-zero bases,
 *      then with real selectors (LDT descriptors of modify_ldt)
 *   3  ptrace: GETREGS, SETREGS, PEEKUSER/POKEUSER of fs_base and gs_base
 *   4  per-CPU counter: shared atomic, sched_getcpu() + atomic slot, rseq
 *      (rseq_addv of the kernel tree's selftests library), %gs-based slot
 *
 * Output is KTAP, one test per figure. Every measurement is one line
 *   # @bench fig=F metric=M unit=U median=.. p25=.. p75=.. min=.. max=.. n=.. iters=..
 * (the median, quartiles and extremes over n repetitions of iters
 * operations), parsed by bench/run.py. A figure fails only when the thing
 * measured does not work (wrong value read back, lost update, syscall
 * error), never because of a timing.
 *
 * Usage: fsgs_bench [--tiny|--full] [-f 1,2,3,4] [-r reps] [-t ms]
 * Without options: when the kernel command line has lab.bench=<figures>
 * (a 'make bench' boot, bench/run.py), those figures in full; otherwise
 * every figure tiny (the 'bench' suite of 'make check').
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <asm/ldt.h>
#include <asm/prctl.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <assert.h>	/* rseq.h uses assert() without including it */
#include "bench_stats.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "rseq.h"	/* tools/testing/selftests/rseq of the kernel tree */
#pragma GCC diagnostic pop
/* In rseq.c, not declared by rseq.h: 1 when the kernel has sys_rseq. */
int rseq_available(void);

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

/* ---- options and output ---------------------------------------------- */

static int opt_tiny = -1;
static int opt_reps = 11;
static double opt_target_ns = 100e6;	/* one repetition, full mode */
static int opt_fig[5] = { 0, 1, 1, 1, 1 };
static int have_fsgsbase;

#define TINY_ITERS 200
#define TINY_REPS 3

static void skip(int fig, const char *metric, const char *reason)
{
	printf("# @skip fig=%d metric=%s reason=%s\n", fig, metric, reason);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * One measurement: run(ctx, iters) does iters operations and returns the
 * elapsed nanoseconds, or a negative value when the operation misbehaved
 * (it has printed why). Calibrated so that one repetition lasts about
 * opt_target_ns; reported per operation.
 */
typedef double (*run_fn)(void *ctx, long iters);

static int measure(int fig, const char *metric, const char *unit,
		   run_fn run, void *ctx, const char *extra)
{
	double v[64], t;
	int reps = opt_tiny ? TINY_REPS : opt_reps, r;
	long iters = TINY_ITERS;

	if (!opt_tiny) {
		/*
		 * Calibrate: one warm-up run (under TCG the first run pays for
		 * translating the code), then grow until a run takes a quarter
		 * of the target, then scale up to the target.
		 */
		if (run(ctx, 16) < 0)
			goto broken;
		for (iters = 16;; iters *= 4) {
			t = run(ctx, iters);
			if (t < 0)
				goto broken;
			if (t >= opt_target_ns / 4 || iters >= (1L << 30))
				break;
		}
		if (t < opt_target_ns)
			iters = (long)(iters * opt_target_ns / t);
	}
	for (r = 0; r < reps; r++) {
		t = run(ctx, iters);
		if (t < 0)
			goto broken;
		v[r] = t / iters;
	}
	qsort(v, reps, sizeof(v[0]), cmp_double);
	printf("# @bench fig=%d metric=%s unit=%s median=%.2f p25=%.2f p75=%.2f min=%.2f max=%.2f n=%d iters=%ld%s%s\n",
	       fig, metric, unit, quantile(v, reps, 0.5), quantile(v, reps, 0.25),
	       quantile(v, reps, 0.75), v[0], v[reps - 1], reps, iters,
	       extra ? " " : "", extra ? extra : "");
	fflush(stdout);
	return 0;
broken:
	fail("%s: the operation failed (see above)", metric);
	return -1;
}

/*
 * Raw system calls: figure 2 runs with a real FS selector loaded, when the
 * FS base is not glibc's thread pointer, so nothing in that window may touch
 * TLS (errno, the stack protector canary, glibc wrappers).
 */
static inline __attribute__((always_inline))
long raw_syscall4(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 asm("r10") = d;

	asm volatile("syscall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
		     : "rcx", "r11", "memory");
	return ret;
}

static long arch_prctl(int code, unsigned long addr)
{
	return raw_syscall4(SYS_arch_prctl, code, addr, 0, 0);
}

static unsigned long get_base(int code)
{
	unsigned long v = 0;

	if (arch_prctl(code, (unsigned long)&v))
		fail("arch_prctl(%#x) failed", code);
	return v;
}

static inline unsigned long rdfsbase(void)
{
	unsigned long v;

	asm volatile("rdfsbase %0" : "=r"(v));
	return v;
}

static inline unsigned long rdgsbase(void)
{
	unsigned long v;

	asm volatile("rdgsbase %0" : "=r"(v));
	return v;
}

static inline void wrfsbase(unsigned long v)
{
	asm volatile("wrfsbase %0" : : "r"(v) : "memory");
}

static inline void wrgsbase(unsigned long v)
{
	asm volatile("wrgsbase %0" : : "r"(v) : "memory");
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		fail("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
}

/* ---- figure 1: base access -------------------------------------------- */

enum { RDFS, WRFS, RDGS, WRGS, GETFS, SETFS, GETGS, SETGS };
static const char *const fig1_name[] = {
	"rdfsbase", "wrfsbase", "rdgsbase", "wrgsbase",
	"arch_prctl_get_fs", "arch_prctl_set_fs", "arch_prctl_get_gs", "arch_prctl_set_gs",
};

#define GS_TEST1 0x7f0000001000ul
#define GS_TEST2 0x7f0000002000ul

static double fig1_run(void *ctx, long iters)
{
	int op = (int)(long)ctx;
	unsigned long fs = get_base(ARCH_GET_FS), x = 0, v;
	uint64_t t0 = now_ns(), t1;
	long i;

	switch (op) {
	case RDFS: for (i = 0; i < iters; i++) x += rdfsbase(); break;
	case WRFS: for (i = 0; i < iters; i++) wrfsbase(fs); break;
	case RDGS: for (i = 0; i < iters; i++) x += rdgsbase(); break;
	case WRGS: for (i = 0; i < iters; i++) wrgsbase(GS_TEST1); break;
	case GETFS: for (i = 0; i < iters; i++) x |= arch_prctl(ARCH_GET_FS, (unsigned long)&v); break;
	case SETFS: for (i = 0; i < iters; i++) x |= arch_prctl(ARCH_SET_FS, fs); break;
	case GETGS: for (i = 0; i < iters; i++) x |= arch_prctl(ARCH_GET_GS, (unsigned long)&v); break;
	case SETGS: for (i = 0; i < iters; i++) x |= arch_prctl(ARCH_SET_GS, GS_TEST2); break;
	}
	t1 = now_ns();
	if (op >= GETFS && x) {
		printf("# %s: arch_prctl returned an error\n", fig1_name[op]);
		return -1;
	}
	asm volatile("" : : "r"(x));
	return t1 - t0;
}

static void fig1(void)
{
	unsigned long fs = get_base(ARCH_GET_FS);
	int op;

	/* Function: both interfaces see the same bases, each way round. */
	if (have_fsgsbase) {
		if (rdfsbase() != fs)
			fail("RDFSBASE %#lx != ARCH_GET_FS %#lx", rdfsbase(), fs);
		wrgsbase(GS_TEST1);
		if (get_base(ARCH_GET_GS) != GS_TEST1)
			fail("after WRGSBASE %#lx, ARCH_GET_GS says %#lx", GS_TEST1, get_base(ARCH_GET_GS));
		arch_prctl(ARCH_SET_GS, GS_TEST2);
		if (rdgsbase() != GS_TEST2)
			fail("after ARCH_SET_GS %#lx, RDGSBASE says %#lx", GS_TEST2, rdgsbase());
	} else {
		arch_prctl(ARCH_SET_GS, GS_TEST2);
		if (get_base(ARCH_GET_GS) != GS_TEST2)
			fail("after ARCH_SET_GS %#lx, ARCH_GET_GS says %#lx", GS_TEST2, get_base(ARCH_GET_GS));
	}
	for (op = RDFS; op <= SETGS; op++) {
		if (op <= WRGS && !have_fsgsbase)
			skip(1, fig1_name[op], "no HWCAP2_FSGSBASE (nofsgsbase or CPU without it): the instruction raises SIGILL");
		else
			measure(1, fig1_name[op], "ns/op", fig1_run, (void *)(long)op, NULL);
	}
	arch_prctl(ARCH_SET_GS, 0);
}

/* ---- figure 2: context switch ----------------------------------------- */

/*
 * Two threads pinned to one CPU. The client (the main thread) sends a ping
 * and sleeps until the pong; the server sleeps until the ping and answers.
 * Each round trip is two context switches. Null mode: FS holds glibc's
 * thread pointer (distinct per thread) and GS a distinct base set with
 * ARCH_SET_GS, both with selector 0. Real mode: each thread loads FS and GS
 * with its own LDT descriptors (modify_ldt; four entries, four distinct
 * 32-bit bases), for the whole loop. LDT rather than set_thread_area's GDT
 * slots: the 64-bit syscall table has no set_thread_area.
 */
#define LDT_SEL(entry) ((entry) << 3 | 4 | 3)	/* TI = 1 (LDT), RPL 3 */

struct pingpong {
	int pipe;		/* 0: futex, 1: pipe */
	int real;		/* 0: null selectors, 1: real selectors */
	int cpu;
	int word;		/* futex: 0 idle, 1 ping, 2 stop */
	int to_server[2], to_client[2];
	int server_err;
	pthread_t thread;
};

struct task_bases {
	int fs_entry, gs_entry;		/* real mode: LDT entries */
	unsigned long fs_desc, gs_desc;	/* real mode: descriptor bases */
	unsigned long gs_null;		/* null mode: GS base */
	unsigned long fs_saved;		/* glibc's thread pointer */
};

static const struct task_bases client_bases = { 0, 1, 0x100000, 0x200000, 0x7f00000a0000, 0 };
static const struct task_bases server_bases = { 2, 3, 0x300000, 0x400000, 0x7f00000b0000, 0 };

static int set_ldt_desc(int entry, unsigned long base)
{
	struct user_desc d = {
		.entry_number = entry, .base_addr = base, .limit = 0xfffff,
		.seg_32bit = 1, .contents = 0, .read_exec_only = 0,
		.limit_in_pages = 1, .seg_not_present = 0, .useable = 1,
	};

	if (syscall(SYS_modify_ldt, 1, &d, sizeof(d))) {
		fail("modify_ldt(entry %d): %s", entry, strerror(errno));
		return -1;
	}
	return 0;
}

static int set_task_bases(const struct task_bases *b, int real)
{
	if (real)
		return set_ldt_desc(b->fs_entry, b->fs_desc) | set_ldt_desc(b->gs_entry, b->gs_desc);
	return arch_prctl(ARCH_SET_GS, b->gs_null) ? -1 : 0;
}

static inline __attribute__((always_inline)) unsigned short read_fs_sel(void)
{
	unsigned short s;

	asm volatile("mov %%fs, %0" : "=r"(s));
	return s;
}

static inline __attribute__((always_inline)) unsigned short read_gs_sel(void)
{
	unsigned short s;

	asm volatile("mov %%gs, %0" : "=r"(s));
	return s;
}

static inline __attribute__((always_inline)) void load_real_selectors(const struct task_bases *b)
{
	asm volatile("mov %0, %%fs" : : "r"((unsigned short)LDT_SEL(b->fs_entry)) : "memory");
	asm volatile("mov %0, %%gs" : : "r"((unsigned short)LDT_SEL(b->gs_entry)) : "memory");
}

/*
 * Back to glibc's thread pointer (ARCH_SET_FS loads selector 0 and the
 * base) and a null GS. Returns a bit mask of what was wrong before the
 * restore: 1 FS selector lost, 2 GS selector lost, 4 GS base wrong.
 */
static inline __attribute__((always_inline))
int check_and_restore(const struct task_bases *b, int real, unsigned long fs_saved)
{
	int bad = 0;

	if (real) {
		bad |= read_fs_sel() != LDT_SEL(b->fs_entry);
		bad |= (read_gs_sel() != LDT_SEL(b->gs_entry)) << 1;
		if (have_fsgsbase)
			bad |= (rdgsbase() != b->gs_desc) << 2;
		raw_syscall4(SYS_arch_prctl, ARCH_SET_FS, fs_saved, 0, 0);
		raw_syscall4(SYS_arch_prctl, ARCH_SET_GS, 0, 0, 0);
	} else {
		unsigned long gs = 0;

		if (have_fsgsbase)
			gs = rdgsbase();
		else
			raw_syscall4(SYS_arch_prctl, ARCH_GET_GS, (long)&gs, 0, 0);
		bad |= (gs != b->gs_null) << 2;
	}
	return bad;
}

static inline __attribute__((always_inline)) void futex_wait(int *w, int val)
{
	raw_syscall4(SYS_futex, (long)w, FUTEX_WAIT_PRIVATE, val, 0);
}

static inline __attribute__((always_inline)) void futex_wake(int *w)
{
	raw_syscall4(SYS_futex, (long)w, FUTEX_WAKE_PRIVATE, 1, 0);
}

/* No TLS from here to check_and_restore(): see raw_syscall4(). */
static __attribute__((noinline)) int server_loop(struct pingpong *pp, unsigned long fs_saved)
{
	char c = 0;
	int v;

	if (pp->real)
		load_real_selectors(&server_bases);
	for (;;) {
		if (pp->pipe) {
			if (raw_syscall4(SYS_read, pp->to_server[0], (long)&c, 1, 0) != 1 || c == 'q')
				break;
			raw_syscall4(SYS_write, pp->to_client[1], (long)&c, 1, 0);
		} else {
			while ((v = __atomic_load_n(&pp->word, __ATOMIC_ACQUIRE)) == 0)
				futex_wait(&pp->word, 0);
			if (v == 2)
				break;
			__atomic_store_n(&pp->word, 0, __ATOMIC_RELEASE);
			futex_wake(&pp->word);
		}
	}
	return check_and_restore(&server_bases, pp->real, fs_saved);
}

static __attribute__((noinline)) int client_loop(struct pingpong *pp, long iters, unsigned long fs_saved)
{
	char c = 'p';
	long i;

	if (pp->real)
		load_real_selectors(&client_bases);
	for (i = 0; i < iters; i++) {
		if (pp->pipe) {
			raw_syscall4(SYS_write, pp->to_server[1], (long)&c, 1, 0);
			if (raw_syscall4(SYS_read, pp->to_client[0], (long)&c, 1, 0) != 1)
				break;
		} else {
			__atomic_store_n(&pp->word, 1, __ATOMIC_RELEASE);
			futex_wake(&pp->word);
			while (__atomic_load_n(&pp->word, __ATOMIC_ACQUIRE) == 1)
				futex_wait(&pp->word, 1);
		}
	}
	return check_and_restore(&client_bases, pp->real, fs_saved) | (i != iters) << 3;
}

static void *server_main(void *arg)
{
	struct pingpong *pp = arg;
	unsigned long fs = get_base(ARCH_GET_FS);

	pin_self(pp->cpu);
	if (set_task_bases(&server_bases, pp->real))
		pp->server_err = 16;
	else
		pp->server_err = server_loop(pp, fs);
	return NULL;
}

static double fig2_run(void *ctx, long iters)
{
	struct pingpong *pp = ctx;
	unsigned long fs = get_base(ARCH_GET_FS);
	uint64_t t0 = now_ns();
	int bad = client_loop(pp, iters, fs);
	uint64_t t1 = now_ns();

	if (bad) {
		printf("# client: %s%s%s%s after %ld round trips\n",
		       bad & 1 ? "FS selector lost; " : "", bad & 2 ? "GS selector lost; " : "",
		       bad & 4 ? "GS base changed; " : "", bad & 8 ? "pipe read failed; " : "", iters);
		return -1;
	}
	return t1 - t0;
}

static void fig2(void)
{
	static const char *const names[2][2] = {
		{ "futex_null_sel", "futex_real_sel" }, { "pipe_null_sel", "pipe_real_sel" },
	};
	cpu_set_t saved;
	int cpu = 0, p, real;

	sched_getaffinity(0, sizeof(saved), &saved);
	pin_self(cpu);
	for (p = 0; p < 2; p++) {
		for (real = 0; real < 2; real++) {
			struct pingpong pp = { .pipe = p, .real = real, .cpu = cpu };
			char c = 'q';

			if (pipe(pp.to_server) || pipe(pp.to_client)) {
				fail("pipe: %s", strerror(errno));
				return;
			}
			if (set_task_bases(&client_bases, real))
				return;
			if (pthread_create(&pp.thread, NULL, server_main, &pp)) {
				fail("pthread_create failed");
				return;
			}
			measure(2, names[p][real], "ns/roundtrip", fig2_run, &pp, "switches_per_op=2");
			if (p) {
				if (write(pp.to_server[1], &c, 1) != 1)
					fail("pipe write: %s", strerror(errno));
			} else {
				__atomic_store_n(&pp.word, 2, __ATOMIC_RELEASE);
				syscall(SYS_futex, &pp.word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
			}
			pthread_join(pp.thread, NULL);
			if (pp.server_err)
				fail("%s: server: error mask %#x (1 FS selector lost, 2 GS selector lost, 4 GS base changed, 16 setup)",
				     names[p][real], pp.server_err);
			close(pp.to_server[0]); close(pp.to_server[1]);
			close(pp.to_client[0]); close(pp.to_client[1]);
		}
	}
	arch_prctl(ARCH_SET_GS, 0);
	sched_setaffinity(0, sizeof(saved), &saved);
}

/* ---- figure 3: ptrace ---------------------------------------------------- */

enum { GETREGS, SETREGS, PEEK_FS, POKE_FS, PEEK_GS, POKE_GS };
static const char *const fig3_name[] = {
	"getregs", "setregs", "peekuser_fs_base", "pokeuser_fs_base",
	"peekuser_gs_base", "pokeuser_gs_base",
};

#define TRACEE_GS 0x7f0000003000ul

struct tracee {
	pid_t pid;
	unsigned long fs;
	int op;
};

static double fig3_run(void *ctx, long iters)
{
	struct tracee *t = ctx;
	struct user_regs_struct regs;
	long off_fs = offsetof(struct user, regs.fs_base);
	long off_gs = offsetof(struct user, regs.gs_base);
	long i, err = 0, v = 0;
	uint64_t t0, t1;

	if (ptrace(PTRACE_GETREGS, t->pid, 0, &regs))
		return -1;
	t0 = now_ns();
	switch (t->op) {
	case GETREGS:
		for (i = 0; i < iters; i++)
			err |= ptrace(PTRACE_GETREGS, t->pid, 0, &regs);
		break;
	case SETREGS:
		for (i = 0; i < iters; i++)
			err |= ptrace(PTRACE_SETREGS, t->pid, 0, &regs);
		break;
	case PEEK_FS:
	case PEEK_GS:
		for (i = 0; i < iters; i++) {
			errno = 0;
			v = ptrace(PTRACE_PEEKUSER, t->pid, t->op == PEEK_FS ? off_fs : off_gs, 0);
			err |= errno;
		}
		if (!err && v != (long)(t->op == PEEK_FS ? t->fs : TRACEE_GS)) {
			printf("# %s: read %#lx, the tracee has %#lx\n", fig3_name[t->op], v,
			       t->op == PEEK_FS ? t->fs : TRACEE_GS);
			return -1;
		}
		break;
	case POKE_FS:
		for (i = 0; i < iters; i++)
			err |= ptrace(PTRACE_POKEUSER, t->pid, off_fs, t->fs);
		break;
	case POKE_GS:
		for (i = 0; i < iters; i++)
			err |= ptrace(PTRACE_POKEUSER, t->pid, off_gs, TRACEE_GS);
		break;
	}
	t1 = now_ns();
	if (err) {
		printf("# %s: ptrace failed: %s\n", fig3_name[t->op], strerror(errno));
		return -1;
	}
	/* Function: what a tracer wrote is what it reads back. */
	if (ptrace(PTRACE_GETREGS, t->pid, 0, &regs) || regs.fs_base != t->fs ||
	    regs.gs_base != TRACEE_GS) {
		printf("# %s: GETREGS afterwards: fs_base %#llx gs_base %#llx, want %#lx %#lx\n",
		       fig3_name[t->op], regs.fs_base, regs.gs_base, t->fs, TRACEE_GS);
		return -1;
	}
	return t1 - t0;
}

static void fig3(void)
{
	struct user_regs_struct regs;
	struct tracee t;
	int status, op;

	t.pid = fork();
	if (t.pid < 0) {
		fail("fork: %s", strerror(errno));
		return;
	}
	if (t.pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		arch_prctl(ARCH_SET_GS, TRACEE_GS);
		raise(SIGSTOP);
		_exit(0);
	}
	if (waitpid(t.pid, &status, 0) != t.pid || !WIFSTOPPED(status)) {
		fail("tracee did not stop (status %#x)", status);
		return;
	}
	if (ptrace(PTRACE_GETREGS, t.pid, 0, &regs)) {
		fail("PTRACE_GETREGS: %s", strerror(errno));
	} else if (regs.gs_base != TRACEE_GS) {
		fail("tracee's gs_base %#llx, it set %#lx", regs.gs_base, TRACEE_GS);
	} else {
		t.fs = regs.fs_base;
		for (op = GETREGS; op <= POKE_GS; op++) {
			t.op = op;
			measure(3, fig3_name[op], "ns/op", fig3_run, &t, NULL);
		}
	}
	kill(t.pid, SIGKILL);
	waitpid(t.pid, &status, 0);
}

/* ---- figure 4: per-CPU counter -------------------------------------------- */

struct slot {
	intptr_t count;
} __attribute__((aligned(64)));

enum { SHARED, GETCPU, RSEQ, GSSLOT };
static const char *const fig4_name[] = {
	"shared_atomic", "sched_getcpu_atomic", "rseq_addv", "gs_slot",
};

static struct slot shared;
static struct slot cpu_slots[CPU_SETSIZE];
static struct slot *thread_slots;
static int nthreads;
static pthread_barrier_t start_barrier;
static int rseq_ok;

struct inc_arg {
	int variant, idx;
	long iters;
	int err;
	uint64_t t0, t1;	/* this thread's loop */
};

static void *inc_thread(void *p)
{
	struct inc_arg *a = p;
	long i;

	if (a->variant == RSEQ && rseq_register_current_thread())
		a->err = 1;
	if (a->variant == GSSLOT && arch_prctl(ARCH_SET_GS, (unsigned long)&thread_slots[a->idx]))
		a->err = 1;
	pthread_barrier_wait(&start_barrier);
	if (a->err)
		return NULL;
	a->t0 = now_ns();
	switch (a->variant) {
	case SHARED:
		for (i = 0; i < a->iters; i++)
			__atomic_fetch_add(&shared.count, 1, __ATOMIC_RELAXED);
		break;
	case GETCPU:
		for (i = 0; i < a->iters; i++) {
			int cpu = sched_getcpu();

			__atomic_fetch_add(&cpu_slots[cpu].count, 1, __ATOMIC_RELAXED);
		}
		break;
	case RSEQ:
		for (i = 0; i < a->iters; i++) {
			int cpu, ret;

			do {
				cpu = rseq_cpu_start();
				ret = rseq_addv(RSEQ_MO_RELAXED, RSEQ_PERCPU_CPU_ID,
						&cpu_slots[cpu].count, 1, cpu);
			} while (rseq_unlikely(ret));
		}
		rseq_unregister_current_thread();
		break;
	case GSSLOT:
		/* The best case of a per-CPU GS base: one plain add, no lock. */
		for (i = 0; i < a->iters; i++)
			asm volatile("addq $1, %%gs:0" : : : "memory");
		break;
	}
	a->t1 = now_ns();
	if (a->variant == GSSLOT)
		arch_prctl(ARCH_SET_GS, 0);
	return NULL;
}

static double fig4_run(void *ctx, long iters)
{
	int variant = (int)(long)ctx, i;
	pthread_t th[CPU_SETSIZE];
	struct inc_arg args[CPU_SETSIZE];
	long long sum = 0, want = (long long)iters * nthreads;
	uint64_t t0, t1;

	memset(&shared, 0, sizeof(shared));
	memset(cpu_slots, 0, sizeof(cpu_slots));
	memset(thread_slots, 0, nthreads * sizeof(*thread_slots));
	pthread_barrier_init(&start_barrier, NULL, nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		args[i] = (struct inc_arg){ .variant = variant, .idx = i, .iters = iters };
		if (pthread_create(&th[i], NULL, inc_thread, &args[i])) {
			printf("# pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&start_barrier);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start_barrier);
	/*
	 * Elapsed: the mean of the threads' own loop times, so that the skew
	 * of their start (large under TCG) does not count; per increment this
	 * is the cost one thread sees while the others run too.
	 */
	t0 = 0;
	t1 = 0;
	for (i = 0; i < nthreads; i++)
		t1 += (args[i].t1 - args[i].t0) / nthreads;
	for (i = 0; i < nthreads; i++) {
		if (args[i].err) {
			printf("# %s: thread %d could not set up\n", fig4_name[variant], i);
			return -1;
		}
		sum += variant == GSSLOT ? thread_slots[i].count : 0;
	}
	sum += shared.count;
	for (i = 0; i < CPU_SETSIZE; i++)
		sum += cpu_slots[i].count;
	if (sum != want) {
		printf("# %s: LOST UPDATE: sum %lld, want %lld (%d threads x %ld)\n",
		       fig4_name[variant], sum, want, nthreads, iters);
		return -1;
	}
	return t1 - t0;
}

static void fig4(void)
{
	char extra[64];
	int v;

	nthreads = get_nprocs();
	thread_slots = calloc(nthreads, sizeof(*thread_slots));
	rseq_ok = rseq_available() && !rseq_register_current_thread() &&
		  rseq_current_cpu_raw() >= 0;
	snprintf(extra, sizeof(extra), "threads=%d", nthreads);
	for (v = SHARED; v <= GSSLOT; v++) {
		if (v == RSEQ && !rseq_ok)
			skip(4, fig4_name[v], "rseq not available (kernel without CONFIG_RSEQ?)");
		else
			measure(4, fig4_name[v], "ns/increment", fig4_run, (void *)(long)v, extra);
	}
	free(thread_slots);
}

/* ---- main ------------------------------------------------------------------ */

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(buf, len, "%s", strchr(line, ':') + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}

static void select_figures(const char *s)
{
	memset(opt_fig, 0, sizeof(opt_fig));
	for (; *s && *s != ' ' && *s != '\n'; s++)
		if (*s >= '1' && *s <= '4')
			opt_fig[*s - '0'] = 1;
}

/* lab.bench=<figures> on the kernel command line: a 'make bench' boot. */
static int cmdline_bench(void)
{
	FILE *f = fopen("/proc/cmdline", "r");
	char buf[4096] = "", *p;
	size_t n;

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	p = strstr(buf, "lab.bench=");
	if (!p)
		return 0;
	select_figures(p + strlen("lab.bench="));
	return 1;
}

int main(int argc, char **argv)
{
	static const char *const title[] = {
		"", "fig1-base-access", "fig2-context-switch", "fig3-ptrace", "fig4-percpu-counter",
	};
	char cpu[128], rel[128] = "?";
	FILE *f;
	int i, fig, failed = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tiny")) {
			opt_tiny = 1;
		} else if (!strcmp(argv[i], "--full")) {
			opt_tiny = 0;
		} else if (!strcmp(argv[i], "-f") && i + 1 < argc) {
			select_figures(argv[++i]);
		} else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
			opt_reps = atoi(argv[++i]);
			if (opt_reps < 1 || opt_reps > 64)
				opt_reps = 11;
		} else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			opt_target_ns = atof(argv[++i]) * 1e6;
		} else {
			fprintf(stderr, "usage: %s [--tiny|--full] [-f 1,2,3,4] [-r reps] [-t ms]\n", argv[0]);
			return 2;
		}
	}
	if (opt_tiny < 0 && argc == 1)
		opt_tiny = !cmdline_bench();
	if (opt_tiny < 0)
		opt_tiny = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	have_fsgsbase = !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE);
	cpu_model(cpu, sizeof(cpu));
	f = fopen("/proc/sys/kernel/osrelease", "r");
	if (f) {
		if (fgets(rel, sizeof(rel), f))
			rel[strcspn(rel, "\n")] = 0;
		fclose(f);
	}

	printf("TAP version 13\n");
	printf("# @info mode=%s hwcap2_fsgsbase=%d cpus=%d release=%s cpu=%s\n",
	       opt_tiny ? "tiny" : "full", have_fsgsbase, get_nprocs(), rel, cpu);
	printf("1..%d\n", opt_fig[1] + opt_fig[2] + opt_fig[3] + opt_fig[4]);
	for (i = 0, fig = 1; fig <= 4; fig++) {
		if (!opt_fig[fig])
			continue;
		bench_failed = 0;
		switch (fig) {
		case 1: fig1(); break;
		case 2: fig2(); break;
		case 3: fig3(); break;
		case 4: fig4(); break;
		}
		printf("%s %d %s\n", bench_failed ? "not ok" : "ok", ++i, title[fig]);
		failed |= bench_failed;
	}
	return failed;
}
