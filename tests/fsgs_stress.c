// SPDX-License-Identifier: GPL-2.0
/*
 * 'make stress' in the guest: the differential fuzzer (/tests/fsgs_fuzz,
 * tests/fuzz/) and a context-switch load run side by side for --seconds,
 * then slab usage must not have grown. KTAP, three tests:
 *
 *   fuzz     fsgs_fuzz --seed S --seconds T (its KTAP indented above the
 *            result; S+1 for the warm-up); SKIP with the reason when the
 *            binary is absent.
 *   cswitch  pairs of threads ping-pong a byte over pipes, one end pinned
 *            to each CPU; the first end of each pair holds a GS state (null
 *            selector + ARCH_SET_GS base above 4 GiB, a GDT TLS selector, an
 *            LDT selector), hops between the CPUs every HOP round trips
 *            (migration and same-CPU switches both happen), and after every
 *            round trip checks its selector and reads its marker through
 *            %gs:0. Fails on any mismatch or when no round trip happened.
 *   slab     SUnreclaim of /proc/meminfo after the run minus before it, each
 *            the minimum of 3 readings after drop_caches and a shrink of
 *            every slab cache (/sys/kernel/slab/<cache>/shrink, which also
 *            empties KASAN's quarantine of freed objects), at most
 *            --tolerance-kib. Both are taken after a warm-up run of the same
 *            load (first-use caches are then already there).
 *
 * Self-stopping: every thread watches the deadline; the fuzzer is killed if
 * it outlives it by 150 s (then 'fuzz' fails). Total: about T + T/20 (warm-up,
 * 3..30 s) + 6 s, at most T + 190 s.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <asm/prctl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOP 64
#define MAXPAIRS 32

enum gs_kind { GS_NULL, GS_GDT, GS_LDT, GS_KINDS };
static const char *const kind_name[] = { "null+base", "gdt-tls", "ldt" };

struct pair {
	int idx;
	enum gs_kind kind;
	int ab[2], ba[2];		/* pipes: a->b, b->a */
	unsigned long *marker;		/* what %gs:0 must read */
	unsigned short sel;		/* what %gs must hold */
	long trips, hops, bad;
	char first_bad[160];
};

static int ncpu;
static volatile double deadline;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % ncpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static unsigned short gs_sel(void)
{
	unsigned short s;

	asm volatile("mov %%gs, %0" : "=rm"(s));
	return s;
}

static unsigned long gs_word0(void)
{
	unsigned long v;

	asm volatile("mov %%gs:0, %0" : "=r"(v));
	return v;
}

/* Give this thread its GS state; 0 on success. */
static int gs_setup(struct pair *p)
{
	struct user_desc d = {
		.entry_number = -1, .limit = 0xfffff, .seg_32bit = 1,
		.limit_in_pages = 1, .useable = 1,
	};
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (p->kind == GS_NULL ? 0 : MAP_32BIT);

	/* Descriptor bases are 32 bits; the null selector's base is not. */
	p->marker = mmap(NULL, 4096, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p->marker == MAP_FAILED)
		return -1;
	*p->marker = 0x5afe0000UL + p->idx;
	d.base_addr = (unsigned int)(unsigned long)p->marker;
	switch (p->kind) {
	case GS_NULL:
		p->sel = 0;
		return syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)p->marker);
	case GS_GDT: {
		/* An ia32-only call: int $0x80, its argument below 4 GiB. */
		struct user_desc *low = (void *)(p->marker + 8);
		long ret;

		*low = d;
		asm volatile("int $0x80" : "=a"(ret) : "0"(243L), "b"(low)
			     : "r8", "r9", "r10", "r11", "memory");
		if (ret)
			return errno = -ret, -1;
		p->sel = (low->entry_number << 3) | 3;
		break;
	}
	default:
		d.entry_number = p->idx;	/* one LDT entry per pair */
		if (syscall(SYS_modify_ldt, 1, &d, sizeof(d)))
			return -1;
		p->sel = (p->idx << 3) | 4 | 3;
	}
	asm volatile("mov %0, %%gs" : : "rm"(p->sel));
	return 0;
}

