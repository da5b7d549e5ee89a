/* fixture.c -- load and validate the JSON fixture the API serves. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fixture.h"

static const char *const required_fields[] = {"id", "name", "avatar",
                                              "createdAt"};

/* Read all of PATH into a new buffer.  Returns it, or NULL with ERR set. */
static char *
read_file(const char *path, size_t *len, struct error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		error_set(err, EXIT_NOINPUT, "%s: cannot open: %s", path,
		          strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		error_set(err, EXIT_NOINPUT, "%s: cannot stat: %s", path,
		          strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		error_set(err, EXIT_NOINPUT, "%s: is a directory", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set(err, EXIT_NOINPUT, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_size > (off_t)FIXTURE_MAX_BYTES) {
		error_set(err, EXIT_DATAERR, "%s: file too large (%lld bytes, "
		          "limit %u)", path, (long long)st.st_size,
		          FIXTURE_MAX_BYTES);
		goto fail;
	}
	buf = calloc((size_t)st.st_size + 1, 1);
	if (buf == NULL) {
		error_set(err, EXIT_OSERR, "%s: out of memory", path);
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(err, EXIT_NOINPUT, "%s: read error: %s", path,
			          strerror(errno));
			goto fail;
		}
		if (n == 0)
			break; /* the file shrank: parse what is there */
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;

fail:
	free(buf);
	close(fd);
	return NULL;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

/* Copy ID into OUT for a message: at most 40 bytes, with control and
 * non-ASCII bytes written as \xNN so that a hostile id cannot break the
 * log line. */
static void
quote_id(const char *id, char *out, size_t size)
{
	size_t o = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)id; *p != '\0' && o + 5 < size; p++) {
		if ((size_t)(p - (const unsigned char *)id) >= 40) {
			memcpy(out + o, "...", 4);
			return;
		}
		if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
}

/* Check record number N (1-based) and fill U.  Returns 0 or -1 with ERR. */
static int
check_record(const char *path, size_t n, json_t *rec, struct fixture_user *u,
             struct error *err)
{
	json_t *idv = NULL;
	char where[256];
	const unsigned char *p;
	size_t i;

	if (json_is_object(rec))
		idv = json_object_get(rec, "id");
	if (json_is_string(idv)) {
		char qid[200];

		quote_id(json_string_value(idv), qid, sizeof(qid));
		snprintf(where, sizeof(where), "record %zu (id \"%s\")", n, qid);
	} else {
		snprintf(where, sizeof(where), "record %zu", n);
	}
	if (!json_is_object(rec)) {
		error_set(err, EXIT_DATAERR, "%s: %s: expected an object, got %s",
		          path, where, type_name(rec));
		return -1;
	}
	for (i = 0; i < sizeof(required_fields) / sizeof(required_fields[0]);
	     i++) {
		const char *name = required_fields[i];
		json_t *v = json_object_get(rec, name);

		if (v == NULL) {
			error_set(err, EXIT_DATAERR, "%s: %s: missing field "
			          "\"%s\"", path, where, name);
			return -1;
		}
		if (!json_is_string(v)) {
			error_set(err, EXIT_DATAERR, "%s: %s: field \"%s\" must "
			          "be a string, got %s", path, where, name,
			          type_name(v));
			return -1;
		}
		if (json_string_length(v) == 0) {
			error_set(err, EXIT_DATAERR, "%s: %s: field \"%s\" is "
			          "empty", path, where, name);
			return -1;
		}
	}
	/* The id becomes a path segment: it must be routable. */
	for (p = (const unsigned char *)json_string_value(idv); *p; p++) {
		if (*p == '/' || *p < 0x20 || *p == 0x7f) {
			error_set(err, EXIT_DATAERR, "%s: %s: field \"id\" must not "
			          "contain '/' or control characters", path, where);
			return -1;
		}
	}
	u->id = json_string_value(idv);
	u->body = json_dumps(rec, JSON_COMPACT);
	if (u->body == NULL) {
		error_set(err, EXIT_OSERR, "%s: %s: cannot serialize", path,
		          where);
		return -1;
	}
	u->body_len = strlen(u->body);
	return 0;
}

static int
compare_users(const void *a, const void *b)
{
	const struct fixture_user *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* USERS is sorted by id, then file position.  Report the duplicate that
 * comes first in the file: the earliest second member of a run of equal
 * ids. */
static int
check_duplicates(const char *path, const struct fixture_user *users,
                 size_t count, struct error *err)
{
	size_t i, dup = 0, first = 0;
	char qid[200];

	for (i = 1; i < count; i++) {
		if (strcmp(users[i - 1].id, users[i].id) != 0 ||
		    (i >= 2 && strcmp(users[i - 2].id, users[i].id) == 0))
			continue;
		if (dup == 0 || users[i].index < users[dup].index) {
			dup = i;
			first = i - 1;
		}
	}
	if (dup == 0)
		return 0;
	quote_id(users[dup].id, qid, sizeof(qid));
	error_set(err, EXIT_DATAERR, "%s: record %zu (id \"%s\"): duplicate "
	          "id, first used by record %zu", path, users[dup].index + 1,
	          qid, users[first].index + 1);
	return -1;
}

struct fixture *
fixture_load(const char *path, struct error *err)
{
	struct fixture *fx = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	const char *nul;
	char *text;
	size_t len = 0, i;

	text = read_file(path, &len, err);
	if (text == NULL)
		return NULL;
	/* RFC 8259 forbids a byte order mark; say so instead of jansson's
	 * "'[' or '{' expected near ''". */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		error_set(err, EXIT_DATAERR, "%s:1:1: the file starts with a "
		          "UTF-8 byte order mark (BOM); remove it", path);
		goto fail;
	}
	/* jansson stops at a NUL byte as if the file ended there; name it. */
	nul = memchr(text, '\0', len);
	if (nul != NULL) {
		size_t line = 1, column = 1;
		const char *p;

		for (p = text; p < nul; p++) {
			column++;
			if (*p == '\n') {
				line++;
				column = 1;
			}
		}
		error_set(err, EXIT_DATAERR, "%s:%zu:%zu: NUL byte (JSON text "
		          "cannot contain one)", path, line, column);
		goto fail;
	}
	/* Duplicate keys would make a record ambiguous: reject them. */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		const char *what = jerr.text;

		if (json_error_code(&jerr) == json_error_null_character)
			what = "\\u0000 (NUL) is not allowed in strings";
		error_set(err, EXIT_DATAERR, "%s:%d:%d: %s", path, jerr.line,
		          jerr.column, what);
		goto fail;
	}
	if (!json_is_array(root)) {
		error_set(err, EXIT_DATAERR, "%s: top level: expected an array "
		          "of records, got %s", path, type_name(root));
		goto fail;
	}
	fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		goto nomem;
	fx->json = root;
	fx->count = json_array_size(root);
	fx->users = calloc(fx->count ? fx->count : 1, sizeof(*fx->users));
	if (fx->users == NULL)
		goto nomem;
	for (i = 0; i < fx->count; i++) {
		struct error bad = {0, ""};

		fx->users[i].index = i;
		if (check_record(path, i + 1, json_array_get(root, i),
		                 &fx->users[i], &bad) == 0)
			continue;
		/* Report what comes first in the file: a duplicate among the
		 * records before this one, else this record's fault. */
		qsort(fx->users, i, sizeof(*fx->users), compare_users);
		if (check_duplicates(path, fx->users, i, err) == 0)
			error_set(err, bad.code, "%s", bad.text);
		goto fail;
	}
	qsort(fx->users, fx->count, sizeof(*fx->users), compare_users);
	if (check_duplicates(path, fx->users, fx->count, err) < 0)
		goto fail;
	fx->body = json_dumps(root, JSON_COMPACT);
	if (fx->body == NULL)
		goto nomem;
	fx->body_len = strlen(fx->body);
	free(text);
	return fx;

nomem:
	error_set(err, EXIT_OSERR, "%s: out of memory", path);
fail:
	if (fx != NULL)
		fixture_free(fx); /* owns root now */
	else
		json_decref(root);
	free(text);
	return NULL;
}

static int
compare_key(const void *key, const void *elem)
{
	const struct fixture_user *k = key, *u = elem;

	return strcmp(k->id, u->id);
}

struct fixture *
fixture_empty(void)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return NULL;
	/* users is never NULL: bsearch's base must not be. */
	fx->users = calloc(1, sizeof(*fx->users));
	fx->body = strdup("[]");
	if (fx->users == NULL || fx->body == NULL) {
		fixture_free(fx);
		return NULL;
	}
	fx->body_len = 2;
	return fx;
}

const struct fixture_user *
fixture_find(const struct fixture *fx, const char *id)
{
	struct fixture_user key = {id, NULL, 0, 0};

	return bsearch(&key, fx->users, fx->count, sizeof(*fx->users),
	               compare_key);
}

void
fixture_free(struct fixture *fx)
{
	size_t i;

	if (fx == NULL)
		return;
	for (i = 0; fx->users != NULL && i < fx->count; i++)
		free(fx->users[i].body);
	free(fx->users);
	free(fx->body);
	json_decref(fx->json);
	free(fx);
}
