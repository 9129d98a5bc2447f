/*
 * Tables of named entries, as tmux's cmd_entry: an array of structs whose
 * first member is the entry's name (const char *). Dispatch is a look-up
 * in the table and a call through the entry.
 */
#ifndef NN_TABLE_H
#define NN_TABLE_H

#include <stddef.h>
#include <string.h>

/* The entry of table (n entries of size bytes) named name, or NULL. */
static inline const void *
table_find(const void *table, size_t n, size_t size, const char *name)
{
	const char *p = table;
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < n; i++, p += size) {
		if (strcmp(*(const char *const *)(const void *)p, name) == 0)
			return p;
	}
	return NULL;
}

/* table_find on an array t, typed as its entries. */
#define TABLE_FIND(t, name)						\
	((const __typeof__((t)[0]) *)table_find((t),			\
	    sizeof (t) / sizeof (t)[0], sizeof (t)[0], (name)))

#endif
