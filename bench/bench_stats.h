/* SPDX-License-Identifier: GPL-2.0 */
/* Order statistics shared by the benchmark programs. */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

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
