/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the guest tests: TASK_SIZE_MAX as this kernel has it. */
#ifndef FSGS_TASK_SIZE_H
#define FSGS_TASK_SIZE_H

#include <sys/mman.h>

/* 2^47 - 4096, or 2^56 - 4096 with 5-level paging (a mapping at 2^50 works). */
static inline unsigned long task_size_max(void)
{
	void *p = mmap((void *)(1UL << 50), 4096, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return (1UL << 47) - 4096;
	munmap(p, 4096);
	return (1UL << 56) - 4096;
}

#endif