static void *side_a(void *arg)
{
	struct pair *p = arg;
	char c = 'x';
	int cpu = p->idx;

	pin(cpu);
	if (gs_setup(p)) {
		snprintf(p->first_bad, sizeof(p->first_bad), "%s setup: %s",
			 kind_name[p->kind], strerror(errno));
		p->bad++;
		deadline = 0;
	}
	while (now() < deadline) {
		if (write(p->ab[1], &c, 1) != 1 || read(p->ba[0], &c, 1) != 1)
			break;
		p->trips++;
		unsigned short s = gs_sel();
		unsigned long w = gs_word0();
		if (s != p->sel || w != *p->marker) {
			if (!p->bad++)
				snprintf(p->first_bad, sizeof(p->first_bad),
					 "pair %d (%s) after %ld trips: gs=%#x want %#x, gs:0=%#lx want %#lx",
					 p->idx, kind_name[p->kind], p->trips, s, p->sel, w, *p->marker);
		}
		if (p->trips % HOP == 0) {
			pin(++cpu);
			p->hops++;
		}
	}
	c = 'q';
	if (write(p->ab[1], &c, 1) != 1)
		p->bad++;
	return NULL;
}

static void *side_b(void *arg)
{
	struct pair *p = arg;
	char c;

	pin(p->idx + 1);
	while (read(p->ab[0], &c, 1) == 1 && c != 'q')
		if (write(p->ba[1], &c, 1) != 1)
			break;
	return NULL;
}

/* The fuzzer in the background; its output copied, each line prefixed,
 * by a thread (so it never blocks on a full pipe). */
struct fuzz {
	pid_t pid;		/* -1: absent */
	FILE *out;
	const char *prefix;
	pthread_t copier;
};

static void *fuzz_copy(void *arg)
{
	struct fuzz *z = arg;
	char line[512];

	while (fgets(line, sizeof(line), z->out))
		printf("%s%s", z->prefix, line);
	return NULL;
}

static void fuzz_start(struct fuzz *z, const char *path, unsigned seed, int seconds)
{
	char s1[16], s2[16];
	int fd[2];

	z->pid = -1;
	if (access(path, X_OK) || pipe(fd))
		return;
	snprintf(s1, sizeof(s1), "%u", seed);
	snprintf(s2, sizeof(s2), "%d", seconds);
	z->pid = fork();
	if (z->pid == 0) {
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		/* Time is the budget (not ops); a failure's minimisation is
		 * bounded so that the run stays bounded. */
		execl(path, path, "--seed", s1, "--seconds", s2, "--ops", "1000000000",
		      "--min-seconds", "60", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	z->out = fdopen(fd[0], "r");
	pthread_create(&z->copier, NULL, fuzz_copy, z);
}

/* Its exit status; killed (-1) if it outlives its --seconds by 150 s. */
static int fuzz_finish(struct fuzz *z, int seconds)
{
	double stop = now() + 150;
	int st, killed = 0;

	while (waitpid(z->pid, &st, WNOHANG) == 0) {
		if (now() > stop && !killed) {
			kill(z->pid, SIGKILL);
			killed = 1;
		}
		usleep(100000);
	}
	pthread_join(z->copier, NULL);
	fclose(z->out);
	if (killed)
		printf("# fuzz: still running 150 s after --seconds %d: killed\n", seconds);
	return killed ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One run of the load for 'seconds'; adds to the pairs' counters. */
static void load(struct pair *pairs, int npairs, double seconds)
{
	pthread_t ta[MAXPAIRS], tb[MAXPAIRS];
	int i;

	deadline = now() + seconds;
	for (i = 0; i < npairs; i++) {
		if (pipe(pairs[i].ab) || pipe(pairs[i].ba)) {
			perror("pipe");
			exit(1);
		}
		pthread_create(&tb[i], NULL, side_b, &pairs[i]);
		pthread_create(&ta[i], NULL, side_a, &pairs[i]);
	}
	for (i = 0; i < npairs; i++) {
		pthread_join(ta[i], NULL);
		pthread_join(tb[i], NULL);
		close(pairs[i].ab[0]), close(pairs[i].ab[1]);
		close(pairs[i].ba[0]), close(pairs[i].ba[1]);
		munmap(pairs[i].marker, 4096);
	}
}

static long meminfo_kib(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	size_t n = strlen(key);
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = atol(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

/* Shrink every slab cache: frees empty slabs and, on a KASAN kernel, the
 * objects its quarantine still holds (they count as allocated). Returns the
 * number of caches shrunk; 0 when the kernel has no /sys/kernel/slab. */
static int shrink_slab_caches(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *e;
	char path[512];
	int n = 0, fd;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_type == DT_LNK)	/* aliases */
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) == 1)
			n++;
		close(fd);
	}
	if (d)
		closedir(d);
	return n;
}

/* Minimum SUnreclaim (kB) of 3 readings, each after shrinking the slab
 * caches, dropping caches and a second for RCU-deferred frees. */
static long settled_sunreclaim(long *slab, int *shrunk)
{
	long best = -1;
	int i, fd;

	for (i = 0; i < 3; i++) {
		sync();
		*shrunk = shrink_slab_caches();
		fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "3", 1) != 1)
				perror("drop_caches");
			close(fd);
		}
		sleep(1);
		long v = meminfo_kib("SUnreclaim");
		if (best < 0 || v < best) {
			best = v;
			*slab = meminfo_kib("Slab");
		}
	}
	return best;
}

