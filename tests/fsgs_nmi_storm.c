// SPDX-License-Identifier: GPL-2.0-only
/*
 * fsgs_nmi_storm - guest half of the nmi-storm suite (host half:
 * tests/host/nmi-storm, which sends NMIs through QMP inject-nmi).
 *
 * Contract, "Bad input": a user GS base in kernel space (WRGSBASE allows
 * it) is never used by the kernel: NMIs, #DB and every other entry find the
 * kernel's own per-CPU base.  On each CPU, THREADS_PER_CPU threads hold a
 * distinct GS base in the kernel half (0xffff888000000000 + n pages, the
 * direct map) and enter the kernel in a loop through every path user space
 * has: syscalls (getppid, sched_yield), page faults on fresh mmap pages, a
 * SIGSEGV fault with a handler, int3 (SIGTRAP handler) and single steps
 * (TF set with popf, across a syscall too) while the host keeps NMIs
 * coming.  After every entry, and in every handler, a thread checks that
 * its FS and GS selectors and bases are what it set.
 *
 * Without FSGSBASE, ARCH_SET_GS refuses kernel addresses (-EPERM, rule A):
 * the threads then hold the highest user values (TASK_SIZE_MAX - 1 - n
 * pages) and read their bases with ARCH_GET_*, an entry of its own.
 *
 * Host channel (/dev/ttyS1, protocol in tests/clients/hostchan.py): hello,
 * wait for GO, wait until NMIs arrive, run, then @@HC-BYE ends the storm.
 * Usage: fsgs_nmi_storm [seconds]  (default 20).  Prints KTAP.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include "fsgs_task_size.h"

#define HWCAP2_FSGSBASE_	0x2
#define THREADS_PER_CPU		2
#define MAX_THREADS		64
#define FAULT_PAGES		8
#define PAGE			4096UL
#define KERNEL_GS_BASE		0xffff888000000000UL
#define CHANNEL			"/dev/ttyS1"

enum path { P_GETPPID, P_YIELD, P_PAGEFAULT, P_SEGV, P_INT3, P_STEP,
	    P_HANDLER, NPATH };
static const char *const path_name[NPATH] = {
	"syscall_getppid", "syscall_sched_yield", "page_fault_fresh_mmap",
	"sigsegv_fault", "int3_sigtrap", "single_step_tf",
	"signal_handlers",
};

struct worker {
	pthread_t th;
	int cpu, idx;
	unsigned long fs_base, gs_base;	/* what the thread set / holds */
	unsigned short fs_sel, gs_sel;
	long entries[NPATH];
	long bad[NPATH];
	char first_bad[200];
	char *guard;			/* PROT_NONE page for the SIGSEGV path */
	int steps;			/* single-step traps in this sequence */
};

static int have_fsgsbase;
static atomic_int stop;
static struct worker workers[MAX_THREADS];
static __thread struct worker *self;

/*
 * Entry points in assembly, so that the handlers know where each one traps:
 * fault_read reads (%rdi) at fault_insn; do_int3 traps after its int3;
 * do_step sets TF with popf and single-steps a few instructions and a
 * getppid syscall up to step_end, where the SIGTRAP handler clears TF.
 */
extern char fault_insn[], fault_resume[], int3_after[], step_begin[], step_end[];
void fault_read(const char *p);
void do_int3(void);
void do_step(void);
asm(".text\n"
    ".globl fault_read\n"
    "fault_read:\n"
    ".globl fault_insn\n"
    "fault_insn:\n"
    "	movb (%rdi), %al\n"
    ".globl fault_resume\n"
    "fault_resume:\n"
    "	ret\n"
    ".globl do_int3\n"
    "do_int3:\n"
    "	int3\n"
    ".globl int3_after\n"
    "int3_after:\n"
    "	ret\n"
    ".globl do_step\n"
    "do_step:\n"
    "	pushfq\n"
    "	orq $0x100, (%rsp)\n"
    "	popfq\n"
    ".globl step_begin\n"
    "step_begin:\n"
    "	nop\n"
    "	movl $" "110" ", %eax\n"	/* __NR_getppid */
    "	syscall\n"
    "	nop\n"
    "	nop\n"
    ".globl step_end\n"
    "step_end:\n"
    "	ret\n");

static unsigned long rdfsbase(void)
{
	unsigned long v;

	if (have_fsgsbase)
		asm volatile("rdfsbase %0" : "=r"(v));
	else
		syscall(SYS_arch_prctl, ARCH_GET_FS, &v);
	return v;
}

