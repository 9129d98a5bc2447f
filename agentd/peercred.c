/*
 * peercred_tcp_uid: one exact sock_diag lookup (inet_diag_req_v2 for a
 * 4-tuple) over a NETLINK_SOCK_DIAG socket; the answer's idiag_uid is the
 * uid that created the connecting socket.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "agentd/peercred.h"
#include "base/alloc.h"

/* The kernel answers at once; this only bounds a lookup gone wrong. */
#define PEERCRED_TIMEOUT_MS	1000

/* Fills the request's 4-tuple: the far socket's source is fd's peer. */
static int
peercred_tuple(int fd, struct inet_diag_req_v2 *req, char **cause)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof local, plen = sizeof peer;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
		return nn_fail(cause, "cannot read the connection's "
		    "addresses: %s", strerror(errno));
	if (local.ss_family != peer.ss_family)
		return nn_fail(cause, "mixed address families");
	req->sdiag_family = (uint8_t)local.ss_family;
	if (local.ss_family == AF_INET) {
		struct sockaddr_in *l = (void *)&local, *p = (void *)&peer;

		req->id.idiag_sport = p->sin_port;
		req->id.idiag_dport = l->sin_port;
		memcpy(req->id.idiag_src, &p->sin_addr, 4);
		memcpy(req->id.idiag_dst, &l->sin_addr, 4);
	} else if (local.ss_family == AF_INET6) {
		struct sockaddr_in6 *l = (void *)&local, *p = (void *)&peer;

		req->id.idiag_sport = p->sin6_port;
		req->id.idiag_dport = l->sin6_port;
		memcpy(req->id.idiag_src, &p->sin6_addr, 16);
		memcpy(req->id.idiag_dst, &l->sin6_addr, 16);
	} else
		return nn_fail(cause, "not a TCP/IP connection");
	return 0;
}

int
peercred_tcp_uid(int fd, uid_t *uid, char **cause)
{
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	req;
	} q;
	union {
		struct nlmsghdr	nlh;
		char		buf[8192];
	} a;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct pollfd pfd;
	struct nlmsghdr *h;
	struct inet_diag_msg *msg;
	struct nlmsgerr *err;
	ssize_t n;
	int nl, rc = -1;

	memset(&q, 0, sizeof q);
	if (peercred_tuple(fd, &q.req, cause) != 0)
		return -1;
	q.nlh.nlmsg_len = sizeof q;
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.nlh.nlmsg_seq = 1;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0U;
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if ((nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG)) == -1)
		return nn_fail(cause, "sock_diag: %s", strerror(errno));
	if (sendto(nl, &q, sizeof q, 0, (struct sockaddr *)&kernel,
	    sizeof kernel) != (ssize_t)sizeof q) {
		nn_fail(cause, "sock_diag: %s", strerror(errno));
		goto out;
	}
	pfd = (struct pollfd){ .fd = nl, .events = POLLIN };
	if (poll(&pfd, 1, PEERCRED_TIMEOUT_MS) != 1) {
		nn_fail(cause, "sock_diag: no answer");
		goto out;
	}
	if ((n = recv(nl, &a, sizeof a, 0)) < 0) {
		nn_fail(cause, "sock_diag: %s", strerror(errno));
		goto out;
	}
	h = &a.nlh;
	if (!NLMSG_OK(h, (size_t)n)) {
		nn_fail(cause, "sock_diag: a short answer");
		goto out;
	}
	if (h->nlmsg_type == NLMSG_ERROR) {
		err = NLMSG_DATA(h);
		/* ENOENT: the connecting socket is gone, or not on this host. */
		nn_fail(cause, "sock_diag: %s", h->nlmsg_len >=
		    NLMSG_LENGTH(sizeof *err) ? strerror(-err->error) :
		    "an error");
		goto out;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof *msg)) {
		nn_fail(cause, "sock_diag: an unexpected answer");
		goto out;
	}
	msg = NLMSG_DATA(h);
	/* A closed socket waiting out TIME_WAIT has no owner left (the
	 * kernel says uid 0): it can be nobody's proof. */
	if (msg->idiag_state == TCP_TIME_WAIT) {
		nn_fail(cause, "sock_diag: the connecting socket is closed");
		goto out;
	}
	*uid = (uid_t)msg->idiag_uid;
	rc = 0;
out:
	close(nl);
	return rc;
}
