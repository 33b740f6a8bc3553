// SPDX-License-Identifier: GPL-2.0-only
/*
 * fsgs_fuzz - differential fuzzer of the FS/GS save/restore contract
 * (../shared/spec/semantics.md: S, R0, R1, W, A, G, D, M, N, X).
 *
 * A seeded generator makes random operations for two worker threads of a
 * fresh "subject" process (pinned to CPU 0 and CPU 1 at start): WR*BASE,
 * MOV to %fs/%gs (null, GDT TLS, LDT, __USER_DS and other GDT segments,
 * unloadable ones), set_thread_area, modify_ldt (add, change, clear),
 * ARCH_SET_*, a signal with a handler, yield, sleep, migration, fork, exec;
 * and tracer operations done by this process on a stopped worker
 * (PTRACE_SEIZE + PTRACE_INTERRUPT): PEEKUSER/GETREGS/PTRACE_ARCH_PRCTL
 * reads, POKEUSER, SETREGS (bad fields included), PTRACE_ARCH_PRCTL SET,
 * PTRACE_SET_THREAD_AREA.  Operations run one at a time; after each one the
 * worker observes its selectors, its bases (RD*BASE, or ARCH_GET_* without
 * FSGSBASE) and word 0 through %fs:/%gs: (every tagged page holds its own
 * address there).
 *
 * The model keeps, per thread, the set of states the contract allows
 * (usually one).  Switches are not guessed: the worker counts its context
 * switches (getrusage) around each step, and a step that saw one applies
 * R0/R1 (a step that may have seen one allows both).  Nondeterminism the
 * contract leaves open is a set of candidates: the base after a MOV of a
 * null selector (0 or unchanged, CPU-dependent), IRET turning selectors 1-3
 * into 0, and without FSGSBASE (rule N) an unknown base.  An observation
 * that fits no candidate is a divergence: it is reported with the seed, the
 * run, the operation, expected and observed, and then minimised by delta
 * debugging, each attempt a replay in a fresh subject.
 *
 * The worker threads run with foreign FS/GS: from their start on they use
 * no C library (raw system calls, no errno, no stack protector).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <asm/ldt.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <sys/user.h>
#include <sys/wait.h>

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE		0x2
#endif
#ifndef PTRACE_ARCH_PRCTL
#define PTRACE_ARCH_PRCTL	30
#endif
#ifndef PTRACE_SET_THREAD_AREA
#define PTRACE_SET_THREAD_AREA	26
#endif
#define ARCH_SET_GS_		0x1001
#define ARCH_SET_FS_		0x1002
#define ARCH_GET_FS_		0x1003
#define ARCH_GET_GS_		0x1004

#define NTHR		2
#define MAXC		32		/* candidate states per thread */
#define RUN_OPS		1000		/* operations per run (one subject) */
#define BATCH		16		/* operations of one thread per hand-over */
#define NPAGE		6
#define PAGE_LOW	0x10000000UL	/* tagged pages P0..P5, below 4 GiB */
#define PAGE_HIGH	0x234560000UL	/* a tagged page above 4 GiB */
#define V_UNMAPPED	0x12345000UL
#define V_KERNEL	0xffff888012345000UL	/* kernel half, canonical */
#define V_TOO_HIGH	0xffff800000000000UL	/* >= TASK_SIZE_MAX (4 and 5 level) */
#define V_NONCANON	0x8000000000000000UL
/* Every bad base the fuzzer uses has bit 63 set; every good one is below 2^47. */
#define BAD_BASE(v)	((v) >> 63)
#define TAG_FAULT	0xfa17fa17fa17fa17UL
#define TLS0		12		/* GDT_ENTRY_TLS_MIN */
#define NLDT		4		/* LDT entries the fuzzer uses */

enum { FS, GS };

enum opkind {
	OP_NOP, OP_WRBASE, OP_MOVSEL, OP_ARCHSET, OP_STA, OP_LDT, OP_SIGNAL,
	OP_YIELD, OP_SLEEP, OP_MIGRATE, OP_FORK, OP_EXEC,
	OP_TPEEK, OP_TPOKE, OP_TSETREGS, OP_TARCH, OP_TSTA, OP_QUIT, NOPKIND
};
static const char *const opname[] = {
	"nop", "wrbase", "mov", "arch_set", "set_thread_area", "modify_ldt",
	"signal", "yield", "sleep", "migrate", "fork", "exec", "t_peek",
	"t_poke", "t_setregs", "t_arch_prctl", "t_set_thread_area", "quit",
};

struct op {
	unsigned char kind, thr, seg, field;	/* field: POKE field, STA/LDT entry */
	unsigned char mask;			/* SETREGS: fields written */
	unsigned long v[4];			/* value(s) */
	int id;					/* index in the run's sequence */
};

/* One observation by a worker of its own live state. */
struct obs {
	unsigned long sel[2], base[2], tag[2];
	long ca, cb;				/* switches before and after */
	int cpu;
};

/* What a worker records for one operation. */
struct res {
	int tag_ok[2], htag_ok[2], ctag_ok[2];	/* set by the driver */
	long c0, rc;
	struct obs o, h, child;			/* after; in the handler; fork child */
	int sigs, exec_status, child_status;
	unsigned long sc_fs, sc_gs;
};

/*
 * Per-worker mailbox, shared with the driver (below 4 GiB for int $0x80):
 * a batch of operations of this thread, and their results.
 */
struct mbox {
	int cmd, done;				/* futex words */
	int tid, ready, nb;
	struct op op[BATCH];
	struct res res[BATCH];
	struct res *cur;
	int faulted, crash, crash_sig;
	volatile int expect_fault, fault_len;
	unsigned long crash_rip;
	struct user_desc ud;
};

struct shared {
	struct mbox mb[NTHR];
	int have_fsgs, ncpus;
	char exe[256];
	char *argv[3];
	char arg1[32];
};

static struct shared *sh;
static int have_fsgs;

/* ---- Worker side: no C library ------------------------------------------ */

static inline long rsys(long nr, long a1, long a2, long a3, long a4)
{
	register long r10 asm("r10") = a4;
	long ret;

	asm volatile ("syscall" : "=a" (ret)
		      : "0" (nr), "D" (a1), "S" (a2), "d" (a3), "r" (r10)
		      : "rcx", "r11", "memory");
	return ret;
}

static inline long rset_thread_area(struct user_desc *d)
{
	long ret;

	/* An ia32 system call: int $0x80, descriptor below 4 GiB. */
	asm volatile ("int $0x80" : "=a" (ret) : "0" (243L), "b" (d)
		      : "r8", "r9", "r10", "r11", "memory");
	return ret;
}

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

