/*
 * net.json (docs/net-json.md) as nnsim train reads it: nn_config_load on
 * the input as a file. The input is the file, so any net.json is a seed.
 * A config that loads must give its "train" section back as JSON.
 */
#include <stdlib.h>
#include <unistd.h>

#include "nn/config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nn_config *cfg;
	char path[64], *cause = NULL;
	json_t *train;
	int fd;

	fd = fuzz_memfile(data, size, path, sizeof path);
	if ((cfg = nn_config_load(path, &cause)) != NULL) {
		if ((train = nn_train_spec_json(&cfg->train)) == NULL)
			abort();
		json_decref(train);
		nn_config_free(cfg);
	} else if (cause == NULL)
		abort();
	free(cause);
	close(fd);
	return 0;
}
