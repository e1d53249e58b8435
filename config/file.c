/* The one bounded, non-blocking read of a small file. */
#include "config/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Read at most max bytes; one more means the file grew past the bound. */
static int read_all(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	size_t cap = max + 1, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while (len < cap && (n = read(fd, buf + len, cap - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		len += (size_t)n;
	}
	if (len > max) {
		free(buf);
		*ret_len = 0;
		return -EFBIG;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int file_read_bounded(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r;
	struct stat st;

	*ret_len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((size_t)st.st_size > max) {
		*ret_len = (size_t)st.st_size;
		r = -EFBIG;
	} else
		r = read_all(fd, max, ret_buf, ret_len);
	close(fd);
	return r;
}
