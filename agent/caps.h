/* Least privilege: masqd needs CAP_NET_ADMIN and nothing else. */
#ifndef MASQ_CAPS_H
#define MASQ_CAPS_H

/* Drop every capability but CAP_NET_ADMIN from the bounding, permitted,
 * effective, inheritable and ambient sets, and set no_new_privs. Returns 0,
 * or -EPERM when CAP_NET_ADMIN is not even permitted. */
int caps_keep_net_admin(void) __attribute__((warn_unused_result));

#endif
