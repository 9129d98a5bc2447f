/*
 * FANN's .data text (nnsim/data/fann.c) through nn_load_fann. The input is
 * the file, so any .data file is a seed. Loaded data must have the sizes
 * its header announced.
 */
#include <stdlib.h>
#include <unistd.h>

#include "data/data.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nn_data *d = NULL;
	char path[64], *cause = NULL;
	int fd;

	fd = fuzz_memfile(data, size, path, sizeof path);
	if (nn_load_fann(path, &d, &cause) == 0) {
		if (d == NULL || d->n == 0 || d->in < 1 || d->out < 1 ||
		    (d->n > 0 && (d->x == NULL || d->y == NULL)))
			abort();
	} else if (cause == NULL || d != NULL)
		abort();
	nn_data_free(d);
	free(cause);
	close(fd);
	return 0;
}
