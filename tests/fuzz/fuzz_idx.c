/*
 * MNIST's idx pair (nnsim/data/idx.c) through nn_data_load: an images
 * file and a labels file. Bytes 0-1 (little-endian) are the images
 * file's length; it and the labels file follow.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nn_source src;
	struct nn_data *d = NULL;
	char images[64], labels[64], *cause = NULL;
	size_t split;
	int fi, fl;

	if (size < 2)
		return -1;
	split = (size_t)data[0] | (size_t)data[1] << 8;
	if (split > size - 2)
		split = size - 2;
	fi = fuzz_memfile(data + 2, split, images, sizeof images);
	fl = fuzz_memfile(data + 2 + split, size - 2 - split, labels,
	    sizeof labels);
	memset(&src, 0, sizeof src);
	src.jpath = "data.train";
	src.format = NN_FORMAT_IDX;
	src.images = images;
	src.labels = labels;
	src.row_lo = src.row_hi = -1;
	if (nn_data_load(&src, NULL, NULL, 0, &d, NULL, &cause) == 0) {
		if (d == NULL || d->n == 0 || d->in < 1 || d->out < 2)
			abort();
	} else if (cause == NULL || d != NULL)
		abort();
	nn_data_free(d);
	free(cause);
	close(fi);
	close(fl);
	return 0;
}
