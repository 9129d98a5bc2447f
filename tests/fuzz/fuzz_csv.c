/*
 * The csv loader (nnsim/data/csv.c) through nn_data_load, as net.json's
 * data sources read a file.
 *
 * Byte 0 sets the source; the rest is the file.
 *   bit 0     header line
 *   bits 1-2  0: regression on column 1 (targets [1]), else class column
 *             0, 1 or 2
 *   bit 3     inputs [0] only (else every other column)
 *   bits 4-5  rows: all, [0, 2), [1, 4), [3, all)
 *   bit 6     a fixed class list (a model's), ["a", "b", "1"]
 *   bit 7     a test source too: the same file, rows [0, 1)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long rows[4][2] = { {-1, -1}, {0, 2}, {1, 4}, {3, -1} };
	static char *fixed[] = { "a", "b", "1" };
	struct nn_source train, test;
	struct nn_data *d = NULL, *t = NULL;
	int targets[1] = { 1 }, inputs[1] = { 0 };
	char path[64], *cause = NULL;
	int fd, opt, r;

	if (size < 1)
		return -1;
	opt = data[0];
	fd = fuzz_memfile(data + 1, size - 1, path, sizeof path);
	memset(&train, 0, sizeof train);
	train.jpath = "data.train";
	train.format = NN_FORMAT_CSV;
	train.path = path;
	train.header = opt & 1;
	train.label = ((opt >> 1) & 3) - 1;
	if (train.label < 0) {
		train.targets = targets;
		train.ntargets = 1;
	}
	if (opt & 8) {
		train.inputs = inputs;
		train.ninputs = 1;
	}
	train.row_lo = rows[(opt >> 4) & 3][0];
	train.row_hi = rows[(opt >> 4) & 3][1];
	test = train;
	test.jpath = "data.test";
	test.row_lo = 0;
	test.row_hi = 1;

	r = nn_data_load(&train, opt & 128 ? &test : NULL,
	    opt & 64 ? fixed : NULL, opt & 64 ? 3 : 0, &d,
	    opt & 128 ? &t : NULL, &cause);
	if (r == 0 && (d == NULL || d->in < 1 || d->out < 1 ||
	    ((opt & 128) && t == NULL)))
		abort();
	if (r != 0 && (cause == NULL || d != NULL || t != NULL))
		abort();
	nn_data_free(d);
	nn_data_free(t);
	free(cause);
	close(fd);
	return 0;
}
