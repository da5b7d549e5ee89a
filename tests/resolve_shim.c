/* resolve_shim.c -- LD_PRELOAD shim for check_relay: a name whose address moves.
 *
 * getaddrinfo of the name "upstream.test" answers the address written in
 * the file that AVATAR_API_RESOLVE_FILE names, read anew at each call (no
 * file: EAI_NONAME); any other name goes to glibc's getaddrinfo.  The
 * test rewrites the file to move the upstream, as a container that
 * restarts with a new address does, without a DNS server.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*getaddrinfo_fn)(const char *, const char *,
                              const struct addrinfo *, struct addrinfo **);

int
getaddrinfo(const char *node, const char *service,
            const struct addrinfo *hints, struct addrinfo **res)
{
	static getaddrinfo_fn real;
	const char *file = getenv("AVATAR_API_RESOLVE_FILE");
	char addr[64] = "";

	if (real == NULL)
		real = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	if (real == NULL)
		return EAI_SYSTEM;
	if (node != NULL && file != NULL && strcmp(node, "upstream.test") == 0) {
		FILE *f = fopen(file, "r");

		if (f == NULL)
			return EAI_NONAME;
		if (fgets(addr, sizeof(addr), f) == NULL)
			addr[0] = '\0';
		fclose(f);
		addr[strcspn(addr, "\n")] = '\0';
		node = addr;
	}
	return real(node, service, hints, res);
}
