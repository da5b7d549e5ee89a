/* fuzz_fixture.c -- libFuzzer target for fixture_load ("make fuzz").
 *
 * Each input is written to an anonymous in-memory file (memfd_create),
 * created once and rewritten each time, and loaded through its
 * /proc/self/fd path, so fixture_load opens, stats and reads it like any
 * regular file and nothing touches the disk.  If memfd_create is not
 * available a file in $TMPDIR (or /tmp) is used instead.  A fixture that
 * loads is then searched for each of its ids, and for a few that are not
 * there, and freed.  Built with -fsanitize=fuzzer,address,undefined: any
 * crash, leak or sanitizer report ends the run with an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "error.h"
#include "fixture.h"

static int input_fd = -1;
static char input_path[4096];

static void
input_open(void)
{
	const char *dir;
	int n;

	input_fd = memfd_create("fuzz_fixture", MFD_CLOEXEC);
	if (input_fd >= 0) {
		snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d",
		         input_fd);
		if (access(input_path, R_OK) == 0)
			return;
		close(input_fd); /* no /proc: fall back to a file */
	}
	dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	n = snprintf(input_path, sizeof(input_path), "%s/fuzz_fixture.XXXXXX",
	             dir);
	if (n < 0 || (size_t)n >= sizeof(input_path)) {
		fprintf(stderr, "fuzz_fixture: TMPDIR too long\n");
		exit(1);
	}
	input_fd = mkstemp(input_path);
	if (input_fd < 0) {
		fprintf(stderr, "fuzz_fixture: mkstemp %s: %s\n", input_path,
		        strerror(errno));
		exit(1);
	}
	/* Removed at exit; the name stays valid until then. */
}

static void
input_remove(void)
{
	if (strncmp(input_path, "/proc/", 6) != 0)
		unlink(input_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	input_open();
	atexit(input_remove);
	return 0;
}

static void
input_write(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(input_fd, 0) != 0) {
		fprintf(stderr, "fuzz_fixture: ftruncate: %s\n", strerror(errno));
		abort();
	}
	while (done < size) {
		ssize_t n = pwrite(input_fd, data + done, size - done,
		                   (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "fuzz_fixture: write: %s\n",
			        strerror(errno));
			abort();
		}
		done += (size_t)n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = {0, ""};
	struct fixture *fx;
	size_t i;

	if (input_fd < 0)
		LLVMFuzzerInitialize(NULL, NULL);
	input_write(data, size);
	fx = fixture_load(input_path, &err);
	if (fx == NULL) {
		/* A failure must say why, with one of the documented codes. */
		if (err.text[0] == '\0' ||
		    (err.code != EXIT_NOINPUT && err.code != EXIT_DATAERR &&
		     err.code != EXIT_OSERR))
			abort();
		return 0;
	}
	if (fx->body == NULL || fx->body_len != strlen(fx->body))
		abort();
	for (i = 0; i < fx->count; i++) {
		const struct fixture_user *u = fixture_find(fx, fx->users[i].id);

		if (u == NULL || strcmp(u->id, fx->users[i].id) != 0 ||
		    u->body_len != strlen(u->body) || u->index >= fx->count)
			abort();
	}
	if (fixture_find(fx, "") != NULL)
		abort();
	(void)fixture_find(fx, "no such id \xff");
	fixture_free(fx);
	return 0;
}
