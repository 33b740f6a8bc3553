// SPDX-License-Identifier: GPL-2.0
/*
 * fsgs_crash segv|abrt EXPECTFILE: a multi-threaded process whose threads
 * each hold one FS/GS state class, spread over the CPUs, dumps core.
 *
 * Each worker sets its state, records what it then sees itself (selectors
 * with MOV, bases with RDFSBASE/RDGSBASE or ARCH_GET_*) and spins. The main
 * thread writes the records to EXPECTFILE, sets its own state and crashes
 * (a NULL write: SIGSEGV, or tgkill: SIGABRT). fsgs_corenotes then checks
 * the core's NT_PRSTATUS notes against EXPECTFILE.
 *
 * With ARCH_SET_GS_PERCPU (the series' per-CPU GS) one more worker holds
 * the per-CPU selector: its note must show the slot of its CPU.
 *
 * The crashing thread holds a real selector whose base it moved with
 * WRFSBASE/WRGSBASE when the CPU has them (a null selector with bases
 * above 4 GiB otherwise): its note may show the moved base or the
 * descriptor base (semantics.md, CPU facts), so both are recorded.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include "fsgs_client.h"

#ifndef ARCH_SET_GS_PERCPU
#define ARCH_SET_GS_PERCPU	0x1005
#define ARCH_GET_GS_PERCPU	0x1006
#define ARCH_GS_PERCPU_SELECTOR	0x3b
#endif
#define PERCPU_STRIDE	64ul

enum { NULL_HIGH, NULL_LOW, GDT_TLS, LDT, PERCPU_GS, NULL_KGS, NCLASS };
static const char *const class_name[] = {
	"null-high", "null-low", "gdt-tls", "ldt", "percpu-gs", "null-kernel-gs",
};

struct rec {
	long tid;
	int cpu, class, ok;
	struct fsgs want, seen;
};

static struct rec rec[NCLASS];
static int nworkers, fsgs, ncpu;
static unsigned long percpu_area;	/* below 4 GiB; 0: no per-CPU GS */
static volatile int ready;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Set class c's state on the calling thread; fill r->want. No libc after. */
static int set_state(int c, struct rec *r)
{
	struct fsgs *w = &r->want;

	switch (c) {
	case NULL_HIGH:
		*w = (struct fsgs){ 0, HIGH(1), 0, HIGH(2) };
		return set_fs_null_base(w->fs_base) || set_gs_null_base(w->gs_base);
	case NULL_LOW:
		*w = (struct fsgs){ 0, 0x12345000, 0, 0x789ab000 };
		return set_fs_null_base(w->fs_base) || set_gs_null_base(w->gs_base);
	case GDT_TLS:
		*w = (struct fsgs){ tls_slot(0x00111000), 0x00111000,
				    tls_slot(0x00222000), 0x00222000 };
		if (!w->fs || !w->gs)
			return -1;
		set_fs(w->fs);
		set_gs(w->gs);
		return 0;
	case LDT:
		*w = (struct fsgs){ ldt_slot(0, 0x00333000), 0x00333000,
				    ldt_slot(1, 0x00444000), 0x00444000 };
		if (!w->fs || !w->gs)
			return -1;
		set_fs(w->fs);
		set_gs(w->gs);
		return 0;
	case PERCPU_GS: {
		unsigned long cfg[2] = { percpu_area, PERCPU_STRIDE };

		*w = (struct fsgs){ 0, HIGH(8), ARCH_GS_PERCPU_SELECTOR,
				    percpu_area + r->cpu * PERCPU_STRIDE };
		return set_fs_null_base(w->fs_base) ||
		       raw_syscall(SYS_arch_prctl, ARCH_SET_GS_PERCPU, cfg, 0);
	}
	case NULL_KGS:
		*w = (struct fsgs){ 0, HIGH(3), 0, 0xffffc90012345000ul };
		if (set_fs_null_base(w->fs_base) || set_gs_null_base(0))
			return -1;
		wrgsbase(w->gs_base);
		return 0;
	}
	return -1;
}

static void *worker(void *arg)
{
	struct rec *r = arg;

	pin(r->cpu);
	r->tid = raw_syscall(SYS_gettid, 0, 0, 0);
	/* From here on FS may not be glibc's: no libc calls. */
	r->ok = set_state(r->class, r) == 0;
	fsgs_now(&r->seen, fsgs);
	__atomic_fetch_add(&ready, 1, __ATOMIC_SEQ_CST);
	for (;;)
		asm volatile("pause");
	return NULL;
}

