/* masqctl status: the running masqd's status document, printed for people. */
#ifndef MASQ_MASQCTL_STATUS_H
#define MASQ_MASQCTL_STATUS_H

#include <jansson.h>

/* Print d (the status socket's document) as text on stdout. */
void masqctl_print_status(json_t *d);

#endif
