/*
 * berth-netns: berth's built-in bridge network in one exec, over rtnetlink (no `ip`, no CNI plugins).
 *
 *   berth-netns add --netns FILE [--create] --bridge BR --gateway GW --address IP --prefix N
 *                   --host-veth NAME [--ifname eth0] [--mtu N] [--hairpin]
 *       [--create: new namespace bind-mounted on FILE, as `unshare --net=FILE` does] lo up,
 *       bridge BR (created with GW/N if missing, as the CNI bridge plugin does with isGateway),
 *       ip_forward on, a veth pair: NAME on the host (on BR, up) and IFNAME in the namespace
 *       (IP/N, up, default route via GW). Prints {"bridgeMac","hostMac","mac"} as JSON.
 *       On failure: one line "berth-netns: <step>: <errno text>", exit 1, and what it made is undone.
 *       [--spare FILE: after a successful add, also a new empty namespace bind-mounted on FILE, made
 *       ahead for the next pod (engine/network/netns-spare.ts); its failure only leaves FILE unmounted]
 *   berth-netns del --netns FILE [--host-veth NAME] [--keep-netns]
 *       Deletes the veth pair (both ends go together) and unmounts + unlinks FILE. Idempotent.
 *   berth-netns check --netns FILE --host-veth NAME --bridge BR --ifname IF --address IP --prefix N
 *       Exit 1 with the first drift found: host end missing or off the bridge, IF missing, down or
 *       without IP/N.
 *
 * Single-threaded, so setns() moves the whole process: a netlink socket opened while in a
 * namespace stays bound to it, which is how one process talks to both sides.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

struct opts {
	const char *netns, *bridge, *host_veth, *ifname;
	struct in_addr gateway, address;
	int prefix, mtu, create, hairpin, keep_netns;
	const char *spare;
};

/* what add made so far, undone in reverse on failure */
static struct {
	const char *netns_file;
	int file_made, mounted, host_nl, veth_made;
	const char *veth;
} made = { .host_nl = -1 };

static void del_link(int nl, const char *name);

static void undo(void)
{
	if (made.veth_made && made.host_nl >= 0)
		del_link(made.host_nl, made.veth);
	if (made.mounted)
		umount2(made.netns_file, MNT_DETACH);
	if (made.file_made)
		unlink(made.netns_file);
}

static void __attribute__((noreturn, format(printf, 2, 3))) fail(int err, const char *fmt, ...)
{
	va_list ap;
	fputs("berth-netns: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	undo();
	exit(1);
}

/* ---- rtnetlink ---------------------------------------------------------------------------- */

struct req {
	struct nlmsghdr n;
	char buf[2048];
};

static void *req_init(struct req *r, int type, int flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->n.nlmsg_type = type;
	r->n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return NLMSG_DATA(&r->n);
}

static struct rtattr *attr(struct req *r, int type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)&r->n + NLMSG_ALIGN(r->n.nlmsg_len));
	if (NLMSG_ALIGN(r->n.nlmsg_len) + RTA_SPACE(len) > sizeof(*r))
		fail(0, "netlink request too long");
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_SPACE(len);
	return a;
}

static void attr_str(struct req *r, int type, const char *s) { attr(r, type, s, strlen(s) + 1); }
static void attr_u32(struct req *r, int type, unsigned v) { attr(r, type, &v, 4); }
static struct rtattr *nest(struct req *r, int type) { return attr(r, type, NULL, 0); }
static void nest_end(struct req *r, struct rtattr *a) { a->rta_len = (char *)&r->n + r->n.nlmsg_len - (char *)a; }

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		fail(errno, "netlink socket");
	return fd;
}

/*
 * Send one request; returns 0 or -errno from the kernel's ack. With `reply`, the first non-ack
 * message (a GET's answer) is copied there.
 */
static int nl_talk(int fd, struct req *r, struct req *reply)
{
	static unsigned seq;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[8192];
	r->n.nlmsg_seq = ++seq;
	if (sendto(fd, &r->n, r->n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_seq != r->n.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (reply && h->nlmsg_len <= sizeof(*reply)) {
				memcpy(reply, h, h->nlmsg_len);
				reply = NULL; /* the ack follows */
			}
		}
	}
}

