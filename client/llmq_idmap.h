/*  llmq_idmap.h -- the client's pending requests, keyed by request id.

    An open-addressing hash table (linear probing, power-of-two size, at
    most half full) from a byte-string key to a pointer. Keys are not
    copied: each key lives inside the value it maps to (the pending
    request holds its id), so an entry costs one slot and no allocation.

    Costs: lookup, insert and remove are O(1) on average; insert may
    rehash the whole table (O(n)) when it doubles, which a client whose
    concurrency is steady does only while warming up. Removal shifts
    later entries of the same probe run back instead of leaving
    tombstones, so a long-lived client never degrades.

    Iteration (by slot index) must not be mixed with inserts or removes.
*/
#ifndef LLMQ_IDMAP_H_INCLUDED
#define LLMQ_IDMAP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct llmqc_idmap llmqc_idmap_t;

llmqc_idmap_t *llmqc_idmap_new (void);
void llmqc_idmap_destroy (llmqc_idmap_t **self_p);

/*  Maps key (len bytes, kept by reference) to value (not NULL). The key
    must not be in the map. 0, or -1 when out of memory.                  */
int llmqc_idmap_insert (llmqc_idmap_t *self, const char *key, size_t len, void *value);
/*  The value for key, or NULL.                                           */
void *llmqc_idmap_lookup (const llmqc_idmap_t *self, const char *key, size_t len);
/*  Removes key; returns its value, or NULL when it was not there.        */
void *llmqc_idmap_remove (llmqc_idmap_t *self, const char *key, size_t len);
/*  Entries in the map.                                                   */
size_t llmqc_idmap_size (const llmqc_idmap_t *self);
/*  Slots, for iteration: llmqc_idmap_at (i) for i < capacity is a value
    or NULL for an empty slot.                                            */
size_t llmqc_idmap_capacity (const llmqc_idmap_t *self);
void *llmqc_idmap_at (const llmqc_idmap_t *self, size_t index);

#endif