static long ctxt_switches(void)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "ctxt ", 5))
			v = atol(line + 5);
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	int seconds = 600, npairs = 3, tolerance = 256, i, rc = -2, shrunk = 0;
	const char *fuzz = "/tests/fsgs_fuzz";
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	struct pair pairs[MAXPAIRS];
	long slab0, slab1, su0, su1, ctxt, trips = 0, hops = 0, bad = 0;
	const char *why = NULL;
	struct fuzz z = { .prefix = "# warm-up: " };
	double t0;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--pairs"))
			npairs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--tolerance-kib"))
			tolerance = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--fuzz"))
			fuzz = argv[i + 1];
		else
			break;
	}
	if (i < argc || seconds < 1 || npairs < 1 || npairs > MAXPAIRS) {
		fprintf(stderr, "usage: fsgs_stress [--seconds T] [--pairs N<=%d] "
			"[--tolerance-kib K] [--seed S] [--fuzz PATH]\n", MAXPAIRS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	memset(pairs, 0, sizeof(pairs));
	for (i = 0; i < npairs; i++)
		pairs[i].idx = i, pairs[i].kind = i % GS_KINDS;

	printf("TAP version 13\n1..3\n");
	printf("# stress: %d s, %d pair(s) on %d CPU(s), fuzzer %s, seed %u, slab tolerance %d kB\n",
	       seconds, npairs, ncpu, fuzz, seed, tolerance);

	/* Warm-up: the same load, short, so first-use caches exist before. */
	int warm = seconds / 20 < 3 ? 3 : seconds / 20 > 30 ? 30 : seconds / 20;
	fuzz_start(&z, fuzz, seed + 1, warm);
	load(pairs, npairs, warm);
	if (z.pid > 0 && fuzz_finish(&z, warm) != 0)
		why = "warm-up run failed (its output above)";
	su0 = settled_sunreclaim(&slab0, &shrunk);
	printf("# before: SUnreclaim %ld kB, Slab %ld kB (after %d s warm-up; %d slab caches shrunk)\n",
	       su0, slab0, warm, shrunk);

	t0 = now();
	ctxt = ctxt_switches();
	z.prefix = "    ";	/* the fuzzer's KTAP, a subtest of 'fuzz' */
	fuzz_start(&z, fuzz, seed, seconds);
	load(pairs, npairs, seconds);
	if (z.pid > 0)
		rc = fuzz_finish(&z, seconds);
	ctxt = ctxt_switches() - ctxt;

	if (z.pid < 0)
		printf("ok 1 fuzz # SKIP %s not present (tests/fuzz not built)\n", fuzz);
	else if (why)
		printf("not ok 1 fuzz # %s\n", why);
	else
		printf("%s 1 fuzz%s\n", rc == 0 ? "ok" : "not ok", rc == 0 ? "" : " # exit status != 0");

	for (i = 0; i < npairs; i++) {
		trips += pairs[i].trips, hops += pairs[i].hops, bad += pairs[i].bad;
		if (pairs[i].bad)
			printf("# %s\n", pairs[i].first_bad);
	}
	printf("# cswitch: %ld round trips, %ld CPU hops, %ld context switches (%.0f/s) in %.0f s\n",
	       trips, hops, ctxt, ctxt / (now() - t0), now() - t0);
	printf("%s 2 cswitch\n", bad == 0 && trips > 0 ? "ok" : "not ok");

	su1 = settled_sunreclaim(&slab1, &shrunk);
	printf("# after: SUnreclaim %ld kB, Slab %ld kB (%d slab caches shrunk)\n",
	       su1, slab1, shrunk);
	printf("%s 3 slab # SUnreclaim %+ld kB (tolerance %d kB), Slab %+ld kB\n",
	       su0 >= 0 && su1 - su0 <= tolerance ? "ok" : "not ok",
	       su1 - su0, tolerance, slab1 - slab0);
	return bad || trips == 0 || (z.pid > 0 && (why || rc)) || su0 < 0 || su1 - su0 > tolerance;
}