struct link {
	int index;
	unsigned flags;
	int master;
	unsigned char mac[6];
};

/* RTM_GETLINK by name; -errno (ENODEV) when there is none */
static int get_link(int nl, const char *name, struct link *out)
{
	struct req r, reply;
	req_init(&r, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
	attr_str(&r, IFLA_IFNAME, name);
	memset(&reply, 0, sizeof(reply));
	int err = nl_talk(nl, &r, &reply);
	if (err)
		return err;
	if (reply.n.nlmsg_type != RTM_NEWLINK)
		return -ENODEV;
	struct ifinfomsg *ifi = NLMSG_DATA(&reply.n);
	memset(out, 0, sizeof(*out));
	out->index = ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	int len = IFLA_PAYLOAD(&reply.n);
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == 6)
			memcpy(out->mac, RTA_DATA(a), 6);
		else if (a->rta_type == IFLA_MASTER)
			out->master = *(int *)RTA_DATA(a);
	}
	return 0;
}

static int set_link(int nl, int index, unsigned flags, unsigned change, int master)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = flags;
	ifi->ifi_change = change;
	if (master)
		attr_u32(&r, IFLA_MASTER, master);
	return nl_talk(nl, &r, NULL);
}

static void del_link(int nl, const char *name)
{
	struct req r;
	req_init(&r, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
	attr_str(&r, IFLA_IFNAME, name);
	int err = nl_talk(nl, &r, NULL);
	if (err && err != -ENODEV)
		fprintf(stderr, "berth-netns: deleting %s: %s\n", name, strerror(-err));
}

/* IPv4 address with the broadcast the CNI plugins (vishvananda/netlink) set; EEXIST is fine */
static int add_addr(int nl, int index, struct in_addr ip, int prefix)
{
	struct req r;
	struct ifaddrmsg *ifa = req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_index = index;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	attr(&r, IFA_LOCAL, &ip, 4);
	attr(&r, IFA_ADDRESS, &ip, 4);
	if (prefix < 31) {
		struct in_addr brd = { ip.s_addr | htonl(prefix ? 0xffffffffu >> prefix : 0xffffffffu) };
		attr(&r, IFA_BROADCAST, &brd, 4);
	}
	int err = nl_talk(nl, &r, NULL);
	return err == -EEXIST ? 0 : err;
}

static int add_default_route(int nl, int index, struct in_addr gw)
{
	struct req r;
	struct rtmsg *rt = req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	attr(&r, RTA_GATEWAY, &gw, 4);
	attr_u32(&r, RTA_OIF, index);
	return nl_talk(nl, &r, NULL);
}

/* hairpin on a bridge port: RTM_SETLINK, AF_BRIDGE, IFLA_PROTINFO { IFLA_BRPORT_MODE } */
static int set_hairpin(int nl, int index)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_SETLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_BRIDGE;
	ifi->ifi_index = index;
	struct rtattr *p = attr(&r, IFLA_PROTINFO | NLA_F_NESTED, NULL, 0);
	unsigned char on = 1;
	attr(&r, IFLA_BRPORT_MODE, &on, 1);
	nest_end(&r, p);
	return nl_talk(nl, &r, NULL);
}

