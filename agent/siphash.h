/* siphash.h: SipHash-2-4, the keyed hash of the caches' bucket tables (remote peers choose SPIs: unkeyed hashes could be aimed at). */
#ifndef HASYNC_SIPHASH_H
#define HASYNC_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN	16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const uint8_t *in, size_t len);

#endif