static unsigned long rdgsbase(void)
{
	unsigned long v;

	if (have_fsgsbase)
		asm volatile("rdgsbase %0" : "=r"(v));
	else
		syscall(SYS_arch_prctl, ARCH_GET_GS, &v);
	return v;
}

static unsigned short sel_fs(void)
{
	unsigned short s;

	asm volatile("mov %%fs, %0" : "=r"(s));
	return s;
}

static unsigned short sel_gs(void)
{
	unsigned short s;

	asm volatile("mov %%gs, %0" : "=r"(s));
	return s;
}

static int set_gs(unsigned long base)
{
	if (have_fsgsbase) {
		asm volatile("wrgsbase %0" :: "r"(base) : "memory");
		return 0;
	}
	return syscall(SYS_arch_prctl, ARCH_SET_GS, base);
}

/* After an entry through @p: are FS and GS what this thread set? */
static void check(struct worker *w, enum path p)
{
	unsigned short fs = sel_fs(), gs = sel_gs();
	unsigned long fb = rdfsbase(), gb = rdgsbase();

	w->entries[p]++;
	if (fs == w->fs_sel && gs == w->gs_sel && fb == w->fs_base && gb == w->gs_base)
		return;
	if (!w->bad[p]++ && !w->first_bad[0])
		snprintf(w->first_bad, sizeof(w->first_bad),
			 "after %s: fs %#x/%#lx gs %#x/%#lx, want fs %#x/%#lx gs %#x/%#lx",
			 path_name[p], fs, fb, gs, gb, w->fs_sel, w->fs_base,
			 w->gs_sel, w->gs_base);
	/* Put the state back so the following checks mean something. */
	set_gs(w->gs_base);
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *rip = &uc->uc_mcontext.gregs[REG_RIP];

	check(self, P_HANDLER);
	if (*rip == (greg_t)fault_insn && si->si_addr == self->guard)
		*rip = (greg_t)fault_resume;
	else
		abort();	/* a fault we did not ask for */
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t rip = uc->uc_mcontext.gregs[REG_RIP];

	check(self, P_HANDLER);
	if (rip == (greg_t)int3_after) {
		check(self, P_INT3);
		return;
	}
	/* A single-step trap: go on while inside the sequence. */
	check(self, P_STEP);
	self->steps++;
	if (rip <= (greg_t)step_begin || rip >= (greg_t)step_end)
		uc->uc_mcontext.gregs[REG_EFL] &= ~0x100L;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	int i;

	self = w;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	w->guard = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w->fs_sel = sel_fs();
	w->gs_sel = sel_gs();
	w->fs_base = rdfsbase();
	if (set_gs(w->gs_base)) {
		snprintf(w->first_bad, sizeof(w->first_bad), "ARCH_SET_GS %#lx: %s",
			 w->gs_base, strerror(errno));
		w->bad[P_GETPPID]++;
		return NULL;
	}
	w->gs_sel = sel_gs();
	check(w, P_GETPPID);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		char *p;

		syscall(SYS_getppid);
		check(w, P_GETPPID);
		sched_yield();
		check(w, P_YIELD);
		p = mmap(NULL, FAULT_PAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			for (i = 0; i < FAULT_PAGES; i++) {
				p[i * PAGE] = 1;
				check(w, P_PAGEFAULT);
			}
			munmap(p, FAULT_PAGES * PAGE);
		}
		fault_read(w->guard);
		check(w, P_SEGV);
		do_int3();
		check(w, P_INT3);
		w->steps = 0;
		do_step();
		check(w, P_STEP);
	}
	return NULL;
}

/* Sum of the NMI line of /proc/interrupts over all CPUs; -1 if missing. */
static long nmi_count(void)
{
	char line[1024], *s, *end;
	long sum = -1, v;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		s = line + strspn(line, " ");
		if (strncmp(s, "NMI:", 4))
			continue;
		sum = 0;
		for (s += 4;; s = end) {
			v = strtol(s, &end, 10);
			if (end == s)
				break;
			sum += v;
		}
	}
	fclose(f);
	return sum;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The host channel: raw mode, hello until the host says GO. */
