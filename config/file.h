/* Reading a small file whole, written once for every file masqd reads (the
 * config, policy files, kubeconfigs, tokens): opened O_NONBLOCK, checked with
 * fstat to be a regular file before a byte is read (a FIFO there cannot hang
 * the loop), and bounded in size before and while reading. */
#ifndef MASQ_FILE_H
#define MASQ_FILE_H

#include <stddef.h>

/* Read path (at most max bytes) into a malloc'ed, NUL-terminated buffer.
 * Returns 0, or -ENOENT, -EISDIR (a directory), -EINVAL (not a regular
 * file), -EFBIG (over max; *ret_len then has its size when known, else 0)
 * or another -errno from open or read. */
int file_read_bounded(const char *path, size_t max, char **ret_buf, size_t *ret_len)
	__attribute__((warn_unused_result));

#endif
