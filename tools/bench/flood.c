/* New-connection load for tools/bench/conn.py: COUNT UDP datagrams from one
 * socket, each to another destination port, so each one is a new conntrack
 * flow whose first packet walks the nat chain. Sends in batches with
 * sendmmsg; prints the flows sent and the nanoseconds it took. Run only in
 * the benchmark's own namespaces, at the benchmark's own addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

int main(int argc, char **argv);

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sockaddr_in dst[BATCH];
	struct mmsghdr msg[BATCH];
	static char payload[1] = { 'x' };
	struct iovec iov = { .iov_base = payload, .iov_len = 1 };
	long count, sent = 0, port0;
	long long t0;
	int fd;

	if (argc != 4 || (count = atol(argv[3])) <= 0 || (port0 = atol(argv[2])) < 0 ||
	    port0 > 65535) {
		fprintf(stderr, "usage: flood DST_IPV4 FIRST_PORT COUNT\n");
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	memset(msg, 0, sizeof(msg));
	for (int i = 0; i < BATCH; i++) {
		dst[i] = (struct sockaddr_in){ .sin_family = AF_INET };
		if (inet_pton(AF_INET, argv[1], &dst[i].sin_addr) != 1) {
			fprintf(stderr, "flood: bad address %s\n", argv[1]);
			return 2;
		}
		msg[i].msg_hdr = (struct msghdr){ .msg_name = &dst[i],
						  .msg_namelen = sizeof(dst[i]),
						  .msg_iov = &iov,
						  .msg_iovlen = 1 };
	}
	t0 = now_ns();
	while (sent < count) {
		int n = count - sent < BATCH ? (int)(count - sent) : BATCH, r;
		for (int i = 0; i < n; i++) /* ports 1024..61023: a new flow each */
			dst[i].sin_port = htons((uint16_t)(1024 + (port0 + sent + i) % 60000));
		r = sendmmsg(fd, msg, (unsigned)n, 0);
		if (r < 0 && errno != ENOBUFS && errno != EAGAIN) {
			perror("sendmmsg");
			return 1;
		}
		sent += r > 0 ? r : 0;
	}
	printf("%ld %lld\n", sent, now_ns() - t0);
	close(fd);
	return 0;
}