static inline long rcsw(void)
{
	struct rusage ru;

	rsys(SYS_getrusage, RUSAGE_THREAD, (long)&ru, 0, 0);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static inline unsigned long rd_sel(int seg)
{
	unsigned short s;

	if (seg == FS)
		asm volatile ("mov %%fs, %0" : "=r" (s));
	else
		asm volatile ("mov %%gs, %0" : "=r" (s));
	return s;
}

static inline unsigned long rd_base(int seg)
{
	unsigned long v = 0;

	if (!have_fsgs) {
		rsys(SYS_arch_prctl, seg == FS ? ARCH_GET_FS_ : ARCH_GET_GS_, (long)&v, 0, 0);
		return v;
	}
	if (seg == FS)
		asm volatile ("rdfsbase %0" : "=r" (v));
	else
		asm volatile ("rdgsbase %0" : "=r" (v));
	return v;
}

static inline void wr_base(int seg, unsigned long v)
{
	if (seg == FS)
		asm volatile ("wrfsbase %0" : : "r" (v) : "memory");
	else
		asm volatile ("wrgsbase %0" : : "r" (v) : "memory");
}

/*
 * Word 0 through the segment; fixed encodings (9 bytes) so that the SIGSEGV
 * handler can skip a faulting read, which then returns TAG_FAULT.
 */
static inline unsigned long rd_tag(struct mbox *mb, int seg)
{
	unsigned long v = TAG_FAULT;

	mb->fault_len = 9;
	mb->expect_fault = 1;
	if (seg == FS)	/* mov %fs:0, %rax */
		asm volatile (".byte 0x64,0x48,0x8b,0x04,0x25,0,0,0,0" : "+a" (v) : : "memory");
	else		/* mov %gs:0, %rax */
		asm volatile (".byte 0x65,0x48,0x8b,0x04,0x25,0,0,0,0" : "+a" (v) : : "memory");
	mb->expect_fault = 0;
	return v;
}

/* MOV to %fs/%gs (2 bytes); returns 1 if it faulted (#GP, skipped). */
static inline int ld_sel(struct mbox *mb, int seg, unsigned int sel)
{
	mb->faulted = 0;
	mb->fault_len = 2;
	mb->expect_fault = 1;
	if (seg == FS)	/* mov %eax, %fs */
		asm volatile (".byte 0x8e,0xe0" : : "a" (sel) : "memory");
	else		/* mov %eax, %gs */
		asm volatile (".byte 0x8e,0xe8" : : "a" (sel) : "memory");
	mb->expect_fault = 0;
	return mb->faulted;
}

static inline void observe(struct mbox *mb, struct obs *o, const int *tag_ok)
{
	unsigned int cpu = 0;
	int s;

	o->ca = rcsw();
	for (s = FS; s <= GS; s++) {
		o->sel[s] = rd_sel(s);
		o->base[s] = rd_base(s);
	}
	for (s = FS; s <= GS; s++)
		o->tag[s] = tag_ok[s] ? rd_tag(mb, s) : 0;
	rsys(SYS_getcpu, (long)&cpu, 0, 0, 0);
	o->cpu = cpu;
	o->cb = rcsw();
}

static struct mbox *my_mbox(void)
{
	long tid = rsys(SYS_gettid, 0, 0, 0, 0);
	int i;

	for (i = 0; i < NTHR; i++)
		if (sh->mb[i].tid == tid)
			return &sh->mb[i];
	return NULL;
}

static void segv_handler(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	struct mbox *mb = my_mbox();

	(void)si;
	if (mb && mb->expect_fault && sig == SIGSEGV) {
		uc->uc_mcontext.gregs[REG_RIP] += mb->fault_len;
		mb->faulted = 1;
		mb->expect_fault = 0;
		return;
	}
	if (mb) {
		mb->crash_sig = sig;
		mb->crash_rip = uc->uc_mcontext.gregs[REG_RIP];
		STORE(mb->crash, 1);
	}
	for (;;)
		rsys(SYS_exit_group, 100 + sig, 0, 0, 0);
}

/* G: the handler sees the live state; sigreturn ignores the fs/gs slots. */
static void usr1_handler(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	struct mbox *mb = my_mbox();
	unsigned long csgsfs = uc->uc_mcontext.gregs[REG_CSGSFS];

	(void)sig;
	(void)si;
	if (!mb)
		return;
	observe(mb, &mb->cur->h, mb->cur->htag_ok);
	mb->cur->sc_gs = (csgsfs >> 16) & 0xffff;
	mb->cur->sc_fs = (csgsfs >> 32) & 0xffff;
	uc->uc_mcontext.gregs[REG_CSGSFS] |= 0xffffUL << 16 | 0xffffUL << 32;
	mb->cur->sigs++;
}

static void pin(int cpu)
{
	unsigned long mask = 1UL << cpu;

	rsys(SYS_sched_setaffinity, 0, sizeof(mask), (long)&mask, 0);
}

static void do_op(struct mbox *mb, const struct op *op, struct res *rs)
{
	struct { long sec, nsec; } ts = { 0, 50000 };
	unsigned int cpu = 0;
	int status = 0;
	long pid;

	rs->rc = 0;
	switch (op->kind) {
	case OP_WRBASE:
		wr_base(op->seg, op->v[0]);
		break;
	case OP_MOVSEL:
		rs->rc = ld_sel(mb, op->seg, op->v[0]);
		break;
	case OP_ARCHSET:
		rs->rc = rsys(SYS_arch_prctl, op->seg == FS ? ARCH_SET_FS_ : ARCH_SET_GS_,
			      op->v[0], 0, 0);
		break;
	case OP_STA:
		mb->ud = (struct user_desc){ .entry_number = op->field };
		if (op->v[0]) {
			mb->ud.base_addr = op->v[0];
			mb->ud.limit = 0xfffff;
			mb->ud.seg_32bit = 1;
			mb->ud.limit_in_pages = 1;
		} else {
			mb->ud.read_exec_only = 1;	/* empty: clears the slot */
			mb->ud.seg_not_present = 1;
		}
		rs->rc = rset_thread_area(&mb->ud);
		break;
	case OP_LDT:
		mb->ud = (struct user_desc){ .entry_number = op->field };
		if (op->v[0]) {
			mb->ud.base_addr = op->v[0];
			mb->ud.limit = 0xfffff;
			mb->ud.seg_32bit = 1;
			mb->ud.limit_in_pages = 1;
		} else {
			mb->ud.read_exec_only = 1;
			mb->ud.seg_not_present = 1;
		}
		rs->rc = rsys(SYS_modify_ldt, 0x11, (long)&mb->ud, sizeof(mb->ud), 0);
		break;
	case OP_SIGNAL:
		rs->sigs = 0;
		rs->sc_fs = rs->sc_gs = 0x5a5a;
		rsys(SYS_tgkill, rsys(SYS_getpid, 0, 0, 0, 0), mb->tid, SIGUSR1, 0);
		rs->rc = rs->sigs;
		break;
	case OP_YIELD:
		rsys(SYS_sched_yield, 0, 0, 0, 0);
		break;
	case OP_SLEEP:
		rsys(SYS_nanosleep, (long)&ts, 0, 0, 0);
		break;
	case OP_MIGRATE:
		rsys(SYS_getcpu, (long)&cpu, 0, 0, 0);
		pin(sh->ncpus > 1 ? !cpu : 0);
		break;
	case OP_FORK:
		/* clone without an exit signal: no SIGCHLD reaches the workers */
		pid = rsys(SYS_clone, 0, 0, 0, 0);
		if (pid == 0) {
			observe(mb, &rs->child, rs->ctag_ok);
			for (;;)
				rsys(SYS_exit_group, 0, 0, 0, 0);
		}
		rs->rc = pid < 0 ? pid : rsys(SYS_wait4, pid, (long)&status, __WALL, 0);
		rs->child_status = status;
		break;
	case OP_EXEC:
		pid = rsys(SYS_clone, 0, 0, 0, 0);
		if (pid == 0) {
			rsys(SYS_execve, (long)sh->exe, (long)sh->argv, (long)&sh->argv[2], 0);
			for (;;)
				rsys(SYS_exit_group, 127, 0, 0, 0);
		}
		rs->rc = pid < 0 ? pid : rsys(SYS_wait4, pid, (long)&status, __WALL, 0);
		rs->exec_status = status;
		break;
	default:	/* OP_NOP and tracer operations: only the observation */
		break;
	}
}

static void *worker(void *arg)
{
	struct mbox *mb = arg;
	int seen = 0, s, i;

	/* From here on this thread's FS is not the C library's. */
	mb->tid = rsys(SYS_gettid, 0, 0, 0, 0);
	pin(sh->ncpus > 1 ? (int)(mb - sh->mb) : 0);
	STORE(mb->ready, 1);
	rsys(SYS_futex, (long)&mb->ready, FUTEX_WAKE, 1, 0);
	for (;;) {
		while ((s = LOAD(mb->cmd)) == seen)
			rsys(SYS_futex, (long)&mb->cmd, FUTEX_WAIT, seen, 0);
		seen = s;
		if (mb->op[0].kind == OP_QUIT)
			for (;;)
				rsys(SYS_exit, 0, 0, 0, 0);
		for (i = 0; i < mb->nb; i++) {
			struct res *rs = mb->cur = &mb->res[i];

			rs->c0 = rcsw();
			do_op(mb, &mb->op[i], rs);
			observe(mb, &rs->o, rs->tag_ok);
		}
		STORE(mb->done, s);
		rsys(SYS_futex, (long)&mb->done, FUTEX_WAKE, 1, 0);
	}
	return NULL;
}

/* ---- The model ------------------------------------------------------------ */

struct segst {
	unsigned long sel, base;
	int unk;		/* N: base unspecified */
};

struct tst {
	struct segst s[2];
};

struct cset {
	int n, full;		/* full: a candidate was dropped */
	struct tst c[MAXC];
};

struct desc {
	int present;
	unsigned long base;
};

struct tables {
	struct desc ldt[NLDT];
	struct desc tls[NTHR][3];
};

struct model {
	struct tables tb;
	struct cset c[NTHR];
	long last_cb[NTHR];
	unsigned long tracer_base[NTHR][2][8];	/* N: bases a tracer stored */
	int ntb[NTHR][2];
};

static unsigned long page(int i)
{
	return i < NPAGE ? PAGE_LOW + i * 0x1000UL : PAGE_HIGH;
}

static int is_null(unsigned long sel)
{
	return (sel & 0xffff) < 4;
}

static int tagged(unsigned long b)
{
	int i;

	for (i = 0; i <= NPAGE; i++)
		if (b == page(i))
			return 1;
	return 0;
}

/* Can selector @sel be loaded in thread @t, and with which base? */
static int loadable(const struct tables *tb, int t, unsigned long sel, unsigned long *base)
{
	unsigned long idx = (sel & 0xffff) >> 3;

	if (sel > 0xffff)
		return 0;
	if (sel & 4) {
		if (idx >= NLDT || !tb->ldt[idx].present)
			return 0;
		*base = tb->ldt[idx].base;
		return 1;
	}
	switch (idx) {
	case 4: case 5: case 6:		/* __USER32_CS, __USER_DS, __USER_CS */
	case 15:			/* GDT_ENTRY_CPUNODE */
		*base = 0;
		return 1;
	case TLS0: case TLS0 + 1: case TLS0 + 2:
		if (!tb->tls[t][idx - TLS0].present)
			return 0;
		*base = tb->tls[t][idx - TLS0].base;
		return 1;
	}
	return 0;
}

/* R0/R1 for one segment register. */
static struct segst restore1(const struct tables *tb, int t, struct segst x)
{
	unsigned long b;

	if (is_null(x.sel))
		return x;
	if (!loadable(tb, t, x.sel, &b))
		return (struct segst){ 0, 0, 0 };
	return (struct segst){ x.sel, b, 0 };
}

static struct tst restore(const struct tables *tb, int t, struct tst x)
{
	x.s[FS] = restore1(tb, t, x.s[FS]);
	x.s[GS] = restore1(tb, t, x.s[GS]);
	return x;
}

static int seg_eq(struct segst a, struct segst b)
{
	return a.sel == b.sel && a.unk == b.unk && (a.unk || a.base == b.base);
}

static void cs_add(struct cset *cs, struct tst x)
{
	int i;

	for (i = 0; i < cs->n; i++)
		if (seg_eq(cs->c[i].s[FS], x.s[FS]) && seg_eq(cs->c[i].s[GS], x.s[GS]))
			return;
	if (cs->n < MAXC)
		cs->c[cs->n++] = x;
	else
		cs->full = 1;
}

static void cs_restore(const struct tables *tb, int t, struct cset *cs, int keep)
{
	struct cset out = { .full = cs->full };
	int i;

	for (i = 0; i < cs->n; i++) {
		if (keep)
			cs_add(&out, cs->c[i]);
		cs_add(&out, restore(tb, t, cs->c[i]));
	}
	*cs = out;
}

/* D, for another thread of the process: selectors naming changed LDT entries. */
static void cs_ldt_reload(const struct tables *tb, int t, struct cset *cs, unsigned int dirty)
{
	int i, s;

	for (i = 0; i < cs->n; i++)
		for (s = FS; s <= GS; s++) {
			struct segst *x = &cs->c[i].s[s];

			if (!is_null(x->sel) && (x->sel & 4) && (x->sel >> 3) < NLDT &&
			    (dirty >> (x->sel >> 3) & 1))
				*x = restore1(tb, t, *x);
		}
}

/* Does @sel name GDT TLS entry or LDT entry @e? */
static int names(unsigned long sel, int ldt, int e)
{
	return !is_null(sel) && !!(sel & 4) == ldt && (sel >> 3) == (unsigned long)e;
}

/* The table change an operation makes (set_thread_area, modify_ldt). */
static void apply_tables(struct tables *tb, const struct op *op)
{
	struct desc d = { op->v[0] != 0, op->v[0] };

	if (op->kind == OP_STA || op->kind == OP_TSTA)
		tb->tls[op->thr][op->field - TLS0] = d;
	else if (op->kind == OP_LDT)
		tb->ldt[op->field] = d;
}

/* The effect of a worker operation on one candidate (tables already changed). */
static void apply_op(const struct tables *tb, const struct op *op, struct tst x, struct cset *out)
{
	int t = op->thr, s = op->seg;
	unsigned long b;

	switch (op->kind) {
	case OP_WRBASE:
		x.s[s].base = op->v[0];
		x.s[s].unk = 0;
		break;
	case OP_MOVSEL:
		if (!loadable(tb, t, op->v[0], &b) && !is_null(op->v[0]))
			break;				/* #GP, nothing changes */
		if (!is_null(op->v[0])) {
			x.s[s] = (struct segst){ op->v[0], b, 0 };
			break;
		}
		if (!have_fsgs) {			/* N: unspecified */
			x.s[s] = (struct segst){ op->v[0], 0, 1 };
			break;
		}
		/* The CPU either clears the base or keeps it. */
		x.s[s].sel = op->v[0];
		cs_add(out, x);
		x.s[s].base = 0;
		break;
	case OP_ARCHSET:
		if (!BAD_BASE(op->v[0]))
			x.s[s] = (struct segst){ 0, op->v[0], 0 };
		break;
	case OP_STA:
	case OP_LDT:
		/* D: the calling thread sees the change when the call returns. */
		for (s = FS; s <= GS; s++)
			if (names(x.s[s].sel, op->kind == OP_LDT, op->field))
				x.s[s] = restore1(tb, t, x.s[s]);
		break;
	default:
		break;
	}
	cs_add(out, x);
}

static int op_changes_state(int kind)
{
	return kind == OP_WRBASE || kind == OP_MOVSEL || kind == OP_ARCHSET ||
	       kind == OP_STA || kind == OP_LDT;
}

/* ---- Divergence reports ----------------------------------------------------- */

static char why[2048];
static int verbose;

#define WHY(...)	snprintf(why + strlen(why), sizeof(why) - strlen(why), __VA_ARGS__)

static void fmt_op(char *buf, size_t len, const struct op *op)
{
	static const char *const fld[] = { "fs", "gs", "fs_base", "gs_base" };
	const char *sg = op->seg == FS ? "fs" : "gs";

	switch (op->kind) {
	case OP_WRBASE:
		snprintf(buf, len, "wr%sbase %#lx", sg, op->v[0]);
		break;
	case OP_MOVSEL:
		snprintf(buf, len, "mov %#lx -> %%%s", op->v[0], sg);
		break;
	case OP_ARCHSET:
		snprintf(buf, len, "arch_prctl(ARCH_SET_%s, %#lx)", op->seg == FS ? "FS" : "GS", op->v[0]);
		break;
	case OP_STA:
	case OP_TSTA:
		snprintf(buf, len, "%s entry %d base %#lx%s", opname[op->kind], op->field,
			 op->v[0], op->v[0] ? "" : " (clear)");
		break;
	case OP_LDT:
		snprintf(buf, len, "modify_ldt entry %d base %#lx%s", op->field, op->v[0],
			 op->v[0] ? "" : " (clear)");
		break;
	case OP_TPOKE:
		snprintf(buf, len, "t_pokeuser %s = %#lx", fld[op->field], op->v[0]);
		break;
	case OP_TSETREGS:
		snprintf(buf, len, "t_setregs");
		for (int i = 0; i < 4; i++)
			if (op->mask >> i & 1)
				snprintf(buf + strlen(buf), len - strlen(buf), " %s=%#lx",
					 fld[i], op->v[i]);
		break;
	case OP_TARCH:
		if (op->field)
			snprintf(buf, len, "t_arch_prctl ARCH_SET_%s %#lx",
				 op->seg == FS ? "FS" : "GS", op->v[0]);
		else
			snprintf(buf, len, "t_arch_prctl ARCH_GET_%s", op->seg == FS ? "FS" : "GS");
		break;
	default:
		snprintf(buf, len, "%s", opname[op->kind]);
		break;
	}
}

static void why_cands(const struct cset *cs)
{
	int i;

	for (i = 0; i < cs->n && i < 6; i++) {
		const struct tst *x = &cs->c[i];

		WHY("%s{fs=%#lx/", i ? " | " : "", x->s[FS].sel);
		if (x->s[FS].unk)
			WHY("?");
		else
			WHY("%#lx", x->s[FS].base);
		WHY(" gs=%#lx/", x->s[GS].sel);
		if (x->s[GS].unk)
			WHY("?}");
		else
			WHY("%#lx}", x->s[GS].base);
	}
	if (cs->n > 6)
		WHY(" (+%d more)", cs->n - 6);
}

static void why_obs(const struct obs *o, const int *tag_ok)
{
	WHY("fs=%#lx/%#lx", o->sel[FS], o->base[FS]);
	if (tag_ok[FS])
		WHY(" tag %#lx", o->tag[FS]);
	WHY(" gs=%#lx/%#lx", o->sel[GS], o->base[GS]);
	if (tag_ok[GS])
		WHY(" tag %#lx", o->tag[GS]);
	WHY(" (cpu %d)", o->cpu);
}

/* ---- Matching observations -------------------------------------------------- */

static int seg_match(struct segst x, unsigned long sel, unsigned long base)
{
	/* CPU fact: IRET turns a selector 1-3 into 0 and keeps the base. */
	if (sel != x.sel && !(sel == 0 && x.sel >= 1 && x.sel <= 3))
		return 0;
	return x.unk || base == x.base;
}

static int obs_match(struct tst x, const struct obs *o, const int *tag_ok)
{
	int s;

	for (s = FS; s <= GS; s++) {
		if (!seg_match(x.s[s], o->sel[s], o->base[s]))
			return 0;
		if (tag_ok[s] && o->tag[s] != x.s[s].base)
			return 0;
	}
	return 1;
}

/* The candidate narrowed to what was seen (selector 1-3 that became 0). */
static struct tst narrow(struct tst x, const unsigned long *sel)
{
	x.s[FS].sel = sel[FS];
	x.s[GS].sel = sel[GS];
	return x;
}

/*
 * Filter @cs by an observation.  @straddled: a switch happened while the
 * worker observed; then each field may come from before or after it.
 */
static int cs_observe(const struct tables *tb, int t, struct cset *cs,
		      const struct obs *o, const int *tag_ok, int straddled)
{
	struct cset out = { 0 };
	int i;

	for (i = 0; i < cs->n; i++) {
		struct tst x = cs->c[i], r = restore(tb, t, x);

		if (!straddled) {
			if (obs_match(x, o, tag_ok))
				cs_add(&out, narrow(x, o->sel));
			continue;
		}
		for (int s = FS; s <= GS; s++) {
			int ok = seg_match(x.s[s], o->sel[s], o->base[s]) ||
				 seg_match(r.s[s], o->sel[s], o->base[s]);

			if (tag_ok[s] && o->tag[s] != x.s[s].base && o->tag[s] != r.s[s].base)
				ok = 0;
			if (!ok)
				goto next;
		}
		cs_add(&out, r);
next:		;
	}
	if (!out.n)
		return -1;
	*cs = out;
	return 0;
}

/* Tag reads are safe when every candidate's base is a tagged page. */
static void tag_flags(const struct cset *cs, int *ok)
{
	int i, s;

	for (s = FS; s <= GS; s++) {
		ok[s] = cs->n > 0 && !cs->full;
		for (i = 0; i < cs->n; i++)
			if (cs->c[i].s[s].unk || !tagged(cs->c[i].s[s].base))
				ok[s] = 0;
	}
}

/* ---- The driver ----------------------------------------------------------------- */

struct run {
	pid_t pid;
	struct model m;
	int seq[NTHR];
	long nops;		/* operations done in this run */
	long straddled;
};

static long stat_kind[NOPKIND], stat_straddled, stat_maxc;
static double stat_time[NOPKIND];

static long futex_wait_ms(int *addr, int val, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	return syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts);
}

