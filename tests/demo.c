// SPDX-License-Identifier: GPL-2.0
/*
 * The lab's demo: a few readable lines showing the kernel, the series,
 * whether FSGSBASE is on, a user-space read/write of the FS and GS bases,
 * and one verdict per rule of shared/spec/semantics.md that is quick to show.
 * Bases are checked by reading memory through %gs, so the check does not
 * depend on the reporting paths under test. Exit status: 0 if every verdict
 * is ok, 1 otherwise (the lab shows the verdicts; 'make' does not fail on
 * them, 'make check' is the judge).
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <asm/prctl.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define HWCAP2_FSGSBASE (1 << 1)
#define BIG 0x123456789abcUL /* above 4 GiB */

static int failures;
static sigjmp_buf jb;
static int pp_to[2], pp_from[2];
static pid_t partner;

static void on_sigill(int sig) { siglongjmp(jb, 1); }

static const char *verdict(int ok)
{
	failures += !ok;
	return ok ? "ok" : "FAIL";
}

static long arch_prctl(int code, unsigned long addr)
{
	return syscall(SYS_arch_prctl, code, addr);
}

static unsigned long rdgsbase(void)
{
	unsigned long v;

	asm volatile("rdgsbase %0" : "=r"(v));
	return v;
}

static void wrgsbase(unsigned long v) { asm volatile("wrgsbase %0" :: "r"(v) : "memory"); }
static unsigned short gs_sel(void)
{
	unsigned short s;

	asm volatile("mov %%gs, %0" : "=r"(s));
	return s;
}
static void load_gs(unsigned short s) { asm volatile("mov %0, %%gs" :: "r"(s) : "memory"); }
static unsigned long gs_word(void)
{
	unsigned long v;

	asm volatile("movq %%gs:0, %0" : "=r"(v));
	return v;
}

/* Does one of the FSGSBASE instructions work, or raise SIGILL? */
static int insn_works(int which)
{
	unsigned long v = 0;
	int ok = 0;

	signal(SIGILL, on_sigill);
	if (!sigsetjmp(jb, 1)) {
		switch (which) {
		case 0: asm volatile("rdfsbase %0" : "=r"(v)); break;
		case 1: asm volatile("rdgsbase %0" : "=r"(v)); break;
		case 2: asm volatile("rdfsbase %0; wrfsbase %0" : "=r"(v) :: "memory"); break;
		case 3: asm volatile("rdgsbase %0; wrgsbase %0" : "=r"(v) :: "memory"); break;
		}
		ok = 1;
	}
	signal(SIGILL, SIG_DFL);
	return ok;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		perror("sched_setaffinity");
}

/* A partner process pinned to CPU 0: each ping forces a switch there. */
static void start_partner(void)
{
	char c;

	if (pipe(pp_to) || pipe(pp_from))
		exit(2);
	partner = fork();
	if (!partner) {
		pin(0);
		while (read(pp_to[0], &c, 1) == 1)
			if (write(pp_from[1], &c, 1) != 1)
				break;
		_exit(0);
	}
}

/* Switch out and back in on CPU 0 (we block, the partner runs). */
static int same_cpu_switch(void)
{
	char c = 'x';

	pin(0);
	if (write(pp_to[1], &c, 1) != 1 || read(pp_from[0], &c, 1) != 1)
		return 0;
	return sched_getcpu() == 0;
}

static int migrate(int cpu)
{
	pin(cpu);
	return sched_getcpu() == cpu;
}

