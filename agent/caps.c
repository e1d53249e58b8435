/* Privileges: keep CAP_NET_ADMIN alone, with no_new_privs. */
#include "agent/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = CAP_LAST_CAP;
		fclose(f);
	}
	return n;
}

int caps_keep_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	const unsigned keep = CAP_NET_ADMIN; /* 12: in the first 32-bit word */

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	if (!(data[0].permitted & (1u << keep)))
		return -EPERM;
	/* The bounding set first: that needs CAP_SETPCAP, which goes next.
	 * Without it (e.g. started under setpriv) the set is already narrow. */
	for (int c = 0; c <= last_cap(); c++) {
		if ((unsigned)c != keep && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			(void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	}
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	data[0].effective = data[0].permitted = 1u << keep;
	data[0].inheritable = 0;
	data[1].effective = data[1].permitted = data[1].inheritable = 0;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}
