/* The ConfigMap-over-file rule and its outage state, as pure functions. */
#include "config/precedence.h"

enum cm_event cm_precedence_health(struct cm_precedence *p, bool healthy, cm_digest_fn digest,
				   void *ctx)
{
	if (!healthy && !p->outage) {
		p->outage = true;
		p->outage_digest = digest(ctx);
		return CM_OUTAGE_BEGAN;
	}
	if (healthy && p->outage) {
		p->outage = p->file_wins = false;
		return CM_OUTAGE_ENDED;
	}
	return CM_NOTHING;
}

bool cm_precedence_use_api(struct cm_precedence *p, bool have_api, cm_digest_fn digest, void *ctx,
			   enum cm_event *ret_event)
{
	*ret_event = CM_NOTHING;
	if (!have_api)
		return false;
	if (p->outage && !p->file_wins && digest(ctx) != p->outage_digest) {
		p->file_wins = true;
		*ret_event = CM_FILE_WINS;
	}
	return !p->file_wins;
}
