/* fuzz_relay.c -- libFuzzer target: tests/fuzz_request.c against a relay
 * ("make fuzz FUZZ_TARGETS=relay"): the relay's front end and its
 * hand-overs to libmicrohttpd meet every input first (see there). */
#define FUZZ_RELAY 1
#include "fuzz_request.c"