static unsigned long *marker_page(unsigned long addr, int flags, unsigned long val)
{
	unsigned long *p = mmap((void *)addr, 4096, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	*p = val;
	return p;
}

/* set_thread_area has no 64-bit entry: use the ia32 one (int $0x80, nr 243)
 * with the descriptor in 32-bit addressable memory. */
static int set_tls(int *entry, unsigned long base)
{
	static struct user_desc *d;
	long r = 243;

	if (!d)
		d = (void *)marker_page(0, MAP_32BIT, 0);
	*d = (struct user_desc){
		.entry_number = *entry, .base_addr = base, .limit = 0xfffff,
		.seg_32bit = 1, .limit_in_pages = 1, .useable = 1,
	};
	asm volatile("int $0x80" : "+a"(r), "+m"(*d) : "b"(d) : "r8", "r9", "r10", "r11");
	*entry = d->entry_number;
	if (r)
		errno = -r;
	return r ? -1 : 0;
}

static int exec_check(void)
{
	unsigned long gsbase = 1;
	unsigned short fs;

	asm volatile("mov %%fs, %0" : "=r"(fs));
	arch_prctl(ARCH_GET_GS, (unsigned long)&gsbase);
	printf("X   exec: FS selector %u, GS selector %u, GS base %#lx: %s\n",
	       fs, gs_sel(), gsbase, fs == 0 && gs_sel() == 0 && gsbase == 0 ? "ok" : "FAIL");
	return !(fs == 0 && gs_sel() == 0 && gsbase == 0);
}

int main(int argc, char **argv)
{
	struct utsname u;
	char cmdline[1024] = "", *series = NULL;
	FILE *f;
	int hw, insn, ncpu, entry = -1, st;
	unsigned long *pa, *pb, *pc, *pr0, v, old, got;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "--exec-check"))
		return exec_check();
	setvbuf(stdout, NULL, _IOLBF, 0);

	uname(&u);
	f = fopen("/proc/cmdline", "r");
	if (f && fgets(cmdline, sizeof(cmdline), f))
		series = strstr(cmdline, "lab.series=");
	if (f)
		fclose(f);
	if (series)
		series[strcspn(series, " \n")] = 0;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	hw = !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE);
	insn = insn_works(0) && insn_works(1) && insn_works(2) && insn_works(3);

	printf("kernel   %s %s\n", u.release, u.version);
	printf("series   %s\n", series ? series + 11 : "(unknown)");
	printf("cpus     %d online\n", ncpu);
	printf("FSGSBASE %s (HWCAP2_FSGSBASE %s, RD/WR{FS,GS}BASE %s)\n",
	       hw && insn ? "ON" : !hw && !insn ? "OFF" : "INCONSISTENT",
	       hw ? "set" : "clear", insn ? "work" : "raise SIGILL");
	if (insn) {
		asm volatile("rdfsbase %0; wrfsbase %2; rdfsbase %1; wrfsbase %0"
			     : "=&r"(old), "=&r"(got) : "r"(BIG) : "memory");
		arch_prctl(ARCH_GET_FS, (unsigned long)&v);
		printf("FS base  %#lx (= ARCH_GET_FS: %s); WRFSBASE %#lx -> RDFSBASE %#lx: %s\n",
		       old, verdict(v == old), BIG, got, verdict(got == BIG));
		wrgsbase(BIG + 1);
		got = rdgsbase();
		wrgsbase(0);
		printf("GS base  WRGSBASE %#lx -> RDGSBASE %#lx: %s\n", BIG + 1, got,
		       verdict(got == BIG + 1));
	}
	if (ncpu < 2) {
		printf("cpus     need 2 CPUs for the switch/migration rules: FAIL\n");
		return 1;
	}
	start_partner();

	/* R0: null selector, a base above 4 GiB, through a switch and a migration. */
	pr0 = marker_page(0x5a5a00000000UL, MAP_FIXED_NOREPLACE, 0x52300000);
	arch_prctl(ARCH_SET_GS, (unsigned long)pr0);
	{
		int a = same_cpu_switch() && gs_word() == 0x52300000;
		int b = migrate(1) && gs_word() == 0x52300000;

		printf("R0  null selector, base %p: same-CPU switch %s, migration 0->1 %s\n",
		       (void *)pr0, verdict(a), verdict(b));
	}
	pin(0);

	/* A: ARCH_SET_GS sets selector 0 and the base; out of range is -EPERM. */
	pa = marker_page(0, MAP_32BIT, 0xA);
	pb = marker_page(0, MAP_32BIT, 0xB);
	pc = marker_page(0, MAP_32BIT, 0xC);
	if (set_tls(&entry, (unsigned long)pa)) {
		perror("set_thread_area");
		return 2;
	}
	load_gs(entry << 3 | 3);
	arch_prctl(ARCH_SET_GS, (unsigned long)pr0);
	errno = 0;
	{
		int sel0 = gs_sel() == 0 && gs_word() == 0x52300000;
		int eperm = arch_prctl(ARCH_SET_GS, 1UL << 63) == -1 && errno == EPERM;

		printf("A   ARCH_SET_GS over a TLS selector: selector 0 + base %s; "
		       "kernel-half value -> EPERM %s\n", verdict(sel0), verdict(eperm));
	}

	/* R1: real selector; with FSGSBASE, move its base, then switch/migrate. */
	load_gs(entry << 3 | 3);
	if (insn) {
		int a, b;

		wrgsbase((unsigned long)pb);
		a = same_cpu_switch() && gs_word() == 0xA;
		wrgsbase((unsigned long)pb);
		b = migrate(1) && gs_word() == 0xA;
		printf("R1  TLS selector, base moved by WRGSBASE: descriptor base back after "
		       "same-CPU switch %s, after migration %s\n", verdict(a), verdict(b));
	} else {
		int a = same_cpu_switch() && gs_word() == 0xA;
		int b = migrate(1) && gs_word() == 0xA;

		printf("R1  TLS selector: descriptor base after same-CPU switch %s, "
		       "after migration %s\n", verdict(a), verdict(b));
	}
	pin(0);

	/* D: set_thread_area on the loaded descriptor; seen when the call returns. */
	load_gs(entry << 3 | 3);
	set_tls(&entry, (unsigned long)pc);
	printf("D   set_thread_area on the loaded TLS descriptor: new base seen %s\n",
	       verdict(gs_word() == 0xC));
	load_gs(0);
	arch_prctl(ARCH_SET_GS, 0);

	/* X: exec starts with null selectors and base 0 (GS set before exec). */
	arch_prctl(ARCH_SET_GS, (unsigned long)pr0);
	pid = fork();
	if (!pid) {
		execl("/proc/self/exe", argv[0], "--exec-check", (char *)NULL);
		_exit(3);
	}
	waitpid(pid, &st, 0);
	failures += !WIFEXITED(st) || WEXITSTATUS(st);
	arch_prctl(ARCH_SET_GS, 0);

	/* N: without FSGSBASE the instructions raise SIGILL and HWCAP2 is clear. */
	if (insn)
		printf("N   not applicable: FSGSBASE is on (see the nofsgsbase/nocpu boots)\n");
	else
		printf("N   FSGSBASE off: HWCAP2 clear %s, all four instructions SIGILL %s\n",
		       verdict(!hw), verdict(!insn_works(0) && !insn_works(1) &&
					      !insn_works(2) && !insn_works(3)));

	kill(partner, SIGKILL);
	waitpid(partner, NULL, 0);
	printf("demo     %s\n", failures ? "SOME RULES FAIL (see above)" : "all shown rules hold");
	return !!failures;
}
