/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the benchmark programs: order statistics, failed checks. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdarg.h>
#include <stdio.h>

/* Set by fail(); each program clears it per test and reports "not ok". */
static int bench_failed;

/* A failed check (never a timing): "# FAIL: ..." and bench_failed. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	bench_failed = 1;
}

/* qsort() comparison of doubles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Quantile of sorted v[0..n-1], linear interpolation. */
static double quantile(const double *v, int n, double q)
{
	double pos = q * (n - 1);
	int i = (int)pos;

	return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

#endif
