/*
 * Little-endian integers for the formats that cross hosts (frames, agent
 * states, trainer states, results): explicit shifts, so the bytes do not
 * depend on the host's order.
 */
#ifndef NN_LE_H
#define NN_LE_H

#include <stdint.h>

static inline void
nn_le_put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void
nn_le_put_u32(unsigned char *p, uint32_t v)
{
	nn_le_put_u16(p, (uint16_t)v);
	nn_le_put_u16(p + 2, (uint16_t)(v >> 16));
}

static inline void
nn_le_put_u64(unsigned char *p, uint64_t v)
{
	nn_le_put_u32(p, (uint32_t)v);
	nn_le_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
nn_le_get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t
nn_le_get_u32(const unsigned char *p)
{
	return nn_le_get_u16(p) | (uint32_t)nn_le_get_u16(p + 2) << 16;
}

static inline uint64_t
nn_le_get_u64(const unsigned char *p)
{
	return nn_le_get_u32(p) | (uint64_t)nn_le_get_u32(p + 4) << 32;
}

#endif
