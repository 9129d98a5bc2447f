/*
 * peercred_tcp_uid: a loopback connection of our own is ours (both ways
 * round: the connector's socket is asked for, not the accepted one), and
 * what is not TCP, or has no socket at the other end here, has no answer.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/peercred.h"
#include "unit.h"

/* A connected loopback pair: *a the connector's end, *b the accepted. */
static int
loopback_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int l;

	*a = *b = -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(l, 1) != 0 ||
	    getsockname(l, (struct sockaddr *)&sin, &len) != 0 ||
	    (*a = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(*a, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    (*b = accept(l, NULL, NULL)) < 0) {
		close(l);
		return -1;
	}
	close(l);
	return 0;
}

static void
test_own_connection(void)
{
	uid_t uid = (uid_t)-1;
	char *cause = NULL;
	int a = -1, b = -1;

	if (loopback_pair(&a, &b) != 0) {
		unit_skip("no loopback interface here");
		goto end;
	}
	CHECKF(peercred_tcp_uid(b, &uid, &cause) == 0, "%s", cause);
	CHECKF(uid == geteuid(), "uid %lu, expected %lu", (unsigned long)uid,
	    (unsigned long)geteuid());
	uid = (uid_t)-1;
	CHECKF(peercred_tcp_uid(a, &uid, &cause) == 0, "%s", cause);
	CHECK(uid == geteuid());
end:
	free(cause);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

/* Once the connector has closed, nobody answers for the connection. */
static void
test_closed_connector(void)
{
	uid_t uid = 12345;
	char *cause = NULL;
	int a = -1, b = -1;

	if (loopback_pair(&a, &b) != 0) {
		unit_skip("no loopback interface here");
		goto end;
	}
	close(a);
	a = -1;
	/* The accepted end answers the FIN; the connector's socket is in
	 * TIME_WAIT or gone after that. */
	shutdown(b, SHUT_WR);
	usleep(100000);
	CHECK(peercred_tcp_uid(b, &uid, &cause) == -1);
	CHECK(cause != NULL);
	CHECK(uid == 12345);
end:
	free(cause);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

static void
test_not_tcp(void)
{
	uid_t uid;
	char *cause = NULL;
	int sv[2] = { -1, -1 };

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(peercred_tcp_uid(sv[0], &uid, &cause) == -1);
	CHECKF(strstr(cause, "not a TCP/IP connection") != NULL, "%s", cause);
end:
	free(cause);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

static const struct unit_test tests[] = {
	{ "own_connection", test_own_connection },
	{ "closed_connector", test_closed_connector },
	{ "not_tcp", test_not_tcp },
	{ NULL, NULL },
};

UNIT_MAIN("peercred", tests)
