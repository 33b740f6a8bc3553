// SPDX-License-Identifier: GPL-2.0
/*
 * fsgs_corenotes CORE EXPECTFILE LABEL: read the NT_PRSTATUS notes of an
 * x86-64 ELF core and check fs, fs_base, gs, gs_base of every thread
 * against the records fsgs_crash wrote (EXPECTFILE). Prints KTAP test
 * lines (no header, no plan: the caller numbers them) as
 *   ok|not ok - LABEL <what>
 * and exits 1 if any failed.
 */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXT 64

struct expect {
	long tid;
	char class[32], crash[16];
	int cpu, found;
	unsigned long fs, fs_base, gs, gs_base, alt_fs_base, alt_gs_base;
};

static struct expect ex[MAXT];
static int nex, fails;

/* A KTAP line named "LABEL NAME" (stable), then the values as "# ...". */
static void result(int ok, const char *label, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void result(int ok, const char *label, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s - %s %s\n# ", ok ? "ok" : "not ok", label, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fails += !ok;
}

static void read_expect(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f) {
		printf("Bail out! %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f) && nex < MAXT) {
		struct expect *e = &ex[nex];

		if (line[0] == '#')
			continue;
		if (sscanf(line, "%ld %31s %d %lx %lx %lx %lx %lx %lx %15s", &e->tid,
			   e->class, &e->cpu, &e->fs, &e->fs_base, &e->gs,
			   &e->gs_base, &e->alt_fs_base, &e->alt_gs_base,
			   e->crash) == 10)
			nex++;
	}
	fclose(f);
}

static void check_thread(const char *label, const struct elf_prstatus *st)
{
	const struct user_regs_struct *r = (const void *)&st->pr_reg;
	struct expect *e = NULL;
	char name[64];
	int i, ok, crashing;

	for (i = 0; i < nex; i++)
		if (ex[i].tid == st->pr_pid)
			e = &ex[i];
	if (!e) {
		result(0, label, "note of an unknown thread", "thread %d is in the core but not recorded", st->pr_pid);
		return;
	}
	e->found++;
	/* Only the crashing thread may show the descriptor base (alt). */
	crashing = strcmp(e->crash, "0") != 0;
	ok = r->fs == e->fs && r->gs == e->gs &&
	     (r->fs_base == e->fs_base || (crashing && r->fs_base == e->alt_fs_base)) &&
	     (r->gs_base == e->gs_base || (crashing && r->gs_base == e->alt_gs_base));
	snprintf(name, sizeof(name), "note %s", e->class);
	result(ok, label, name, "%s (cpu %d): note fs=%#llx fs_base=%#llx gs=%#llx gs_base=%#llx",
	       e->class, e->cpu, r->fs, r->fs_base, r->gs, r->gs_base);
	if (!ok)
		printf("# %s: recorded fs=%#lx fs_base=%#lx gs=%#lx gs_base=%#lx (crashing thread: also %#lx/%#lx)\n",
		       e->class, e->fs, e->fs_base, e->gs, e->gs_base,
		       e->alt_fs_base, e->alt_gs_base);
	else if (r->fs_base != e->fs_base || r->gs_base != e->gs_base)
		printf("# %s: the crashing thread shows the descriptor base\n", e->class);
	if (crashing) {
		int sig = !strcmp(e->crash, "SIGABRT") ? 6 : 11;

		result(st->pr_cursig == sig, label, "note crashing-thread signal",
		       "crashing thread %s: pr_cursig %d (%s is %d)", e->class,
		       st->pr_cursig, e->crash, sig);
	}
}

int main(int argc, char **argv)
{
	const unsigned char *p;
	const Elf64_Ehdr *eh;
	struct stat sb;
	int fd, i, nthreads = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: %s CORE EXPECTFILE LABEL\n", argv[0]);
		return 2;
	}
	read_expect(argv[2]);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &sb) || sb.st_size < (off_t)sizeof(*eh)) {
		printf("Bail out! %s: no core (%s)\n", argv[1], strerror(errno));
		return 1;
	}
	p = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	eh = (const void *)p;
	if (p == MAP_FAILED || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_type != ET_CORE || eh->e_machine != EM_X86_64) {
		printf("Bail out! %s: not an x86-64 ELF core\n", argv[1]);
		return 1;
	}
	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(p + eh->e_phoff + i * eh->e_phentsize);
		size_t off;

		if (ph->p_type != PT_NOTE)
			continue;
		for (off = 0; off + sizeof(Elf64_Nhdr) <= ph->p_filesz;) {
			const Elf64_Nhdr *nh = (const void *)(p + ph->p_offset + off);
			const unsigned char *desc = (const unsigned char *)(nh + 1) +
						    ((nh->n_namesz + 3) & ~3);

			if (nh->n_type == NT_PRSTATUS &&
			    nh->n_descsz >= sizeof(struct elf_prstatus)) {
				nthreads++;
				check_thread(argv[3], (const void *)desc);
			}
			off += sizeof(*nh) + ((nh->n_namesz + 3) & ~3) +
			       ((nh->n_descsz + 3) & ~3);
		}
	}
	result(nthreads == nex && nex > 0, argv[3], "note count",
	       "%d NT_PRSTATUS notes for %d recorded threads",
	       nthreads, nex);
	for (i = 0; i < nex; i++)
		if (ex[i].found != 1)
			result(0, argv[3], "notes per thread", "thread %s (%ld): %d notes", ex[i].class,
			       ex[i].tid, ex[i].found);
	return fails ? 1 : 0;
}
