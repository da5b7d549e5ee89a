/* negotiate.h -- what a request asks of an answer: conditional fields, Accept-Encoding, Origin. */
/* TEMPORARY coordinator stub: replaced by the h13-neg branch. */
#ifndef AVATAR_NEGOTIATE_H
#define AVATAR_NEGOTIATE_H

#include <stddef.h>

enum negotiate_coding { NEGOTIATE_IDENTITY, NEGOTIATE_GZIP, NEGOTIATE_CODINGS };

struct negotiate_accept {
	int fields;
	int malformed;
	short q_identity, q_gzip, q_star;
};
void negotiate_accept_init(struct negotiate_accept *a);
void negotiate_accept_field(struct negotiate_accept *a, const char *value);
enum negotiate_coding negotiate_accept_choose(const struct negotiate_accept *a,
                                              int gzip_available);
int negotiate_etag_match(const char *value, const char *tag, size_t tag_len,
                         int weak);
int negotiate_origin_find(const char *o, const char *const *list, size_t n);
int negotiate_origin_valid(const char *s);

#endif
