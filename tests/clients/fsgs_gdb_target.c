// SPDX-License-Identifier: GPL-2.0
/*
 * fsgs_gdb_target: the program gdb drives through gdbserver (the
 * clients-gdb suite; the gdb side is fsgs_gdb.gdb, run on the host).
 *
 * For each case the target sets a known FS/GS state, records what it sees
 * itself in 'rec' and stops in gdb_stop(). The gdb script compares $fs,
 * $fs_base, $gs, $gs_base with 'rec', then does what 'act' asks: writes the
 * values in 'wr' with 'set', and/or calls probe() (an inferior call that
 * records the state it runs with in 'in_call'). After 'continue' the target
 * records what it sees again and checks it against the contract's
 * prediction 'want' (W: the writes change the stored values; at resume R0
 * gives a null selector its stored base, R1 a real selector its descriptor
 * base). Prints one KTAP line per case ("ok - gdb <case> resume"; the guest
 * script numbers them).
 *
 * While a case runs FS is not glibc's: no libc calls between set_state()
 * and restore().
 */
#include <stdlib.h>
#include "fsgs_client.h"

enum {
	ACT_FS_BASE = 1, ACT_GS_BASE = 2, ACT_FS_SEL = 4, ACT_GS_SEL = 8,
	ACT_CALL = 16,
};

/* Read by the gdb script: keep the names and layout in step with it. */
struct fsgs rec, wr, in_call, after, want;
const char *case_name;
int act, ncases, case_no, fsgs;
volatile long probe_calls;

static unsigned long glibc_fs_base;
static uint16_t sel_a, sel_b;	/* GDT TLS selectors, bases DESC_A, DESC_B */
#define DESC_A 0x00515000ul
#define DESC_B 0x00626000ul

/* gdb's breakpoint. noinline + asm: a real call the compiler keeps. */
__attribute__((noinline)) void gdb_stop(void)
{
	asm volatile("" ::: "memory");
}

/* For gdb's 'call': must not touch TLS (FS may not be glibc's). */
__attribute__((noinline)) long probe(long x)
{
	fsgs_now(&in_call, fsgs);
	probe_calls++;
	return 2 * x + 1;
}

static void set_null(unsigned long fs_base, unsigned long gs_base)
{
	if (fsgs) {
		set_fs(0);
		set_gs(0);
		wrfsbase(fs_base);
		wrgsbase(gs_base);
	} else {
		set_fs_null_base(fs_base);
		set_gs_null_base(gs_base);
	}
}

static void restore(void)
{
	set_gs_null_base(0);
	set_fs_null_base(glibc_fs_base);
}

static int failures;

static void report(const char *name, int skip)
{
	int ok = !memcmp(&after, &want, sizeof(want));

	if (skip) {
		printf("ok - gdb %s resume # SKIP %s\n", name,
		       "no FSGSBASE: a base cannot be moved away from its descriptor");
		return;
	}
	printf("%s - gdb %s resume\n", ok ? "ok" : "not ok", name);
	printf("# stop: fs=%#lx/%#lx gs=%#lx/%#lx; gdb wrote (act %#x) fs=%#lx/%#lx gs=%#lx/%#lx\n",
	       rec.fs, rec.fs_base, rec.gs, rec.gs_base, act, wr.fs, wr.fs_base,
	       wr.gs, wr.gs_base);
	printf("# resumed: fs=%#lx/%#lx gs=%#lx/%#lx; contract: fs=%#lx/%#lx gs=%#lx/%#lx\n",
	       after.fs, after.fs_base, after.gs, after.gs_base, want.fs,
	       want.fs_base, want.gs, want.gs_base);
	failures += !ok;
}

/* Run one case: state set by 'setup', stop, observe after gdb resumes us. */
#define RUN(name_, act_, setup, wr_, want_)			\
	do {							\
		case_name = name_;				\
		act = act_;					\
		wr = (struct fsgs)wr_;				\
		want = (struct fsgs)want_;			\
		setup;						\
		fsgs_now(&rec, fsgs);				\
		gdb_stop();					\
		fsgs_now(&after, fsgs);				\
		restore();					\
		case_no++;					\
		report(name_, 0);				\
	} while (0)
#define S(...) { __VA_ARGS__ }

int main(void)
{
	fsgs = have_fsgsbase();
	glibc_fs_base = fs_base_now(fsgs);
	sel_a = tls_slot(DESC_A);
	sel_b = tls_slot(DESC_B);
	ncases = 5;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!sel_a || !sel_b) {
		printf("Bail out! set_thread_area failed\n");
		return 1;
	}

	/* Null selectors, bases above 4 GiB; gdb writes other such bases: R0. */
	RUN("null-high", ACT_FS_BASE | ACT_GS_BASE,
	    set_null(HIGH(11), HIGH(12)),
	    S(0, HIGH(13), 0, HIGH(14)),
	    S(0, HIGH(13), 0, HIGH(14)));

	/* Real TLS selectors; gdb writes the bases: R1 restores the
	 * descriptor bases, the written ones are not used. */
	RUN("tls-real", ACT_FS_BASE | ACT_GS_BASE,
	    (set_fs(sel_a), set_gs(sel_b)),
	    S(0, HIGH(15), 0, HIGH(16)),
	    S(sel_a, DESC_A, sel_b, DESC_B));

	/* gdb writes selectors: FS null -> real (R1: descriptor base), GS
	 * real -> null with a written base (R0). */
	RUN("selector-writes", ACT_FS_SEL | ACT_GS_SEL | ACT_GS_BASE,
	    (set_null(HIGH(19), 0), set_gs(sel_b)),
	    S(sel_a, 0, 0, HIGH(20)),
	    S(sel_a, DESC_A, 0, HIGH(20)));

	/* gdb's inferior call saves and restores every register: the state
	 * is intact inside the call and after it. */
	RUN("call", ACT_CALL,
	    (set_null(0, HIGH(21)), set_fs(sel_a)),
	    S(0, 0, 0, 0),
	    S(sel_a, DESC_A, 0, HIGH(21)));

	/* Real selectors with bases moved by WRFSBASE/WRGSBASE: gdb reads
	 * the moved bases (S); at resume R1 gives the descriptor bases. */
	if (fsgs) {
		RUN("moved-real", 0,
		    (set_fs(sel_a), set_gs(sel_b), wrfsbase(HIGH(17)), wrgsbase(HIGH(18))),
		    S(0, 0, 0, 0),
		    S(sel_a, DESC_A, sel_b, DESC_B));
	} else {
		/* gdb still stops here once, so that it sees every case. */
		case_name = "moved-real";
		act = 0;
		set_null(HIGH(17), HIGH(18));
		fsgs_now(&rec, fsgs);
		gdb_stop();
		restore();
		report("moved-real", 1);
	}
	return failures ? 1 : 0;
}
