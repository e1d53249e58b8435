/* Which config stands: the ConfigMap read through the API, or the mounted
 * file. The API's wins while the API answers. During an outage it stays
 * until the mounted file's content actually changes (kubelet may still be
 * behind the API, or the admin fixed the file by hand); then the file wins
 * until the API answers again. Pure: tests drive it without an agent. */
#ifndef MASQ_PRECEDENCE_H
#define MASQ_PRECEDENCE_H

#include <stdbool.h>
#include <stdint.h>

struct cm_precedence {
	bool outage; /* the ConfigMap watch is failing */
	bool file_wins; /* ... and the mounted file changed since it began */
	uint64_t outage_digest; /* the mounted file's digest when it began */
};

enum cm_event {
	CM_NOTHING, /* no change */
	CM_OUTAGE_BEGAN, /* the API stopped answering: its version stays for now */
	CM_OUTAGE_ENDED, /* the API answers again: its version wins again */
	CM_FILE_WINS, /* during the outage the mounted file changed: it wins now */
};

/* The mounted file's digest now (sources_config_digest), asked for only
 * when the rule needs it: it reads the files. */
typedef uint64_t (*cm_digest_fn)(void *ctx);

/* The ConfigMap watch's health is now healthy (or not). */
enum cm_event cm_precedence_health(struct cm_precedence *p, bool healthy, cm_digest_fn digest,
				   void *ctx);

/* Whether the API's ConfigMap stands in for the file at this load: have_api
 * is true once the API gave a ConfigMap state. *ret_event is CM_FILE_WINS
 * when the file has just won, else CM_NOTHING. */
bool cm_precedence_use_api(struct cm_precedence *p, bool have_api, cm_digest_fn digest, void *ctx,
			   enum cm_event *ret_event);

#endif
