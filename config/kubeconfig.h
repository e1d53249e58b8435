/* How to reach the Kubernetes API: from a kubeconfig file, from inside a pod
 * (KUBERNETES_SERVICE_HOST/PORT and the service account's files), or from a
 * bare URL. Only what masqd needs: server, CA, bearer token, client cert. */
#ifndef MASQ_KUBECONFIG_H
#define MASQ_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/diag.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_TOKEN_MAX (64 * 1024) /* a projected token is about 1 KiB */
#define KUBE_PEM_MAX (1024 * 1024) /* CA bundles, client certs and keys */

/* Bytes from a file or from base64 data in the kubeconfig: one of the two. */
struct kube_blob {
	char *file;
	unsigned char *data;
	size_t len;
};

#define K8S_NAME_MAX 253 /* a DNS subdomain */

/* A namespaced object, as flags name it: "NAMESPACE/NAME". */
struct k8s_ref {
	char ns[K8S_NAME_MAX + 1];
	char name[K8S_NAME_MAX + 1];
};

/* Parse "NAMESPACE/NAME" (DNS subdomain characters: a-z, 0-9, '-', '.').
 * Returns 0 or -EINVAL. */
int k8s_ref_parse(const char *s, struct k8s_ref *ret) __attribute__((warn_unused_result));

struct kube_access {
	char *server; /* "https://host:port", no trailing slash */
	struct kube_blob ca, cert, key;
	char *token; /* a literal token (kubeconfig users[].user.token) */
	char *token_file; /* wins over token; read every minute and after a 401 */
	char *kubeconfig; /* the file this came from; NULL in a pod or with a bare URL */
	char *namespace; /* the service account's, or the context's */
	bool insecure; /* insecure-skip-tls-verify: allowed, but logged loudly */
};

/* Parse a kubeconfig (its current context). Relative paths are taken from
 * the file's directory, as kubectl does. exec and auth-provider users are
 * refused: masqd runs no plugins. Returns 0 or -EINVAL with d filled. */
int kube_access_parse(const char *path, const char *buf, size_t len, struct kube_access *ret,
		      struct diags *d) __attribute__((warn_unused_result));

/* In a pod: host and port from the environment (an IPv6 literal is
 * bracketed), the token and CA from sa_dir. Returns 0 or -EINVAL (not in a
 * cluster: host or port unset) with d filled. */
int kube_access_in_cluster(const char *host, const char *port, const char *sa_dir,
			   struct kube_access *ret, struct diags *d)
	__attribute__((warn_unused_result));

/* Check and set the server: http:// or https://, with a host; the trailing
 * slash is dropped. Returns 0 or -EINVAL. */
int kube_access_set_server(struct kube_access *a, const char *url)
	__attribute__((warn_unused_result));

/* Read a token file: bounded, surrounding whitespace trimmed, not empty.
 * Returns 0 with *ret malloc'ed, or -errno (-EINVAL: empty or too big). */
int kube_token_read(const char *path, char **ret) __attribute__((warn_unused_result));

/* The bearer token to send; NULL for none. file_token is the token file's
 * last successful read (NULL before one). As client-go's
 * NewBearerAuthWithRefreshRoundTripper: when a kubeconfig has both token and
 * tokenFile, the file's last successful read wins, and the inline token is
 * sent only while the file has never been read. */
const char *kube_token_pick(const struct kube_access *a, const char *file_token);

/* Why the API server may have answered 401, for the log line: no token at
 * all, the inline token refused, or the token file's refused. file_token as
 * for kube_token_pick. Writes a NUL-terminated sentence into buf. */
void kube_unauthorized_hint(const struct kube_access *a, const char *file_token, char *buf,
			    size_t len);

/* Decode standard base64 (newlines allowed). Returns 0 or -EINVAL. */
int kube_base64_decode(const char *s, unsigned char **ret, size_t *ret_len)
	__attribute__((warn_unused_result));

/* Free the contents; a zeroed struct is fine. */
void kube_access_clear(struct kube_access *a);

/* Refuse access that would leak the bearer token: a token (inline or file)
 * sent over plain http:// to anything but a loopback address. Returns 0, or
 * -EINVAL with why (why_len bytes) set. */
int kube_access_check(const struct kube_access *a, char *why, size_t why_len)
	__attribute__((warn_unused_result));

#endif
