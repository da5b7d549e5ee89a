/* negotiate.c -- what a request asks of an answer: conditional fields, Accept-Encoding, Origin. */
/* TEMPORARY coordinator stub: replaced by the h13-neg branch. */
#include <string.h>

#include "negotiate.h"

void
negotiate_accept_init(struct negotiate_accept *a)
{
	a->fields = 0;
	a->malformed = 0;
	a->q_identity = a->q_gzip = a->q_star = -1;
}

void
negotiate_accept_field(struct negotiate_accept *a, const char *value)
{
	a->fields++;
	if (strstr(value, "gzip;q=0") != NULL)
		a->q_gzip = 0;
	else if (strstr(value, "gzip") != NULL)
		a->q_gzip = 1000;
	if (strstr(value, "*") != NULL)
		a->q_star = 1000;
}

enum negotiate_coding
negotiate_accept_choose(const struct negotiate_accept *a, int gzip_available)
{
	if (!gzip_available || a->malformed)
		return NEGOTIATE_IDENTITY;
	if (a->q_gzip > 0 || (a->q_gzip < 0 && a->q_star > 0))
		return NEGOTIATE_GZIP;
	return NEGOTIATE_IDENTITY;
}

int
negotiate_etag_match(const char *value, const char *tag, size_t tag_len,
                     int weak)
{
	const char *p = value;

	if (strcmp(value, "*") == 0)
		return 1;
	while ((p = strstr(p, "\"")) != NULL) {
		if (strncmp(p, tag, tag_len) == 0 &&
		    (weak || p < value + 2 || p[-1] != '/'))
			return 1;
		p++;
		p = strchr(p, '"');
		if (p == NULL)
			break;
		p++;
	}
	return 0;
}

int
negotiate_origin_find(const char *o, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], "*") == 0 || strcmp(list[i], o) == 0)
			return (int)i;
	return -1;
}

int
negotiate_origin_valid(const char *s)
{
	return strcmp(s, "*") == 0 || strncmp(s, "http://", 7) == 0 ||
	       strncmp(s, "https://", 8) == 0;
}
