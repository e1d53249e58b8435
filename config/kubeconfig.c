/* API access: kubeconfig, in-cluster settings, tokens, NAMESPACE/NAME. */
#include "config/kubeconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/file.h"
#include "config/yamltree.h"

static void blob_clear(struct kube_blob *b)
{
	free(b->file);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void kube_access_clear(struct kube_access *a)
{
	free(a->server);
	blob_clear(&a->ca);
	blob_clear(&a->cert);
	blob_clear(&a->key);
	free(a->token);
	free(a->token_file);
	free(a->kubeconfig);
	free(a->namespace);
	memset(a, 0, sizeof(*a));
}

static int b64_value(int c)
{
	static const char set[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(set, c) : NULL;

	return p ? (int)(p - set) : -1;
}

int kube_base64_decode(const char *s, unsigned char **ret, size_t *ret_len)
{
	size_t n = strlen(s), out = 0, pad = 0;
	unsigned char *buf = malloc(n / 4 * 3 + 3);
	unsigned acc = 0, bits = 0;

	if (!buf)
		return -ENOMEM;
	for (const char *p = s; *p; p++) {
		int v = b64_value((unsigned char)*p);
		if (isspace((unsigned char)*p))
			continue;
		if (*p == '=' && pad < 2) {
			pad++;
			continue;
		}
		if (v < 0 || pad) {
			free(buf);
			return -EINVAL; /* a foreign character, or data after the padding */
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[out++] = (unsigned char)(acc >> bits);
		}
	}
	*ret = buf;
	*ret_len = out;
	return 0;
}

/* A bearer token goes into a header: no space, control character or CRLF
 * that would split it or start another header. */
static bool header_safe(const char *s)
{
	for (; *s; s++) {
		if (!isgraph((unsigned char)*s))
			return false;
	}
	return true;
}

int kube_token_read(const char *path, char **ret)
{
	char *buf, *b, *e;
	size_t n;
	int r = file_read_bounded(path, KUBE_TOKEN_MAX, &buf, &n);

	if (r < 0)
		return r == -EFBIG || r == -EISDIR ? -EINVAL : r;
	if (memchr(buf, '\0', n)) {
		free(buf); /* it would cut the token short */
		return -EINVAL;
	}
	for (b = buf; isspace((unsigned char)*b); b++)
		;
	for (e = b + strlen(b); e > b && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	if (e == b || !header_safe(b)) {
		free(buf);
		return -EINVAL;
	}
	memmove(buf, b, (size_t)(e - b) + 1);
	*ret = buf;
	return 0;
}

const char *kube_token_pick(const struct kube_access *a, const char *file_token)
{
	return file_token ? file_token : a->token;
}

void kube_unauthorized_hint(const struct kube_access *a, const char *file_token, char *buf,
			    size_t len)
{
	const char *sent = kube_token_pick(a, file_token);
	bool cert = a->cert.file || a->cert.data;

	if (sent && sent == file_token)
		snprintf(buf, len,
			 "the token read from %s was refused; it is read again before each retry",
			 a->token_file);
	else if (sent && a->token_file)
		snprintf(
			buf, len,
			"the kubeconfig's inline token was refused (its tokenFile %s, which wins, cannot be read)",
			a->token_file);
	else if (sent)
		snprintf(buf, len,
			 "the kubeconfig's inline token was refused; masqd reads %s only at start",
			 a->kubeconfig ? a->kubeconfig : "the kubeconfig");
	else if (a->token_file)
		snprintf(buf, len, "no token was sent: the token file %s cannot be read",
			 a->token_file);
	else if (a->kubeconfig)
		snprintf(
			buf, len,
			"no token configured: the kubeconfig %s has no token or tokenFile for its user%s",
			a->kubeconfig, cert ? ", and its client certificate was refused" : "");
	else
		snprintf(buf, len,
			 "no token configured: no kubeconfig and no service-account token");
}

int kube_access_set_server(struct kube_access *a, const char *url)
{
	const char *host;
	char *s;
	size_t n;

	if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return -EINVAL;
	if (!*host || *host == '/' || strpbrk(url, " \t\r\n?#"))
		return -EINVAL;
	s = strdup(url);
	if (!s)
		return -ENOMEM;
	for (n = strlen(s); n > 0 && s[n - 1] == '/'; n--)
		s[n - 1] = '\0';
	free(a->server);
	a->server = s;
	return 0;
}

struct kctx {
	const char *path;
	char dir[PATH_MAX];
	struct diags *d;
	bool bad;
};

#define kerr(c, n, ...)                                                                          \
	do {                                                                                     \
		diag_add((c)->d, DIAG_ERROR, (c)->path, (n) ? (n)->line : 0, (n) ? (n)->col : 0, \
			 __VA_ARGS__);                                                           \
		(c)->bad = true;                                                                 \
	} while (0)

/* The entry of a named list (contexts, clusters, users) called name. */
static const struct yt_node *named(const struct yt_node *root, const char *list, const char *key,
				   const char *name)
{
	const struct yt_node *seq = yt_get(root, list);

	for (size_t i = 0; seq && seq->type == YT_SEQ && i < seq->nkids; i++) {
		const char *n = yt_str(yt_get(seq->kids[i], "name"));
		if (n && strcmp(n, name) == 0)
			return yt_get(seq->kids[i], key);
	}
	return NULL;
}

/* A path relative to the kubeconfig's directory. */
static char *resolve(struct kctx *c, const char *p)
{
	char *s;

	if (p[0] == '/' || !c->dir[0])
		return strdup(p);
	return asprintf(&s, "%s/%s", c->dir, p) < 0 ? NULL : s;
}

/* "KEY" (a file) or "KEY-data" (base64): the data wins, as in client-go. */
static void read_blob(struct kctx *c, const struct yt_node *map, const char *key,
		      struct kube_blob *ret)
{
	char datakey[64];
	const struct yt_node *data, *file;

	snprintf(datakey, sizeof(datakey), "%s-data", key);
	data = yt_get(map, datakey);
	file = yt_get(map, key);
	if (yt_str(data) && data->text[0]) {
		if (kube_base64_decode(data->text, &ret->data, &ret->len) < 0 ||
		    ret->len > KUBE_PEM_MAX)
			kerr(c, data, "%s is not valid base64 (of at most 1 MiB)", datakey);
	} else if (yt_str(file) && file->text[0]) {
		if (!(ret->file = resolve(c, file->text)))
			c->bad = true;
	}
}

static void read_cluster(struct kctx *c, const struct yt_node *cl, struct kube_access *a)
{
	const struct yt_node *server = yt_get(cl, "server");
	const char *insecure = yt_str(yt_get(cl, "insecure-skip-tls-verify"));

	if (!yt_str(server) || kube_access_set_server(a, server->text) < 0) {
		kerr(c, server ? server : cl, "cluster.server must be an http(s):// URL");
		return;
	}
	read_blob(c, cl, "certificate-authority", &a->ca);
	a->insecure = insecure && strcmp(insecure, "true") == 0;
}

static void read_user(struct kctx *c, const struct yt_node *u, struct kube_access *a)
{
	const char *token = yt_str(yt_get(u, "token")), *tf = yt_str(yt_get(u, "tokenFile"));

	if (yt_get(u, "exec") || yt_get(u, "auth-provider")) {
		kerr(c, u,
		     "user: exec and auth-provider plugins are not supported; use a token, "
		     "tokenFile or client certificate");
		return;
	}
	if (yt_get(u, "username") || yt_get(u, "password"))
		kerr(c, u, "user: basic authentication is not supported");
	if (token && token[0] && !header_safe(token))
		kerr(c, yt_get(u, "token"),
		     "user.token holds a space or control character, which a header cannot carry");
	else if (token && token[0] && !(a->token = strdup(token)))
		c->bad = true;
	if (tf && tf[0] && !(a->token_file = resolve(c, tf)))
		c->bad = true;
	read_blob(c, u, "client-certificate", &a->cert);
	read_blob(c, u, "client-key", &a->key);
	if (!a->cert.file != !a->key.file || !a->cert.data != !a->key.data)
		kerr(c, u, "user: a client certificate needs its key, and a key its certificate");
}

int kube_access_parse(const char *path, const char *buf, size_t len, struct kube_access *ret,
		      struct diags *d)
{
	struct kctx c = { .path = path, .d = d };
	struct yt_node **docs = NULL;
	const struct yt_node *root, *ctx, *cl, *u;
	const char *cur, *cname, *uname, *ns;
	const char *slash = strrchr(path, '/');
	int n = yt_parse(path, buf, len, &docs, d);

	memset(ret, 0, sizeof(*ret));
	if (n < 0)
		return -EINVAL;
	if (slash)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - path), path);
	root = n == 1 ? docs[0] : NULL;
	cur = yt_str(yt_get(root, "current-context"));
	ctx = cur ? named(root, "contexts", "context", cur) : NULL;
	cname = yt_str(yt_get(ctx, "cluster"));
	uname = yt_str(yt_get(ctx, "user"));
	ns = yt_str(yt_get(ctx, "namespace"));
	cl = cname ? named(root, "clusters", "cluster", cname) : NULL;
	u = uname ? named(root, "users", "user", uname) : NULL;
	if (!root || root->type != YT_MAP)
		kerr(&c, root, "expected one kubeconfig document");
	else if (!cur || !ctx)
		kerr(&c, root, "current-context \"%s\" names no entry of contexts", cur ? cur : "");
	else if (!cl)
		kerr(&c, ctx, "context.cluster \"%s\" names no entry of clusters",
		     cname ? cname : "");
	else
		read_cluster(&c, cl, ret);
	if (!c.bad && u)
		read_user(&c, u, ret);
	if (!c.bad && ns && !(ret->namespace = strdup(ns)))
		c.bad = true;
	if (!c.bad && !(ret->kubeconfig = strdup(path)))
		c.bad = true;
	yt_free_docs(docs, n);
	if (c.bad) {
		kube_access_clear(ret);
		return -EINVAL;
	}
	return 0;
}

int kube_access_in_cluster(const char *host, const char *port, const char *sa_dir,
			   struct kube_access *ret, struct diags *d)
{
	char url[300], path[PATH_MAX];
	char *ns = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!host || !host[0] || !port || !port[0]) {
		diag_add(
			d, DIAG_ERROR, "in-cluster", 0, 0,
			"KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: not in a "
			"pod; use --kubeconfig or --apiserver-url");
		return -EINVAL;
	}
	/* client-go's net.JoinHostPort: an IPv6 literal needs brackets */
	snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		 port);
	r = kube_access_set_server(ret, url);
	if (r < 0) {
		diag_add(d, DIAG_ERROR, "in-cluster", 0, 0, "bad service address %s", url);
		return r;
	}
	snprintf(path, sizeof(path), "%s/token", sa_dir);
	ret->token_file = strdup(path);
	snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
	ret->ca.file = strdup(path);
	snprintf(path, sizeof(path), "%s/namespace", sa_dir);
	if (kube_token_read(path, &ns) == 0)
		ret->namespace = ns;
	if (!ret->token_file || !ret->ca.file) {
		kube_access_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

/* A namespace or name as Kubernetes has them: DNS labels and subdomains. */
static bool k8s_name(const char *s, size_t n)
{
	if (n == 0 || n > K8S_NAME_MAX || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' ||
	    s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	}
	return true;
}

int k8s_ref_parse(const char *s, struct k8s_ref *ret)
{
	const char *slash = strchr(s, '/');
	size_t nl;

	if (!slash)
		return -EINVAL;
	nl = (size_t)(slash - s);
	if (!k8s_name(s, nl) || !k8s_name(slash + 1, strlen(slash + 1)))
		return -EINVAL;
	memcpy(ret->ns, s, nl);
	ret->ns[nl] = '\0';
	snprintf(ret->name, sizeof(ret->name), "%s", slash + 1);
	return 0;
}

/* localhost, 127.0.0.0/8 or [::1]: the host part of an http:// URL. */
static bool loopback_host(const char *hostport)
{
	size_t n;
	char host[256];

	if (hostport[0] == '[')
		n = strcspn(hostport, "]") + 1;
	else
		n = strcspn(hostport, ":/");
	if (n >= sizeof(host))
		return false;
	memcpy(host, hostport, n);
	host[n] = '\0';
	return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	       (strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n);
}

int kube_access_check(const struct kube_access *a, char *why, size_t why_len)
{
	if (!a->server || strncmp(a->server, "http://", 7) != 0 || (!a->token && !a->token_file))
		return 0;
	if (loopback_host(a->server + 7))
		return 0;
	snprintf(why, why_len,
		 "refusing to send a bearer token over plain http:// to %s: use https:// (plain "
		 "http is allowed to a loopback address only)",
		 a->server);
	return -EINVAL;
}