int main(int argc, char **argv)
{
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	struct rec self = { 0 };
	struct fsgs alt;
	pthread_attr_t attr;
	pthread_t th;
	int abrt, i;
	FILE *f;

	if (argc != 3 || (strcmp(argv[1], "segv") && strcmp(argv[1], "abrt"))) {
		fprintf(stderr, "usage: %s segv|abrt EXPECTFILE\n", argv[0]);
		return 2;
	}
	abrt = !strcmp(argv[1], "abrt");
	setrlimit(RLIMIT_CORE, &unlimited);
	fsgs = have_fsgsbase();
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	{
		unsigned long cfg[2];
		void *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);

		if (a != MAP_FAILED && ncpu * PERCPU_STRIDE <= 4096 &&
		    !raw_syscall(SYS_arch_prctl, ARCH_GET_GS_PERCPU, cfg, 0))
			percpu_area = (unsigned long)a;
	}
	/* Small stacks keep the core small: it travels over a serial line. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (i = 0; i < NCLASS; i++) {
		struct rec *r = &rec[nworkers];

		if ((i == NULL_KGS && !fsgs) || (i == PERCPU_GS && !percpu_area))
			continue;
		r->class = i;
		r->cpu = (i + 1) % ncpu;
		nworkers++;
		if (pthread_create(&th, &attr, worker, r))
			return 3;
	}
	while (ready < nworkers)
		usleep(1000);

	pin(0);
	self.tid = raw_syscall(SYS_gettid, 0, 0, 0);
	if (fsgs) {
		/* Real selectors, then the bases moved away from them. */
		alt = (struct fsgs){ tls_slot(0x00555000), 0x00555000,
				     tls_slot(0x00666000), 0x00666000 };
		self.want = (struct fsgs){ alt.fs, HIGH(4), alt.gs, HIGH(5) };
		if (!alt.fs || !alt.gs) {
			printf("not ok - %s self crasher-moved-real\n# set_thread_area failed\n", argv[1]);
			return 4;
		}
	} else {
		self.want = (struct fsgs){ 0, HIGH(6), 0, HIGH(7) };
		alt = self.want;
	}

	f = fopen(argv[2], "w");
	if (!f)
		return 4;
	fprintf(f, "# tid class cpu fs fs_base gs gs_base alt_fs_base alt_gs_base crashing\n");
	for (i = 0; i < nworkers; i++) {
		struct rec *r = &rec[i];

		/* The thread must see what it set. */
		printf("%s - %s self %s\n# cpu %d: %s fs=%#lx/%#lx gs=%#lx/%#lx, set fs=%#lx/%#lx gs=%#lx/%#lx\n",
		       r->ok && !memcmp(&r->want, &r->seen, sizeof(r->seen)) ? "ok" : "not ok",
		       argv[1], class_name[r->class], r->cpu,
		       r->ok ? "sees" : "SET FAILED, sees", r->seen.fs,
		       r->seen.fs_base, r->seen.gs, r->seen.gs_base, r->want.fs,
		       r->want.fs_base, r->want.gs, r->want.gs_base);
		fprintf(f, "%ld %s %d %#lx %#lx %#lx %#lx %#lx %#lx 0\n", r->tid,
			class_name[r->class], r->cpu, r->seen.fs, r->seen.fs_base,
			r->seen.gs, r->seen.gs_base, r->seen.fs_base, r->seen.gs_base);
	}
	fprintf(f, "%ld %s %d %#lx %#lx %#lx %#lx %#lx %#lx %s\n", self.tid,
		fsgs ? "crasher-moved-real" : "crasher-null-high", 0, self.want.fs,
		self.want.fs_base, self.want.gs, self.want.gs_base, alt.fs_base,
		alt.gs_base, abrt ? "SIGABRT" : "SIGSEGV");
	fclose(f);
	fflush(stdout);

	/* No libc from here: FS is no longer glibc's. */
	if (fsgs) {
		set_fs(self.want.fs);
		set_gs(self.want.gs);
		wrfsbase(self.want.fs_base);
		wrgsbase(self.want.gs_base);
	} else {
		set_fs_null_base(self.want.fs_base);
		set_gs_null_base(self.want.gs_base);
	}
	if (abrt)
		raw_syscall(SYS_tgkill, raw_syscall(SYS_getpid, 0, 0, 0), self.tid, SIGABRT);
	else
		asm volatile("movl $0, 8" : : : "memory");
	return 5;
}
