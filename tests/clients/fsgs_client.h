/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the real-client targets (gdb, core dumps, CRIU).
 *
 * A thread that changes FS loses glibc's TLS (errno, the TCB, malloc's
 * caches): inside such a "window" only inline assembly and the raw
 * syscalls below are allowed, never a libc call. GS is not used by glibc
 * on x86-64, but the same helpers serve both.
 */
#ifndef FSGS_CLIENT_H
#define FSGS_CLIENT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <asm/ldt.h>
#include <asm/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

/* Values are > 4 GiB unless the name says otherwise; none is dereferenced. */
#define HIGH(n) (0x00007e0000000000ul + ((unsigned long)(n) << 24))

static inline long raw_syscall6(long nr, long a, long b, long c, long d, long e,
				long f)
{
	long ret;
	register long r10 asm("r10") = d;
	register long r8 asm("r8") = e;
	register long r9 asm("r9") = f;

	asm volatile("syscall"
		     : "=a"(ret)
		     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
		     : "rcx", "r11", "memory");
	return ret;
}
#define raw_syscall(nr, a, b, c) raw_syscall6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)

static inline int have_fsgsbase(void)
{
	return !!(getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE);
}

static inline uint16_t get_fs(void)
{
	uint16_t v;

	asm volatile("mov %%fs, %0" : "=rm"(v));
	return v;
}

static inline uint16_t get_gs(void)
{
	uint16_t v;

	asm volatile("mov %%gs, %0" : "=rm"(v));
	return v;
}

static inline void set_fs(uint16_t v)
{
	asm volatile("mov %0, %%fs" : : "rm"(v) : "memory");
}

static inline void set_gs(uint16_t v)
{
	asm volatile("mov %0, %%gs" : : "rm"(v) : "memory");
}

static inline unsigned long rdfsbase(void)
{
	unsigned long v;

	asm volatile("rdfsbase %0" : "=r"(v) : : "memory");
	return v;
}

static inline unsigned long rdgsbase(void)
{
	unsigned long v;

	asm volatile("rdgsbase %0" : "=r"(v) : : "memory");
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

/* The bases as the thread sees them: the instructions, or ARCH_GET_*. */
static inline unsigned long fs_base_now(int fsgs)
{
	unsigned long v = 0;

	if (fsgs)
		return rdfsbase();
	raw_syscall(SYS_arch_prctl, ARCH_GET_FS, &v, 0);
	return v;
}

static inline unsigned long gs_base_now(int fsgs)
{
	unsigned long v = 0;

	if (fsgs)
		return rdgsbase();
	raw_syscall(SYS_arch_prctl, ARCH_GET_GS, &v, 0);
	return v;
}

/* Null selector with this base (A rule): ARCH_SET_* works everywhere. */
static inline long set_fs_null_base(unsigned long base)
{
	return raw_syscall(SYS_arch_prctl, ARCH_SET_FS, base, 0);
}

static inline long set_gs_null_base(unsigned long base)
{
	return raw_syscall(SYS_arch_prctl, ARCH_SET_GS, base, 0);
}

/*
 * A GDT TLS slot of the calling thread; returns the selector, 0 on error.
 * set_thread_area has no 64-bit entry: int $0x80 (nr 243), with the
 * descriptor in 32-bit addressable memory.
 */
static inline uint16_t tls_slot(unsigned int base)
{
	struct user_desc *d;
	long r = 243;
	uint16_t sel;

	d = (void *)raw_syscall6(SYS_mmap, 0, 4096, 3 /* RW */,
				 0x22 | 0x40 /* PRIVATE|ANON|32BIT */, -1, 0);
	if ((unsigned long)d >= 0xfffff000ul)
		return 0;
	memset(d, 0, sizeof(*d));
	d->entry_number = -1;
	d->base_addr = base;
	d->limit = 0xfffff;
	d->seg_32bit = 1;
	d->limit_in_pages = 1;
	d->useable = 1;
	asm volatile("int $0x80" : "+a"(r), "+m"(*d) : "b"(d)
		     : "r8", "r9", "r10", "r11", "memory");
	sel = r ? 0 : (uint16_t)((d->entry_number << 3) | 3);
	raw_syscall(SYS_munmap, d, 4096, 0);
	return sel;
}

/* An LDT entry of the process; returns the selector, 0 on error. */
static inline uint16_t ldt_slot(unsigned int entry, unsigned int base)
{
	struct user_desc d;

	memset(&d, 0, sizeof(d));
	d.entry_number = entry;
	d.base_addr = base;
	d.limit = 0xfffff;
	d.seg_32bit = 1;
	d.limit_in_pages = 1;
	d.useable = 1;
	if (raw_syscall(SYS_modify_ldt, 0x11, &d, sizeof(d)) != 0)
		return 0;
	return (uint16_t)((entry << 3) | 4 | 3);
}

/* One thread's FS/GS state: selectors and bases. */
struct fsgs {
	unsigned long fs, fs_base, gs, gs_base;
};

static inline void fsgs_now(struct fsgs *s, int fsgs)
{
	s->fs = get_fs();
	s->gs = get_gs();
	s->fs_base = fs_base_now(fsgs);
	s->gs_base = gs_base_now(fsgs);
}

#endif
