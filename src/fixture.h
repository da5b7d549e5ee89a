/* fixture.h -- load and validate the JSON fixture the API serves. */
#ifndef AVATAR_FIXTURE_H
#define AVATAR_FIXTURE_H

#include <stddef.h>

#include "error.h"

/* Largest fixture file accepted, in bytes. */
#define FIXTURE_MAX_BYTES (64u * 1024 * 1024)

/* One record, serialized once. */
struct fixture_user {
	const char *id;  /* the record's "id", NUL-terminated */
	char *body;      /* the record as compact JSON */
	size_t body_len;
	size_t index;    /* position in the file, from 0 */
};

/* A validated fixture: the whole list and each record, serialized once by
 * jansson (compact, in file order) and ready to be served as is. */
struct fixture {
	char *body;                  /* the list as compact JSON */
	size_t body_len;
	size_t count;                /* number of records */
	struct fixture_user *users;  /* sorted by id, for fixture_find */
	void *json;                  /* the parsed document (json_t *) */
};

/* Load the fixture at PATH and validate it: a top-level array of objects,
 * each with non-empty string fields "id", "name", "avatar" and
 * "createdAt", ids unique and free of '/' and control characters.  Other
 * fields are kept and served.  Returns a new fixture, or NULL with ERR set
 * to EXIT_NOINPUT (missing or unreadable file) or EXIT_DATAERR (invalid
 * content) and a message "PATH:LINE:COLUMN: ..." for JSON syntax or
 * "PATH: record N (id "x"): ..." for content.  Free with fixture_free. */
struct fixture *fixture_load(const char *path, struct error *err);

/* A fixture with no record (the list is "[]"), for relay mode without
 * --data.  Returns NULL if out of memory.  Free with fixture_free. */
struct fixture *fixture_empty(void);

/* The record whose id is ID, or NULL: a binary search that allocates
 * nothing, safe on the request path. */
const struct fixture_user *fixture_find(const struct fixture *fx,
                                        const char *id);

/* Free FX.  Does nothing if FX is NULL. */
void fixture_free(struct fixture *fx);

#endif