static int channel_open(void)
{
	struct termios tio;
	char buf[256];
	size_t have = 0;
	int fd, tries;

	fd = open(CHANNEL, O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(fd, TCSANOW, &tio);
	}
	for (tries = 0; tries < 30; tries++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double until = now() + 1;
		ssize_t n;

		dprintf(fd, "@@HC-HELLO nmi-storm\n");
		while (now() < until && poll(&pfd, 1, 200) > 0) {
			n = read(fd, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				break;
			have += n;
			buf[have] = 0;
			if (strstr(buf, "@@HC-GO"))
				return fd;
			if (have > sizeof(buf) / 2) {
				memmove(buf, buf + have - 16, 16);
				have = 16;
			}
		}
	}
	close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 20, t0, t1, tw;
	long n0, n1, nw, total[NPATH] = { 0 }, bad[NPATH] = { 0 };
	int ncpus = sysconf(_SC_NPROCESSORS_ONLN), nthreads, i, p, fd, test = 0;
	struct sigaction sa = { .sa_flags = SA_SIGINFO };
	unsigned long tsm = task_size_max();
	const char *first_bad = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	have_fsgsbase = !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE_);
	nthreads = ncpus * THREADS_PER_CPU;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	printf("TAP version 13\n1..%d\n", 4 + NPATH);
	printf("# %d CPUs, %d threads, %.0f s; FSGSBASE %s; TASK_SIZE_MAX %#lx\n",
	       ncpus, nthreads, seconds, have_fsgsbase ? "on" : "off", tsm);
	if (have_fsgsbase)
		printf("# GS bases: kernel half, %#lx + n pages (WRGSBASE)\n", KERNEL_GS_BASE);
	else
		printf("# no FSGSBASE: ARCH_SET_GS refuses kernel addresses (-EPERM, rule A),"
		       " so GS bases are the highest user values, %#lx - n pages\n", tsm - 1);

	n0 = nmi_count();
	fd = channel_open();
	printf("%s %d - host channel\n", fd >= 0 ? "ok" : "not ok", ++test);
	if (fd < 0)
		printf("# no @@HC-GO on %s: the storm cannot start\n", CHANNEL);

	/* Wait for the storm to reach the guest (at most 20 s). */
	t0 = now();
	while (fd >= 0 && nmi_count() == n0 && now() - t0 < 20)
		usleep(10000);
	n1 = nmi_count();
	printf("%s %d - storm reaches the guest\n", n1 > n0 ? "ok" : "not ok", ++test);
	printf("# NMI line of /proc/interrupts: %ld before the hello, %ld after %.2f s\n",
	       n0, n1, now() - t0);

	sa.sa_sigaction = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sa.sa_sigaction = on_trap;
	sigaction(SIGTRAP, &sa, NULL);
	for (i = 0; i < nthreads; i++) {
		workers[i].cpu = i % ncpus;
		workers[i].idx = i;
		workers[i].gs_base = have_fsgsbase ? KERNEL_GS_BASE + i * PAGE
						   : tsm - 1 - i * PAGE;
	}
	nw = nmi_count();
	tw = now();
	for (i = 0; i < nthreads; i++)
		pthread_create(&workers[i].th, NULL, run, &workers[i]);
	while (now() - tw < seconds)
		usleep(100000);
	atomic_store(&stop, 1);
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].th, NULL);
	t1 = now();
	n1 = nmi_count();
	if (fd >= 0)
		dprintf(fd, "@@HC-BYE nmi-storm\n");

	printf("%s %d - nmis received during the run\n", n1 > nw ? "ok" : "not ok", ++test);
	printf("# %ld NMIs in %.1f s (%.0f/s) on %d CPUs while the threads ran\n",
	       n1 - nw, t1 - tw, (n1 - nw) / (t1 - tw), ncpus);

	for (i = 0; i < nthreads; i++) {
		for (p = 0; p < NPATH; p++) {
			total[p] += workers[i].entries[p];
			bad[p] += workers[i].bad[p];
		}
		if (workers[i].first_bad[0] && !first_bad)
			first_bad = workers[i].first_bad;
	}
	for (p = 0; p < NPATH; p++) {
		printf("%s %d - %s\n", total[p] > 0 && !bad[p] ? "ok" : "not ok",
		       ++test, path_name[p]);
		printf("# %ld checks after this entry, %ld with FS/GS not as set\n", total[p], bad[p]);
	}
	/* Afterwards: every thread's last check, and this thread's state. */
	for (i = 0, p = 0; i < nthreads; i++)
		p += !!workers[i].first_bad[0];
	printf("%s %d - fs and gs as set afterwards in every thread\n",
	       !p ? "ok" : "not ok", ++test);
	if (first_bad)
		printf("# %d thread(s) saw a wrong state; first: %s\n", p, first_bad);
	for (p = 0; p < NPATH; p++)
		if (!total[p] || bad[p])
			return 1;
	return n1 > nw && !first_bad && fd >= 0 ? 0 : 1;
}