/* does `index` carry ip/prefix? (RTM_GETADDR dump) */
static int has_addr(int nl, int index, struct in_addr ip, int prefix)
{
	struct req r;
	struct ifaddrmsg *ifa = req_init(&r, RTM_GETADDR, NLM_F_DUMP, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	r.n.nlmsg_flags &= ~NLM_F_ACK;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	r.n.nlmsg_seq = 0x7fff0000;
	if (sendto(nl, &r.n, r.n.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	char buf[16384];
	int found = 0;
	for (;;) {
		ssize_t len = recv(nl, buf, sizeof(buf), 0);
		if (len < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return found;
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			struct ifaddrmsg *m = NLMSG_DATA(h);
			if ((int)m->ifa_index != index || m->ifa_prefixlen != prefix)
				continue;
			int alen = IFA_PAYLOAD(h);
			for (struct rtattr *a = IFA_RTA(m); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == IFA_LOCAL && memcmp(RTA_DATA(a), &ip, 4) == 0)
					found = 1;
		}
	}
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *mac_str(const unsigned char *m)
{
	static char s[4][18];
	static int i;
	i = (i + 1) % 4;
	snprintf(s[i], sizeof(s[i]), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	return s[i];
}

/* a nsfs bind mount sits on another device than its directory */
static int is_mounted(const char *file)
{
	struct stat f, d;
	char dir[4096];
	if (stat(file, &f) < 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s", file);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*(slash == dir ? slash + 1 : slash) = 0;
	return stat(dir, &d) == 0 && f.st_dev != d.st_dev;
}

static void write_file(const char *path, const char *value)
{
	char cur[8] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, cur, sizeof(cur) - 1);
		close(fd);
		if (n > 0 && strncmp(cur, value, strlen(value)) == 0)
			return; /* already set: do not churn sysctls */
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		fail(errno, "writing %s", path);
	close(fd);
}

/* ---- commands ------------------------------------------------------------------------------ */

static void ensure_bridge(int nl, const struct opts *o, struct link *br)
{
	int err = get_link(nl, o->bridge, br);
	if (err == -ENODEV) {
		struct req r;
		struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		attr_str(&r, IFLA_IFNAME, o->bridge);
		if (o->mtu)
			attr_u32(&r, IFLA_MTU, o->mtu);
		struct rtattr *li = nest(&r, IFLA_LINKINFO);
		attr_str(&r, IFLA_INFO_KIND, "bridge");
		nest_end(&r, li);
		err = nl_talk(nl, &r, NULL);
		if (err && err != -EEXIST) /* EEXIST: a concurrent setup made it first */
			fail(-err, "creating bridge %s", o->bridge);
		err = get_link(nl, o->bridge, br);
	}
	if (err)
		fail(-err, "looking up bridge %s", o->bridge);
	char sys[300];
	snprintf(sys, sizeof(sys), "/sys/class/net/%s/bridge", o->bridge);
	if (access(sys, F_OK) != 0)
		fail(0, "%s exists and is not a bridge", o->bridge);
	if ((err = add_addr(nl, br->index, o->gateway, o->prefix)))
		fail(-err, "adding gateway address to bridge %s", o->bridge);
	if (!(br->flags & IFF_UP) && (err = set_link(nl, br->index, IFF_UP, IFF_UP, 0)))
		fail(-err, "setting bridge %s up", o->bridge);
}

/* The add is done (nothing of it is undone from here): a failure is a warning, the caller checks FILE. */
static void make_spare(const char *file)
{
	if (is_mounted(file)) {
		fprintf(stderr, "berth-netns: spare %s: already a namespace\n", file);
		return;
	}
	int fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
	if (fd < 0 || close(fd) < 0 || unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", file, "none", MS_BIND, NULL) < 0) {
		fprintf(stderr, "berth-netns: spare %s: %s\n", file, strerror(errno));
		unlink(file);
	}
}

static int cmd_add(const struct opts *o)
{
	if (!o->bridge || !o->host_veth || !o->gateway.s_addr || !o->address.s_addr || o->prefix <= 0 || o->prefix > 30)
		fail(0, "add needs --netns --bridge --gateway --address --prefix (1-30) --host-veth");
	int host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0)
		fail(errno, "opening the host network namespace");
	made.netns_file = o->netns;
	made.veth = o->host_veth;

	/* into the pod's namespace: a new one bind-mounted on the file, or the caller's */
	if (o->create) {
		if (is_mounted(o->netns))
			fail(EEXIST, "creating network namespace %s", o->netns);
		int fd = open(o->netns, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
		if (fd < 0)
			fail(errno, "creating %s", o->netns);
		close(fd);
		made.file_made = 1;
		if (unshare(CLONE_NEWNET) < 0)
			fail(errno, "unshare(CLONE_NEWNET)");
		if (mount("/proc/self/ns/net", o->netns, "none", MS_BIND, NULL) < 0)
			fail(errno, "bind-mounting the network namespace on %s", o->netns);
		made.mounted = 1;
	} else {
		int fd = open(o->netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(errno, "opening network namespace %s", o->netns);
		if (setns(fd, CLONE_NEWNET) < 0)
			fail(errno, "entering network namespace %s", o->netns);
		close(fd);
	}
	int pod_nl = nl_open();
	int pod_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (pod_ns < 0)
		fail(errno, "opening the pod network namespace");
	struct link lo, br, host, pod;
	int err = get_link(pod_nl, "lo", &lo);
	if (err || (err = set_link(pod_nl, lo.index, IFF_UP, IFF_UP, 0)))
		fail(-err, "setting lo up");

	if (setns(host_ns, CLONE_NEWNET) < 0)
		fail(errno, "returning to the host network namespace");
	int nl = made.host_nl = nl_open();
	ensure_bridge(nl, o, &br);
	write_file("/proc/sys/net/ipv4/ip_forward", "1"); /* isGateway: the bridge plugin does it too */

	/* the pair, its peer born inside the pod namespace under its final name */
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	attr_str(&r, IFLA_IFNAME, o->host_veth);
	if (o->mtu)
		attr_u32(&r, IFLA_MTU, o->mtu);
	struct rtattr *li = nest(&r, IFLA_LINKINFO);
	attr_str(&r, IFLA_INFO_KIND, "veth");
	struct rtattr *data = nest(&r, IFLA_INFO_DATA);
	struct rtattr *peer = nest(&r, VETH_INFO_PEER);
	struct ifinfomsg pifi = { .ifi_family = AF_UNSPEC };
	/* the peer's ifinfomsg is raw payload of VETH_INFO_PEER, followed by its attributes */
	memcpy((char *)&r.n + r.n.nlmsg_len, &pifi, sizeof(pifi));
	r.n.nlmsg_len += NLMSG_ALIGN(sizeof(pifi));
	attr_str(&r, IFLA_IFNAME, o->ifname);
	attr_u32(&r, IFLA_NET_NS_FD, pod_ns);
	if (o->mtu)
		attr_u32(&r, IFLA_MTU, o->mtu);
	nest_end(&r, peer);
	nest_end(&r, data);
	nest_end(&r, li);
	if ((err = nl_talk(nl, &r, NULL)))
		fail(-err, "creating veth pair %s/%s", o->host_veth, o->ifname);
	made.veth_made = 1;

	if ((err = get_link(nl, o->host_veth, &host)))
		fail(-err, "looking up %s", o->host_veth);
	if ((err = set_link(nl, host.index, IFF_UP, IFF_UP, br.index)))
		fail(-err, "attaching %s to bridge %s", o->host_veth, o->bridge);
	if (o->hairpin && (err = set_hairpin(nl, host.index)))
		fail(-err, "setting hairpin mode on %s", o->host_veth);

	/* inside: address, up, then the default route (the kernel wants the link up for a gateway) */
	if ((err = get_link(pod_nl, o->ifname, &pod)))
		fail(-err, "looking up %s in the namespace", o->ifname);
	if ((err = add_addr(pod_nl, pod.index, o->address, o->prefix)))
		fail(-err, "adding %s/%d to %s", inet_ntoa(o->address), o->prefix, o->ifname);
	if ((err = set_link(pod_nl, pod.index, IFF_UP, IFF_UP, 0)))
		fail(-err, "setting %s up", o->ifname);
	if ((err = add_default_route(pod_nl, pod.index, o->gateway)))
		fail(-err, "adding the default route via %s", inet_ntoa(o->gateway));

	/* the bridge takes its MAC from its ports until one is set: read it now it has one */
	if ((err = get_link(nl, o->bridge, &br)))
		fail(-err, "looking up bridge %s", o->bridge);
	printf("{\"bridgeMac\":\"%s\",\"hostMac\":\"%s\",\"mac\":\"%s\"}\n", mac_str(br.mac), mac_str(host.mac), mac_str(pod.mac));
	if (fflush(stdout) != 0)
		fail(errno, "writing the result");
	if (o->spare)
		make_spare(o->spare);
	return 0;
}

static int cmd_del(const struct opts *o)
{
	if (o->host_veth) {
		int nl = nl_open();
		del_link(nl, o->host_veth);
		close(nl);
	}
	if (o->keep_netns)
		return 0;
	if (umount2(o->netns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		fail(errno, "unmounting %s", o->netns);
	if (unlink(o->netns) < 0 && errno != ENOENT)
		fail(errno, "removing %s", o->netns);
	return 0;
}

static int cmd_check(const struct opts *o)
{
	if (!o->bridge || !o->host_veth || !o->address.s_addr || !o->prefix)
		fail(0, "check needs --netns --bridge --address --prefix --host-veth");
	struct link br, host, pod;
	int nl = nl_open(), err;
	if ((err = get_link(nl, o->bridge, &br)))
		fail(-err, "bridge %s", o->bridge);
	if ((err = get_link(nl, o->host_veth, &host)))
		fail(-err, "host interface %s", o->host_veth);
	if (host.master != br.index)
		fail(0, "host interface %s is not attached to bridge %s", o->host_veth, o->bridge);
	int fd = open(o->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		fail(errno, "entering network namespace %s", o->netns);
	int pod_nl = nl_open();
	if ((err = get_link(pod_nl, o->ifname, &pod)))
		fail(-err, "interface %s in %s", o->ifname, o->netns);
	if (!(pod.flags & IFF_UP))
		fail(0, "interface %s in %s is down", o->ifname, o->netns);
	err = has_addr(pod_nl, pod.index, o->address, o->prefix);
	if (err < 0)
		fail(-err, "listing addresses in %s", o->netns);
	if (!err)
		fail(0, "interface %s in %s lacks %s/%d", o->ifname, o->netns, inet_ntoa(o->address), o->prefix);
	return 0;
}

static void parse_ip(const char *s, struct in_addr *out, const char *what)
{
	if (inet_pton(AF_INET, s, out) != 1)
		fail(0, "%s %s is not an IPv4 address", what, s);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "netns", required_argument, NULL, 'n' },   { "create", no_argument, NULL, 'c' },
		{ "bridge", required_argument, NULL, 'b' },  { "gateway", required_argument, NULL, 'g' },
		{ "address", required_argument, NULL, 'a' }, { "prefix", required_argument, NULL, 'p' },
		{ "host-veth", required_argument, NULL, 'v' }, { "ifname", required_argument, NULL, 'i' },
		{ "mtu", required_argument, NULL, 'm' },     { "hairpin", no_argument, NULL, 'h' },
		{ "keep-netns", no_argument, NULL, 'k' },    { "spare", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .ifname = "eth0" };
	if (argc < 2)
		fail(0, "usage: berth-netns add|del|check --netns FILE ...");
	const char *cmd = argv[1];
	optind = 2;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.netns = optarg; break;
		case 'c': o.create = 1; break;
		case 'b': o.bridge = optarg; break;
		case 'g': parse_ip(optarg, &o.gateway, "--gateway"); break;
		case 'a': parse_ip(optarg, &o.address, "--address"); break;
		case 'p': o.prefix = atoi(optarg); break;
		case 'v': o.host_veth = optarg; break;
		case 'i': o.ifname = optarg; break;
		case 'm': o.mtu = atoi(optarg); break;
		case 'h': o.hairpin = 1; break;
		case 'k': o.keep_netns = 1; break;
		case 's': o.spare = optarg; break;
		default: fail(0, "unknown option");
		}
	}
	if (!o.netns || o.netns[0] != '/')
		fail(0, "--netns needs an absolute path");
	if (o.spare && o.spare[0] != '/')
		fail(0, "--spare needs an absolute path");
	const char *names[] = { o.bridge, o.host_veth, o.ifname };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] && (!names[i][0] || strlen(names[i]) >= IFNAMSIZ || strchr(names[i], '/')))
			fail(0, "interface name \"%s\" must be 1-%d characters without '/'", names[i], IFNAMSIZ - 1);
	if (!strcmp(cmd, "add"))
		return cmd_add(&o);
	if (!strcmp(cmd, "del"))
		return cmd_del(&o);
	if (!strcmp(cmd, "check"))
		return cmd_check(&o);
	fail(0, "unknown command %s (add, del, check)", cmd);
}