/* Wait until worker @t finished command @seq; 0, or -1 with why[] set. */
static int wait_done(struct run *r, int t)
{
	struct mbox *mb = &sh->mb[t];
	int waited = 0, d, status;

	while ((d = LOAD(mb->done)) != r->seq[t]) {
		if (futex_wait_ms(&mb->done, d, 200) && errno == ETIMEDOUT) {
			waited += 200;
			if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
				r->pid = 0;
				WHY("subject died: %s %d", WIFSIGNALED(status) ? "signal" : "exit",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				if (mb->crash)
					WHY(" (worker %d: signal %d at rip %#lx)", t,
					    mb->crash_sig, mb->crash_rip);
				return -1;
			}
			if (waited > 30000) {
				WHY("worker %d: no answer in 30 s", t);
				return -1;
			}
		}
	}
	return 0;
}

static void send(struct run *r, int t, const struct op *ops, int nb)
{
	struct mbox *mb = &sh->mb[t];

	memcpy(mb->op, ops, sizeof(*ops) * nb);
	mb->nb = nb;
	STORE(mb->cmd, ++r->seq[t]);
	syscall(SYS_futex, &mb->cmd, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * Before a batch runs: which tag reads are safe whatever switches happen.
 * @pcs/@ptb: a superset of the states (and the tables) before @op, advanced
 * past it.
 */
static void predict(struct cset *pcs, struct tables *ptb, const struct op *op, struct res *rs)
{
	struct cset pred = { 0 }, tmp = *pcs;
	struct tables tb1 = *ptb;
	int i, t = op->thr;

	apply_tables(&tb1, op);
	cs_restore(ptb, t, &tmp, 1);
	tag_flags(&tmp, rs->htag_ok);
	for (i = 0; i < tmp.n; i++)
		apply_op(&tb1, op, tmp.c[i], &pred);
	pred.full |= tmp.full;
	cs_restore(&tb1, t, &pred, 1);
	tag_flags(&pred, rs->tag_ok);
	tmp = *pcs;
	cs_restore(ptb, t, &tmp, 0);
	tag_flags(&tmp, rs->ctag_ok);
	*pcs = pred;
	*ptb = tb1;
}

static int judge(struct run *r, const struct op *op, const struct res *rs);

/*
 * Run a batch of operations of one thread and judge them.  Returns 0, or
 * -1 with why[] set and *failed the index of the diverging operation.
 */
static int worker_batch(struct run *r, const struct op *ops, int nb, int *failed)
{
	int i, t = ops[0].thr;
	struct mbox *mb = &sh->mb[t];
	struct cset pcs = r->m.c[t];
	struct tables ptb = r->m.tb;

	for (i = 0; i < nb; i++)
		predict(&pcs, &ptb, &ops[i], &mb->res[i]);
	mb->crash = 0;
	*failed = 0;
	send(r, t, ops, nb);
	if (wait_done(r, t))
		return -1;
	for (i = 0; i < nb; i++)
		if (judge(r, &ops[i], &mb->res[i])) {
			*failed = i;
			return -1;
		}
	return 0;
}

/* Judge one operation's results against the model, and advance it. */
static int judge(struct run *r, const struct op *op, const struct res *rs)
{
	struct model *m = &r->m;
	int t = op->thr;
	struct cset cur = m->c[t], tmp;
	struct tables tb1 = m->tb;
	unsigned int dirty = 0;
	unsigned long b;
	int i, sw_start, sw_op, strad;

	/* The LDT entries the other thread changed since t last ran (run_ops()). */
	if (op->kind == OP_NOP && op->field == 0xff)
		dirty = op->mask;
	apply_tables(&tb1, op);

	/* The start: a switch while idle restores (R0/R1, which includes D). */
	sw_start = rs->c0 != m->last_cb[t];
	if (sw_start)
		cs_restore(&m->tb, t, &cur, 0);
	else
		cs_ldt_reload(&m->tb, t, &cur, dirty);

	/* Results of the operation itself, independent of the candidates. */
	switch (op->kind) {
	case OP_MOVSEL:
		i = !is_null(op->v[0]) && !loadable(&m->tb, t, op->v[0], &b);
		if (rs->rc != i) {
			WHY("mov %#lx: %s, expected %s", op->v[0], rs->rc ? "#GP" : "loaded",
			    i ? "#GP" : "a load");
			return -1;
		}
		break;
	case OP_ARCHSET:
		if (rs->rc != (BAD_BASE(op->v[0]) ? -EPERM : 0)) {
			WHY("arch_prctl returned %ld", rs->rc);
			return -1;
		}
		break;
	case OP_STA:
	case OP_LDT:
		if (rs->rc) {
			WHY("%s returned %ld", opname[op->kind], rs->rc);
			return -1;
		}
		break;
	case OP_SIGNAL:
		if (rs->rc != 1 || rs->sc_fs || rs->sc_gs) {
			WHY("signal: %ld handled, sigcontext fs %#lx gs %#lx (G: 0 0)",
			    rs->rc, rs->sc_fs, rs->sc_gs);
			return -1;
		}
		/* G: the handler sees the state the signal interrupted. */
		tmp = cur;
		if (rs->h.ca != rs->c0)
			cs_restore(&m->tb, t, &tmp, 1);
		if (cs_observe(&m->tb, t, &tmp, &rs->h, rs->htag_ok, rs->h.cb != rs->h.ca)) {
			WHY("in the signal handler: expected ");
			why_cands(&tmp);
			WHY(", observed ");
			why_obs(&rs->h, rs->htag_ok);
			return -1;
		}
		break;
	case OP_FORK:
		if (rs->rc <= 0 || rs->child_status) {
			WHY("fork: rc %ld, child status %#x", rs->rc, rs->child_status);
			return -1;
		}
		/* X: the child starts with the parent's state restored by R0/R1. */
		tmp = cur;
		cs_restore(&m->tb, t, &tmp, 0);
		if (cs_observe(&m->tb, t, &tmp, &rs->child, rs->ctag_ok,
			       rs->child.cb != rs->child.ca)) {
			WHY("fork child: expected ");
			why_cands(&tmp);
			WHY(", observed ");
			why_obs(&rs->child, rs->ctag_ok);
			return -1;
		}
		break;
	case OP_EXEC:
		if (rs->rc <= 0 || !WIFEXITED(rs->exec_status) || WEXITSTATUS(rs->exec_status)) {
			WHY("exec: rc %ld, status %#x (X: the new image must start with "
			    "fs 0, gs 0/0; exit code 1: fs, 2: gs selector, 3: gs base)",
			    rs->rc, rs->exec_status);
			return -1;
		}
		break;
	}

	/* The operation's effect, with a switch before or after it if one happened. */
	m->tb = tb1;
	sw_op = rs->o.ca != rs->c0;
	tmp = cur;
	if (sw_op && op_changes_state(op->kind))
		cs_restore(&m->tb, t, &tmp, 1);
	cur.n = 0;
	for (i = 0; i < tmp.n; i++)
		apply_op(&m->tb, op, tmp.c[i], &cur);
	if (sw_op)
		cs_restore(&m->tb, t, &cur, op_changes_state(op->kind));

	/* The observation. */
	strad = rs->o.cb != rs->o.ca;
	stat_straddled += strad;
	tmp = cur;
	if (cs_observe(&m->tb, t, &cur, &rs->o, rs->tag_ok, strad)) {
		WHY("expected ");
		why_cands(&tmp);
		WHY(", observed ");
		why_obs(&rs->o, rs->tag_ok);
		WHY(" [switch: idle %d, op %d, observing %d]", sw_start, sw_op, strad);
		return -1;
	}
	if (cur.n > stat_maxc)
		stat_maxc = cur.n;
	m->c[t] = cur;
	m->last_cb[t] = rs->o.cb;
	return 0;
}

/* ---- Tracer operations ----------------------------------------------------------- */

static const size_t off_field[4] = {
	offsetof(struct user_regs_struct, fs), offsetof(struct user_regs_struct, gs),
	offsetof(struct user_regs_struct, fs_base), offsetof(struct user_regs_struct, gs_base),
};

static unsigned long *reg_field(struct user_regs_struct *r, int f)
{
	return (unsigned long *)((char *)r + off_field[f]);
}

static int first_diff(const struct user_regs_struct *a, const struct user_regs_struct *b)
{
	const unsigned long *x = (const void *)a, *y = (const void *)b;
	size_t i;

	for (i = 0; i < sizeof(*a) / sizeof(long); i++)
		if (x[i] != y[i])
			return i;
	return -1;
}

static int valid_field(int f, unsigned long v)
{
	if (f < 2)
		return v < 4 || (v <= 0xffff && (v & 3) == 3);
	return !BAD_BASE(v);
}

/* Read the four fields through PEEKUSER, GETREGS and PTRACE_ARCH_PRCTL; they must agree. */
static int t_read(pid_t tid, unsigned long *f, struct user_regs_struct *regs)
{
	unsigned long a[2];
	int i;

	for (i = 0; i < 4; i++) {
		errno = 0;
		f[i] = ptrace(PTRACE_PEEKUSER, tid, off_field[i], 0);
		if (errno) {
			WHY("PEEKUSER %zu: %s", off_field[i], strerror(errno));
			return -1;
		}
	}
	if (ptrace(PTRACE_GETREGS, tid, 0, regs)) {
		WHY("GETREGS: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < 2; i++)
		if (ptrace(PTRACE_ARCH_PRCTL, tid, &a[i], i ? ARCH_GET_GS_ : ARCH_GET_FS_)) {
			WHY("PTRACE_ARCH_PRCTL: %s", strerror(errno));
			return -1;
		}
	for (i = 0; i < 4; i++)
		if (*reg_field(regs, i) != f[i] || (i >= 2 && a[i - 2] != f[i])) {
			WHY("reports disagree: PEEKUSER fs %#lx gs %#lx fs_base %#lx gs_base %#lx, "
			    "GETREGS %#lx %#lx %#lx %#lx, ARCH_GET_FS/GS %#lx %#lx",
			    f[0], f[1], f[2], f[3], *reg_field(regs, 0), *reg_field(regs, 1),
			    *reg_field(regs, 2), *reg_field(regs, 3), a[0], a[1]);
			return -1;
		}
	return 0;
}

/* Does a report fit a stored candidate?  N: a real selector's report, see below. */
static int report_match(const struct model *m, int t, struct tst x, const unsigned long *f)
{
	unsigned long b;
	int s, k;

	for (s = FS; s <= GS; s++) {
		if (seg_match(x.s[s], f[s], f[2 + s]))
			continue;
		/*
		 * N: without FSGSBASE a switch does not save a real selector's
		 * base; a tracer's stored base stays reported until changed.
		 */
		if (have_fsgs || is_null(x.s[s].sel) || f[s] != x.s[s].sel)
			return 0;
		if (loadable(&m->tb, t, f[s], &b) && b == f[2 + s])
			continue;
		for (k = 0; k < m->ntb[t][s]; k++)
			if (m->tracer_base[t][s][k] == f[2 + s])
				break;
		if (k == m->ntb[t][s] && f[2 + s] != 0)
			return 0;
	}
	return 1;
}

static void note_tracer_base(struct model *m, int t, int s, unsigned long v)
{
	int n = m->ntb[t][s];

	if (n == 8) {
		memmove(m->tracer_base[t][s], m->tracer_base[t][s] + 1, 7 * sizeof(long));
		n = 7;
	}
	m->tracer_base[t][s][n] = v;
	m->ntb[t][s] = n + 1;
}

/* The stored state becomes exactly what was reported (unknown stays unknown). */
static struct tst pin_report(struct tst x, const unsigned long *f)
{
	int s;

	for (s = FS; s <= GS; s++) {
		x.s[s].sel = f[s];
		if (!x.s[s].unk)
			x.s[s].base = f[2 + s];
	}
	return x;
}

static int t_check_report(struct run *r, int t, struct cset *st, const unsigned long *f,
			  const char *when)
{
	struct cset out = { 0 };
	int i;

	for (i = 0; i < st->n; i++)
		if (report_match(&r->m, t, st->c[i], f))
			cs_add(&out, pin_report(st->c[i], f));
	if (!out.n) {
		WHY("%s: stored state expected ", when);
		why_cands(st);
		WHY(", reported fs=%#lx/%#lx gs=%#lx/%#lx", f[0], f[2], f[1], f[3]);
		return -1;
	}
	*st = out;
	return 0;
}

/* W: stored field @fld := @v (a selector write keeps the base, and vice versa). */
static void cs_write(struct model *m, int t, struct cset *st, int fld, unsigned long v)
{
	int i, s = fld & 1;

	for (i = 0; i < st->n; i++) {
		struct segst *x = &st->c[i].s[s];

		if (fld >= 2) {
			x->base = v;
			x->unk = 0;
			continue;
		}
		/* N: a null selector over a real one keeps a base no rule pins. */
		if (!have_fsgs && is_null(v) && !is_null(x->sel))
			x->unk = 1;
		x->sel = v;
	}
	if (fld >= 2 && !have_fsgs)
		note_tracer_base(m, t, s, v);
}

static int tracer_op(struct run *r, const struct op *op)
{
	struct model *m = &r->m;
	int t = op->thr, status, i, bad = 0, err = 0;
	pid_t tid = sh->mb[t].tid;
	struct cset st = m->c[t], tmp;
	struct user_regs_struct r0, r1, r2;
	unsigned long f[4], g[4];
	long ret;

	/* S: stored is the state at the stop, restored or not by a switch before. */
	cs_restore(&m->tb, t, &st, 1);
	if (ptrace(PTRACE_SEIZE, tid, 0, 0) || ptrace(PTRACE_INTERRUPT, tid, 0, 0)) {
		WHY("PTRACE_SEIZE/INTERRUPT: %s", strerror(errno));
		return -1;
	}
	if (waitpid(tid, &status, __WALL) != tid || !WIFSTOPPED(status) ||
	    status >> 16 != PTRACE_EVENT_STOP) {
		WHY("no ptrace stop: status %#x", status);
		return -1;
	}
	if (t_read(tid, f, &r0) || t_check_report(r, t, &st, f, "at the stop"))
		goto fail;

	switch (op->kind) {
	case OP_TPOKE:
		bad = !valid_field(op->field, op->v[0]);
		ret = ptrace(PTRACE_POKEUSER, tid, off_field[op->field], op->v[0]);
		if (ret != (bad ? -1 : 0) || (bad && errno != EIO)) {
			WHY("POKEUSER returned %ld (%s), expected %s", ret,
			    ret ? strerror(errno) : "ok", bad ? "-EIO" : "0");
			goto fail;
		}
		if (!bad)
			cs_write(m, t, &st, op->field, op->v[0]);
		break;
	case OP_TSETREGS:
		r1 = r0;
		for (i = 0; i < 4; i++)
			if (op->mask >> i & 1)
				*reg_field(&r1, i) = op->v[i];
		/* W: every field counts, a kernel-half base read back included. */
		for (i = 0; i < 4; i++)
			bad |= !valid_field(i, *reg_field(&r1, i));
		ret = ptrace(PTRACE_SETREGS, tid, 0, &r1);
		if (ret != (bad ? -1 : 0) || (bad && errno != EIO)) {
			WHY("SETREGS returned %ld (%s), expected %s", ret,
			    ret ? strerror(errno) : "ok", bad ? "-EIO" : "0");
			goto fail;
		}
		if (ptrace(PTRACE_GETREGS, tid, 0, &r2)) {
			WHY("GETREGS: %s", strerror(errno));
			goto fail;
		}
		/* The FS/GS fields of a good write are judged by the read below (W, N). */
		if (!bad)
			for (i = 0; i < 4; i++)
				*reg_field(&r2, i) = *reg_field(&r1, i);
		if ((i = first_diff(bad ? &r0 : &r1, &r2)) >= 0) {
			WHY("after %s SETREGS register word %d is %#lx, not the %s %#lx",
			    bad ? "a failing" : "a", i, ((unsigned long *)&r2)[i],
			    bad ? "old" : "written", ((unsigned long *)(bad ? &r0 : &r1))[i]);
			goto fail;
		}
		if (!bad)
			for (i = 0; i < 4; i++)
				cs_write(m, t, &st, i, *reg_field(&r1, i));
		break;
	case OP_TARCH:
		if (!op->field)
			break;				/* the read is in t_read() */
		bad = BAD_BASE(op->v[0]);
		ret = ptrace(PTRACE_ARCH_PRCTL, tid, op->v[0],
			     op->seg == FS ? ARCH_SET_FS_ : ARCH_SET_GS_);
		if (ret != (bad ? -1 : 0) || (bad && errno != EPERM)) {
			WHY("PTRACE_ARCH_PRCTL SET returned %ld (%s), expected %s", ret,
			    ret ? strerror(errno) : "ok", bad ? "-EPERM" : "0");
			goto fail;
		}
		if (!bad)	/* A */
			for (i = 0; i < st.n; i++)
				st.c[i].s[op->seg] = (struct segst){ 0, op->v[0], 0 };
		break;
	case OP_TSTA:
		{
			struct user_desc d = { .entry_number = op->field };

			if (op->v[0]) {
				d.base_addr = op->v[0];
				d.limit = 0xfffff;
				d.seg_32bit = 1;
				d.limit_in_pages = 1;
			} else {
				d.read_exec_only = 1;
				d.seg_not_present = 1;
			}
			if (ptrace(PTRACE_SET_THREAD_AREA, tid, op->field, &d)) {
				WHY("PTRACE_SET_THREAD_AREA: %s", strerror(errno));
				goto fail;
			}
			apply_tables(&m->tb, op);
			/*
			 * D promises the new base at resume; until then the report
			 * of a selector naming the slot may show the old base or the
			 * new one (the contract leaves it open; README "Fuzzer").
			 */
			tmp = st;
			for (i = 0; i < tmp.n; i++) {
				struct tst x = tmp.c[i];

				for (int s = FS; s <= GS; s++)
					if (names(x.s[s].sel, 0, op->field))
						x.s[s] = restore1(&m->tb, t, x.s[s]);
				cs_add(&st, x);
				/* a cleared slot: the selector, with base 0 (none) */
				x = tmp.c[i];
				for (int s = FS; s <= GS; s++)
					if (names(x.s[s].sel, 0, op->field) && !op->v[0])
						x.s[s].base = 0;
				cs_add(&st, x);
			}
		}
		break;
	}
	/* W: reads return the stored values. */
	if (t_read(tid, g, &r2) || t_check_report(r, t, &st, g, "after the write"))
		goto fail;
	goto detach;
fail:
	err = -1;
detach:
	if (ptrace(PTRACE_DETACH, tid, 0, 0) && !err) {
		WHY("PTRACE_DETACH: %s", strerror(errno));
		err = -1;
	}
	if (err)
		return -1;
	/* The resume is a restore (R0/R1). */
	cs_restore(&m->tb, t, &st, 0);
	m->c[t] = st;
	return 0;
}

/* ---- Generator ----------------------------------------------------------------------- */

static unsigned long rng_state;
static int gen_thr;

static unsigned long rnd(void)
{
	unsigned long z = (rng_state += 0x9e3779b97f4a7c15UL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
	return z ^ (z >> 31);
}

static unsigned long pick(const unsigned long *a, int n)
{
	return a[rnd() % n];
}

static const unsigned long sel_pool[] = {
	0, 1, 2, 3, 0x63, 0x6b, 0x73, 0x63, 0x6b,	/* null, TLS 12-14 */
	0x07, 0x0f, 0x17, 0x1f, 0x07, 0x0f,		/* LDT 0-3 */
	0x2b, 0x33, 0x23, 0x7b,				/* __USER_DS, CS, CS32, CPUNODE */
	0x1b, 0x83, 0x197,				/* DPL 0, beyond GDT, beyond LDT */
};
static const unsigned long bad_sel_pool[] = { 0x10, 0x60, 0x2a, 0x04 };

static unsigned long any_base(int valid_only)
{
	static const unsigned long extra[] = {
		0, V_UNMAPPED, PAGE_HIGH, V_KERNEL, V_TOO_HIGH, V_NONCANON,
	};
	unsigned long v;

	do {
		v = rnd() % 3 ? page(rnd() % NPAGE) : extra[rnd() % 6];
	} while (valid_only && BAD_BASE(v) && v != V_KERNEL);
	return v;
}

static void gen_op(struct op *op, int id)
{
	/* weights per kind */
	static const unsigned char w[NOPKIND] = {
		[OP_NOP] = 6, [OP_WRBASE] = 24, [OP_MOVSEL] = 28, [OP_ARCHSET] = 14,
		[OP_STA] = 12, [OP_LDT] = 10, [OP_SIGNAL] = 8, [OP_YIELD] = 6,
		[OP_SLEEP] = 5, [OP_MIGRATE] = 5, [OP_FORK] = 3, [OP_EXEC] = 1,
		[OP_TPEEK] = 3, [OP_TPOKE] = 5, [OP_TSETREGS] = 5, [OP_TARCH] = 2,
		[OP_TSTA] = 2,
	};
	int total = 0, k, x, i;

	for (k = 0; k < NOPKIND; k++)
		total += w[k];
	memset(op, 0, sizeof(*op));
	op->id = id;
	x = rnd() % total;
	for (k = 0; x >= w[k]; k++)
		x -= w[k];
	if (k == OP_WRBASE && !have_fsgs)
		k = OP_ARCHSET;
	op->kind = k;
	/* Mostly the same thread as before: longer batches (fewer hand-overs). */
	if (rnd() % 4 == 0)
		gen_thr = rnd() % NTHR;
	op->thr = gen_thr;
	op->seg = rnd() % 2;
	switch (k) {
	case OP_WRBASE:
		op->v[0] = any_base(1);			/* canonical ones */
		break;
	case OP_MOVSEL:
		op->v[0] = pick(sel_pool, sizeof(sel_pool) / sizeof(sel_pool[0]));
		break;
	case OP_ARCHSET:
		op->v[0] = any_base(0);
		break;
	case OP_STA:
	case OP_TSTA:
		op->field = TLS0 + rnd() % 3;
		op->v[0] = rnd() % 5 ? page(rnd() % NPAGE) : 0;
		break;
	case OP_LDT:
		op->field = rnd() % NLDT;
		op->v[0] = rnd() % 5 ? page(rnd() % NPAGE) : 0;
		break;
	case OP_TPOKE:
		op->field = rnd() % 4;
		if (op->field < 2)
			op->v[0] = rnd() % 6 ? pick(sel_pool, sizeof(sel_pool) / sizeof(sel_pool[0]))
					     : pick(bad_sel_pool, 4);
		else
			op->v[0] = any_base(0);
		break;
	case OP_TSETREGS:
		op->mask = 1 + rnd() % 15;
		for (i = 0; i < 4; i++)
			op->v[i] = i < 2 ? (rnd() % 8 ? pick(sel_pool, sizeof(sel_pool) /
							      sizeof(sel_pool[0]))
					       : pick(bad_sel_pool, 4))
					 : (rnd() % 4 ? any_base(1) : any_base(0));
		break;
	case OP_TARCH:
		op->field = rnd() % 2;			/* 0: GET, 1: SET */
		op->v[0] = any_base(0);
		break;
	}
}

static unsigned long run_seed(unsigned long seed, long run)
{
	rng_state = seed ^ (0x5851f42d4c957f2dUL * (run + 1));
	return rnd();
}

static void gen_run(unsigned long seed, long run, struct op *ops, int n)
{
	int i;

	rng_state = run_seed(seed, run);
	gen_thr = 0;
	for (i = 0; i < n; i++)
		gen_op(&ops[i], i);
}

/* ---- One run: a fresh subject, a sequence of operations ---------------------------- */

static int wait_ready(struct mbox *mb)
{
	int i;

	for (i = 0; i < 100 && !LOAD(mb->ready); i++)
		futex_wait_ms(&mb->ready, 0, 100);
	return LOAD(mb->ready) ? 0 : -1;
}

static int setup_ldt(int e, unsigned long base)
{
	struct user_desc d = {
		.entry_number = e, .base_addr = base, .limit = 0xfffff,
		.seg_32bit = 1, .limit_in_pages = 1,
	};

	return syscall(SYS_modify_ldt, 0x11, &d, sizeof(d));
}

static __attribute__((noreturn)) void subject_main(void)
{
	struct sigaction sa = { .sa_flags = SA_SIGINFO | SA_NODEFER };
	pthread_t th;
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sa.sa_sigaction = segv_handler;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = usr1_handler;
	sigaction(SIGUSR1, &sa, NULL);
	/* LDT entries 0-2 on pages 0-2; entry 3 stays empty. */
	for (i = 0; i < 3; i++)
		if (setup_ldt(i, page(i)))
			_exit(2);
	for (i = 0; i < NTHR; i++)
		if (pthread_create(&th, NULL, worker, &sh->mb[i]))
			_exit(3);
	for (;;)
		pause();
}

static void model_init(struct model *m)
{
	int t, i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < 3; i++)
		m->tb.ldt[i] = (struct desc){ 1, page(i) };
	for (t = 0; t < NTHR; t++) {
		m->c[t].n = 1;
		m->c[t].c[0] = (struct tst){ { { 0, page(4), 0 }, { 0, 0, 0 } } };
	}
}

/* Each worker's first steps (not part of the sequence): known state, TLS slots. */
static int run_preamble(struct run *r)
{
	struct op pre[] = {
		{ .kind = OP_ARCHSET, .seg = FS, .v = { page(4) } },
		{ .kind = OP_ARCHSET, .seg = GS, .v = { 0 } },
		{ .kind = OP_STA, .field = TLS0, .v = { page(3) } },
		{ .kind = OP_STA, .field = TLS0 + 1, .v = { page(5) } },
	};
	int t, i, f;

	for (t = 0; t < NTHR; t++) {
		if (wait_ready(&sh->mb[t])) {
			WHY("worker %d did not start", t);
			return -1;
		}
		r->m.last_cb[t] = -1;
		for (i = 0; i < 4; i++) {
			pre[i].thr = t;
			pre[i].id = -1;
			if (t == 1 && pre[i].kind == OP_STA)
				pre[i].v[0] = page(i);	/* other bases in thread 1 */
		}
		if (worker_batch(r, pre, 4, &f))
			return -1;
	}
	return 0;
}

static void run_end(struct run *r)
{
	int status;

	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &status, 0);
	}
	r->pid = 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Run @n operations in a fresh subject.  Returns the index of the
 * diverging operation, or -1; why[] says what diverged.  *done: operations
 * completed.  @deadline: stop (without divergence) when passed, if nonzero.
 */
static int run_ops(const struct op *ops, int n, long *done, double deadline)
{
	struct run r;
	int i, t, fail = -1;
	pid_t pid;

	memset(sh->mb, 0, sizeof(sh->mb));
	memset(&r, 0, sizeof(r));
	model_init(&r.m);
	why[0] = 0;
	*done = 0;
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0)
		subject_main();
	r.pid = pid;
	if (run_preamble(&r)) {
		WHY(" (in the preamble)");
		run_end(&r);
		return 0;
	}
	for (i = 0; i < n; ) {
		const struct op *op = &ops[i];
		struct op nop = { .kind = OP_NOP, .thr = op->thr, .id = op->id };
		int err, j = i + 1, f = 0;
		double t0;

		if (deadline && now() > deadline)
			break;
		t0 = now();
		if (op->kind >= OP_TPEEK) {
			/* The tracer acts, then the worker observes what it resumed with. */
			err = tracer_op(&r, op) || worker_batch(&r, &nop, 1, &f);
			f = 0;
		} else {
			/* A batch: this thread's next operations, up to a modify_ldt. */
			while (j < n && j - i < BATCH && ops[j].kind < OP_TPEEK &&
			       ops[j].thr == op->thr && ops[j - 1].kind != OP_LDT)
				j++;
			err = worker_batch(&r, op, j - i, &f);
		}
		if (!err && ops[j - 1].kind == OP_LDT) {
			/* D: the other thread, at its next return to user space. */
			nop.thr = !ops[j - 1].thr;
			nop.id = ops[j - 1].id;
			nop.field = 0xff;
			nop.mask = 1 << ops[j - 1].field;
			err = worker_batch(&r, &nop, 1, &f);
			if (err)
				WHY(" (seen by the other thread)");
			f = j - 1 - i;
		}
		t0 = (now() - t0) / (j - i);
		for (int k = i; k < j; k++) {
			stat_kind[ops[k].kind]++;
			stat_time[ops[k].kind] += t0;
		}
		if (err) {
			fail = i + f;
			*done += f;
			break;
		}
		*done += j - i;
		i = j;
	}
	if (fail < 0 && r.pid > 0) {
		struct op quit = { .kind = OP_QUIT };

		for (t = 0; t < NTHR; t++)
			send(&r, t, &quit, 1);
	}
	run_end(&r);
	return fail;
}

/* ---- Minimisation (delta debugging) --------------------------------------------------- */

static long replays;

static int still_fails(struct op *ops, int *n)
{
	long done;
	int f;

	replays++;
	f = run_ops(ops, *n, &done, 0);
	if (f < 0)
		return 0;
	*n = f + 1;		/* what follows the divergence does not matter */
	return 1;
}

static int minimise(struct op *ops, int n, double deadline)
{
	struct op *tmp = malloc(sizeof(*ops) * n);
	int parts = 2;

	while (n >= 2 && now() < deadline && replays < 2000) {
		int chunk = (n + parts - 1) / parts, i, reduced = 0;

		for (i = 0; i < parts && i * chunk < n && now() < deadline; i++) {
			int lo = i * chunk, hi = lo + chunk < n ? lo + chunk : n, m = 0, j;

			for (j = 0; j < n; j++)
				if (j < lo || j >= hi)
					tmp[m++] = ops[j];
			/* a flaky divergence gets a second chance */
			if (still_fails(tmp, &m) || still_fails(tmp, &m)) {
				memcpy(ops, tmp, sizeof(*ops) * m);
				n = m;
				parts = parts > 2 ? parts - 1 : 2;
				reduced = 1;
				break;
			}
		}
		if (!reduced) {
			if (parts >= n)
				break;
			parts = parts * 2 < n ? parts * 2 : n;
		}
	}
	free(tmp);
	return n;
}

/* ---- Main ------------------------------------------------------------------------------- */

/* The exec operation's new image: exec starts with null selectors and zero bases (X). */
static int exec_child(void)
{
	unsigned long gsb = 0;

	if (rd_sel(FS))
		return 1;
	if (rd_sel(GS))
		return 2;
	if (have_fsgs)
		asm volatile ("rdgsbase %0" : "=r" (gsb));
	else
		syscall(SYS_arch_prctl, ARCH_GET_GS_, &gsb);
	return gsb ? 3 : 0;
}

/* N: HWCAP2_FSGSBASE and the instructions agree; without it each raises SIGILL. */
static int test_sigill(void)
{
	int k, status, bad = 0;

	for (k = 0; k < 4; k++) {
		pid_t pid = fork();

		if (pid == 0) {
			unsigned long v = 0;

			signal(SIGILL, SIG_DFL);
			switch (k) {
			case 0: asm volatile ("rdfsbase %0" : "=r" (v)); break;
			case 1: asm volatile ("rdgsbase %0" : "=r" (v)); break;
			case 2: asm volatile ("wrfsbase %0" : : "r" (v)); break;
			case 3: asm volatile ("wrgsbase %0" : : "r" (v)); break;
			}
			_exit(0);
		}
		waitpid(pid, &status, 0);
		if (have_fsgs ? status != 0 : !(WIFSIGNALED(status) && WTERMSIG(status) == SIGILL)) {
			printf("# %s: status %#x, expected %s\n",
			       (const char *[]){ "rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase" }[k],
			       status, have_fsgs ? "it to work" : "SIGILL");
			bad = 1;
		}
	}
	return bad;
}

static void print_ops(const struct op *ops, int n, const char *prefix)
{
	char buf[256];
	int i;

	for (i = 0; i < n; i++) {
		fmt_op(buf, sizeof(buf), &ops[i]);
		printf("%s#%d thread %d: %s\n", prefix, ops[i].id, ops[i].thr, buf);
	}
}

/* Was the guest booted to run only suite @name (lab.only=<name>)? */
static int booted_for(const char *name)
{
	char line[4096], want[128];
	FILE *f = fopen("/proc/cmdline", "r");
	int found = 0;

	snprintf(want, sizeof(want), " lab.only=%s ", name);
	if (f && fgets(line + 1, sizeof(line) - 2, f)) {
		line[0] = ' ';
		line[strcspn(line, "\n")] = 0;
		strcat(line, " ");
		found = !!strstr(line, want);
	}
	if (f)
		fclose(f);
	return found;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fsgs_fuzz [--seed N] [--ops N] [--seconds T] [--no-minimise]\n"
		"                 [--keep-going] [--run K --only I,J,...]\n"
		"                 [--min-seconds T] [--only-suite S] [-v]\n"
		"  --seed N       the sequence (default 1); run K uses seed N and K\n"
		"  --ops N        operation budget (default 20000), %d per run\n"
		"  --seconds T    time budget (0: none); stops at whichever comes first\n"
		"  --keep-going   go on after a divergence (each run stops at its first)\n"

		"  --run K        replay run K only; --only keeps these operations of it\n"
		"  --min-seconds  time limit of the minimisation (default 300)\n"
		"  --only-suite S a SKIP unless the guest was booted with lab.only=S\n", RUN_OPS);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long seed = 1;
	long budget = 20000, run, total = 0, only_run = -1, done;
	double seconds = 0, min_seconds = 300, t0, deadline;
	int minimise_on = 1, nonly = 0, *only = NULL, i, fail = -1, bad1;
	int keep_going = 0, first_fail = 0;
	long ndiv = 0, first_run = 0, first_at = 0;
	struct op *ops = malloc(sizeof(*ops) * RUN_OPS);
	struct op *first_ops = malloc(sizeof(*ops) * RUN_OPS);
	static char first_why[sizeof(why)];
	const char *only_suite = NULL;
	char buf[256];

	have_fsgs = !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE);
	if (argc == 2 && !strcmp(argv[1], "--exec-child"))
		return exec_child();
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-v")) {
			verbose = 1;
			continue;
		}
		if (!strcmp(a, "--keep-going")) {
			keep_going = 1;
			continue;
		}
		if (!strcmp(a, "--no-minimise")) {
			minimise_on = 0;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--seed"))
			seed = strtoul(v, NULL, 0);
		else if (!strcmp(a, "--ops"))
			budget = strtol(v, NULL, 0);
		else if (!strcmp(a, "--seconds"))
			seconds = strtod(v, NULL);
		else if (!strcmp(a, "--min-seconds"))
			min_seconds = strtod(v, NULL);
		else if (!strcmp(a, "--only-suite"))
			only_suite = v;
		else if (!strcmp(a, "--run"))
			only_run = strtol(v, NULL, 0);
		else if (!strcmp(a, "--only")) {
			char *p = (char *)v;

			only = malloc(sizeof(int) * RUN_OPS);
			while (*p && nonly < RUN_OPS) {
				only[nonly++] = strtol(p, &p, 0);
				if (*p == ',')
					p++;
			}
		} else
			usage();
	}

	if (only_suite && !booted_for(only_suite)) {
		printf("TAP version 13\n1..1\nok 1 %s # SKIP only in a boot for this suite "
		       "(lab.only=%s: make fuzz-long)\n", only_suite, only_suite);
		return 0;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i <= NPAGE; i++) {
		unsigned long *p = mmap((void *)page(i), 4096, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p != (void *)page(i)) {
			perror("mmap tagged page");
			return 1;
		}
		p[0] = page(i);
	}
	sh->have_fsgs = have_fsgs;
	{
		cpu_set_t set;

		sh->ncpus = sched_getaffinity(0, sizeof(set), &set) ? 1 : CPU_COUNT(&set);
	}
	if (readlink("/proc/self/exe", sh->exe, sizeof(sh->exe) - 1) < 0)
		strcpy(sh->exe, "/proc/self/exe");
	strcpy(sh->arg1, "--exec-child");
	sh->argv[0] = sh->exe;
	sh->argv[1] = sh->arg1;
	sh->argv[2] = NULL;
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("TAP version 13\n1..2\n");
	printf("# fsgs_fuzz: seed %#lx, ops %ld, seconds %g, FSGSBASE %s, %d CPUs\n",
	       seed, budget, seconds, have_fsgs ? "yes" : "no", sh->ncpus);

	bad1 = test_sigill();
	printf("%s 1 hwcap2_%s\n", bad1 ? "not ok" : "ok",
	       have_fsgs ? "instructions_work" : "instructions_sigill");

	t0 = now();
	deadline = seconds > 0 ? t0 + seconds : 0;
	for (run = only_run >= 0 ? only_run : 0; total < budget; run++) {
		int n = budget - total < RUN_OPS ? budget - total : RUN_OPS;

		gen_run(seed, run, ops, RUN_OPS);
		if (nonly) {
			for (i = 0, n = 0; i < nonly; i++)
				if (only[i] >= 0 && only[i] < RUN_OPS)
					ops[n++] = ops[only[i]];
		}
		fail = run_ops(ops, n, &done, deadline);
		total += done;
		if (fail >= 0) {
			/* the diverging operation counts as done */
			total++;
			if (++ndiv <= 20) {
				printf("# DIVERGENCE %ld after %ld operations: seed %#lx run %ld "
				       "operation #%d (thread %d)\n", ndiv, total, seed, run,
				       ops[fail].id, ops[fail].thr);
				fmt_op(buf, sizeof(buf), &ops[fail]);
				printf("#   operation: %s\n#   %s\n", buf, why);
			}
			if (ndiv == 1) {
				first_fail = fail;
				first_run = run;
				first_at = total;
				memcpy(first_ops, ops, sizeof(*ops) * (fail + 1));
				strcpy(first_why, why);
			}
		}
		if ((fail >= 0 && !keep_going) || only_run >= 0 || (deadline && now() > deadline))
			break;
		if (verbose || run % 50 == 49)
			printf("# %ld runs, %ld operations, %ld divergences, %.0f s\n",
			       run + 1, total, ndiv, now() - t0);
	}
	{
		double el = now() - t0;

		printf("# %ld operations in %.1f s: %.0f ops/s; runs of %d, last run %ld\n",
		       total, el, el > 0 ? total / el : 0.0, RUN_OPS, run);
		printf("# operation kinds:");
		for (i = 0; i < OP_QUIT; i++)
			printf(" %s %ld", opname[i], stat_kind[i]);
		printf("\n# microseconds per operation:");
		for (i = 0; i < OP_QUIT; i++)
			printf(" %s %.0f", opname[i], stat_kind[i] ? stat_time[i] * 1e6 / stat_kind[i] : 0.0);
		printf("\n# observations across a switch: %ld, most candidates: %ld\n",
		       stat_straddled, stat_maxc);
	}
	if (!ndiv) {
		printf("ok 2 fuzz # %ld operations, 0 divergences\n", total);
		return bad1;
	}

	if (minimise_on) {
		int n = first_fail + 1, k;
		double ms = now();

		n = minimise(first_ops, n, now() + min_seconds);
		/* the final reproducer, replayed once more for its message */
		k = n;
		if (!still_fails(first_ops, &k))
			strcpy(why, "(did not diverge on the last replay: flaky)");
		printf("# first divergence minimised in %.0f s, %ld replays: %d of %d operations\n",
		       now() - ms, replays, n, first_fail + 1);
		printf("#   %s\n", why);
		print_ops(first_ops, n, "#   ");
		printf("# reproduce: fsgs_fuzz --seed %#lx --run %ld --only ", seed, first_run);
		for (i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", first_ops[i].id);
		printf("\n");
	}
	printf("not ok 2 fuzz # %ld divergence(s) in %ld operations, the first at operation "
	       "%ld (seed %#lx run %ld #%d): %s\n", ndiv, total, first_at, seed, first_run,
	       first_ops[first_fail].id, first_why);
	return 1;
}
