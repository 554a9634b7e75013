#include "instance/image.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/util.h"

extern char **environ;

#define DEFAULT_BUSYBOX "/bin/busybox"
#define CAPTURE_MAX (1024 * 1024)

/*
 * busybox init runs these in order. /proc, /sys and /dev come from LXC (lxc.mount.auto,
 * lxc.autodev). No `hostname -F /etc/hostname`: LXC already set lxc.uts.name (the instance's
 * name), and the generic name in the image would replace it. The other way round instead:
 * /etc/hostname is written from it at every boot, so that it follows the instance's name through
 * create, copy and rename, as the hostname templates of Incus images do. SIGUSR1
 * (lxc.signal.halt) makes init run the shutdown actions and halt, which ends the container.
 */
static const char inittab[] = "::sysinit:/bin/mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run\n"
			      "::sysinit:/bin/mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp\n"
			      "::sysinit:/bin/sh -c '/bin/hostname > /etc/hostname'\n"
			      "::sysinit:/etc/init.d/network\n"
			      "console::respawn:-/bin/sh\n"
			      "::ctrlaltdel:/sbin/halt\n"
			      "::shutdown:/bin/umount -a -r\n";

/*
 * DHCP at boot on every interface the container has but lo (cairn's nics), as a distribution
 * image does: udhcpc runs on in the background and renews its lease; its hook (below) puts the
 * address, the default route and the DNS servers in place. The name it sends is the instance's,
 * which the network's dnsmasq also knows from its hosts file.
 */
static const char network_init[] =
    "#!/bin/sh\n"
    "for dev in /sys/class/net/*; do\n"
    "\tname=${dev##*/}\n"
    "\t[ \"$name\" = lo ] || [ ! -e \"$dev\" ] && continue\n"
    "\tudhcpc -f -i \"$name\" -s /usr/share/udhcpc/default.script -x \"hostname:$(hostname)\" "
    ">/dev/null 2>&1 &\n"
    "done\n"
    "exit 0\n";

/* udhcpc's hook. A renewal that keeps the address leaves the interface alone, so that open
 * connections never see it go. */
static const char udhcpc_script[] =
    "#!/bin/sh\n"
    "case \"$1\" in\n"
    "deconfig)\n"
    "\tip -4 addr flush dev \"$interface\"\n"
    "\t;;\n"
    "bound|renew)\n"
    "\tif ! ip -4 addr show dev \"$interface\" | grep -q \" $ip/\"; then\n"
    "\t\tip -4 addr flush dev \"$interface\"\n"
    "\t\tip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n"
    "\tfi\n"
    "\t[ -n \"$router\" ] && ip route replace default via \"${router%% *}\" dev \"$interface\"\n"
    "\t{\n"
    "\t\t[ -n \"$domain\" ] && echo \"search $domain\"\n"
    "\t\tfor s in $dns; do echo \"nameserver $s\"; done\n"
    "\t} >/etc/resolv.conf\n"
    "\t;;\n"
    "esac\n"
    "exit 0\n";

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char group[] = "root:x:0:\n"
			    "nogroup:x:65534:\n";
/* No root password: the console and `cairn exec` are the ways in, as in Incus images. */
static const char shadow[] = "root::19000:0:99999:7:::\n"
			     "nobody:*:19000:0:99999:7:::\n";
static const char profile[] = "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
			      "export HOME=${HOME:-/root}\n"
			      "export PS1='\\u@\\h:\\w\\$ '\n";

/*
 * Reads the ELF program headers of `fd`: 1 when there is no PT_INTERP (static, runs in a rootfs
 * that has no libc), 0 when there is one, -ENOEXEC when it is not an ELF file of this host.
 */
static int elf_is_static(int fd)
{
	unsigned char ident[EI_NIDENT];
	uint64_t phoff;
	uint16_t phnum, phentsize;

	if (pread(fd, ident, sizeof(ident), 0) != (ssize_t)sizeof(ident) ||
	    memcmp(ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (ident[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
#else
	if (ident[EI_DATA] != ELFDATA2MSB)
		return -ENOEXEC;
#endif
	if (ident[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
			return -ENOEXEC;
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		if (phentsize < sizeof(Elf64_Phdr))
			return -ENOEXEC;
	} else if (ident[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
			return -ENOEXEC;
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		if (phentsize < sizeof(Elf32_Phdr))
			return -ENOEXEC;
	} else {
		return -ENOEXEC;
	}

	for (uint16_t i = 0; i < phnum; i++) {
		uint32_t type; /* p_type is the first field in both classes */

		if (pread(fd, &type, sizeof(type), (off_t)(phoff + (uint64_t)i * phentsize)) !=
		    (ssize_t)sizeof(type))
			return -ENOEXEC;
		if (type == PT_INTERP)
			return 0;
	}
	return 1;
}

/* Runs argv[0] with stdin and stderr on /dev/null and returns its stdout (caller frees). */
static int spawn_capture(char *const argv[], char **ret, struct err **err)
{
	_cleanup_close_ int rfd = -EBADF;
	_cleanup_close_ int wfd = -EBADF;
	_cleanup_free_ char *out = NULL;
	posix_spawn_file_actions_t fa;
	size_t len = 0, cap = 0;
	int pipefd[2];
	int status, r;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return err_set_errno(err, -errno, "Failed to create a pipe");
	rfd = pipefd[0];
	wfd = pipefd[1];

	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run \"%s\"", argv[0]);
	r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, wfd, STDOUT_FILENO);
	if (r == 0)
		r = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	if (r == 0)
		r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return err_set_errno(err, -r, "Failed to run \"%s\"", argv[0]);
	closep(&wfd);

	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *grown;

			if (cap >= CAPTURE_MAX)
				break;
			grown = realloc(out, cap ? cap * 2 : 16384);
			if (!grown)
				break;
			out = grown;
			cap = cap ? cap * 2 : 16384;
		}
		n = read(rfd, out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	closep(&rfd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set_errno(err, -errno, "Failed to wait for \"%s\"", argv[0]);
	if (!out)
		return err_set(err, -ENOMEM, "Out of memory");
	out[len] = '\0';
	*ret = steal_pointer(&out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The version from busybox's banner, "BusyBox v1.35.0 (Debian ...) multi-call binary." */
static char *busybox_version(const char *busybox)
{
	_cleanup_free_ char *out = NULL;
	char *const argv[] = {(char *)busybox, NULL};
	const char *p;
	size_t n;

	if (spawn_capture(argv, &out, NULL) < 0)
		return strdup("unknown");
	p = strstr(out, "BusyBox v");
	if (!p)
		return strdup("unknown");
	p += strlen("BusyBox v");
	n = strcspn(p, " \n\t");
	if (n == 0)
		return strdup("unknown");
	return strndup(p, n);
}

static int make_dir(const char *rootfs, const char *rel, mode_t mode, struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/%s", rootfs, rel);

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", path);
	/* The umask must not trim /tmp's sticky 1777. */
	if (chmod(path, mode) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", path);
	return 0;
}

static int write_file(const char *rootfs, const char *rel, const char *content, mode_t mode,
		      struct err **err)
{
	_cleanup_free_ char *path = str_printf("%s/%s", rootfs, rel);
	_cleanup_close_ int fd = -EBADF;
	size_t len = strlen(content);
	const char *p = content;

	if (!path)
		return err_set(err, -ENOMEM, "Out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", path);
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to write \"%s\"", path);
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", path);
	return 0;
}

static int copy_binary(int src, const char *dst_path, struct err **err)
{
	_cleanup_close_ int dst = -EBADF;
	char buf[65536];
	off_t off = 0;

	dst = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
	if (dst < 0)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", dst_path);
	for (;;) {
		ssize_t n = pread(src, buf, sizeof(buf), off);
		const char *p = buf;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set_errno(err, -errno, "Failed to read busybox");
		if (n == 0)
			break;
		off += n;
		while (n > 0) {
			ssize_t w = write(dst, p, (size_t)n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return err_set_errno(err, -errno, "Failed to write \"%s\"",
						     dst_path);
			p += w;
			n -= w;
		}
	}
	if (fchmod(dst, 0755) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", dst_path);
	return 0;
}

/* One applet link from `busybox --list-full` ("usr/bin/[") to /bin/busybox. */
static int link_applet(const char *rootfs, const char *rel, struct err **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *parent = NULL;
	int r;

	/* The list comes from the binary we are told to use: still, nothing leaves the rootfs. */
	if (!*rel || rel[0] == '/' || strstr(rel, "..") || strcmp(rel, "bin/busybox") == 0)
		return 0;
	path = str_printf("%s/%s", rootfs, rel);
	parent = path ? strdup(path) : NULL;
	if (!parent)
		return err_set(err, -ENOMEM, "Out of memory");
	r = mkdir_p(dirname(parent), 0755, err);
	if (r < 0)
		return r;
	if (symlink("/bin/busybox", path) < 0 && errno != EEXIST)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", path);
	return 0;
}

static char *metadata_yaml(const char *version)
{
	struct utsname u;

	if (uname(&u) < 0)
		return NULL;
	return str_printf("architecture: %s\n"
			  "creation_date: %" PRId64 "\n"
			  "properties:\n"
			  "  description: \"busybox %s\"\n"
			  "  os: busybox\n"
			  "  release: \"%s\"\n",
			  u.machine, time_now(), version, version);
}

int instance_image_build_busybox(const char *dir, const char *busybox_path, struct err **err)
{
	static const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
	    {"bin", 0755},
	    {"sbin", 0755},
	    {"usr", 0755},
	    {"usr/bin", 0755},
	    {"usr/sbin", 0755},
	    {"etc", 0755},
	    {"root", 0700},
	    {"tmp", 01777},
	    {"run", 0755},
	    {"proc", 0555},
	    {"sys", 0555},
	    {"dev", 0755},
	    {"var", 0755},
	    {"var/log", 0755},
	    {"home", 0755},
	    {"mnt", 0755},
	    {"etc/init.d", 0755},
	    {"usr/share", 0755},
	    {"usr/share/udhcpc", 0755},
	};
	const char *busybox = busybox_path ? busybox_path : DEFAULT_BUSYBOX;
	_cleanup_close_ int src = -EBADF;
	_cleanup_free_ char *rootfs = NULL;
	_cleanup_free_ char *dst = NULL;
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char *version = NULL;
	_cleanup_free_ char *os_release = NULL;
	_cleanup_free_ char *metadata = NULL;
	char *const list_argv[] = {(char *)busybox, (char *)"--list-full", NULL};
	char *line, *save = NULL;
	struct stat st;
	int r;

	src = open(busybox, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		if (errno == ENOENT)
			return err_set(err, -ENOENT,
				       "No static busybox at \"%s\" (install busybox-static)",
				       busybox);
		return err_set_errno(err, -errno, "Failed to open \"%s\"", busybox);
	}
	if (fstat(src, &st) < 0)
		return err_set_errno(err, -errno, "Failed to stat \"%s\"", busybox);
	if (!S_ISREG(st.st_mode))
		return err_set(err, -ENOEXEC, "\"%s\" is not a busybox binary", busybox);
	r = elf_is_static(src);
	if (r < 0)
		return err_set(err, -ENOEXEC, "\"%s\" is not an executable of this host", busybox);
	if (r == 0)
		return err_set(err, -ENOEXEC,
			       "\"%s\" is dynamically linked; the image needs a static busybox "
			       "(install busybox-static)",
			       busybox);

	rootfs = str_printf("%s/rootfs", dir);
	if (!rootfs)
		return err_set(err, -ENOMEM, "Out of memory");
	if (mkdir(rootfs, 0755) < 0)
		return err_set_errno(err, -errno, "Failed to create \"%s\"", rootfs);
	if (chmod(rootfs, 0755) < 0)
		return err_set_errno(err, -errno, "Failed to set the mode of \"%s\"", rootfs);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		r = make_dir(rootfs, dirs[i].path, dirs[i].mode, err);
		if (r < 0)
			return r;
	}

	dst = str_printf("%s/bin/busybox", rootfs);
	if (!dst)
		return err_set(err, -ENOMEM, "Out of memory");
	r = copy_binary(src, dst, err);
	if (r < 0)
		return r;

	r = spawn_capture(list_argv, &list, err);
	if (r < 0)
		return r;
	if (r != 0)
		return err_set(err, -EIO, "\"%s --list-full\" failed with status %d", busybox, r);
	for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		r = link_applet(rootfs, line, err);
		if (r < 0)
			return r;
	}
	/* init is what LXC runs (lxc.init.cmd): it must be there even if the list lacked it. */
	r = link_applet(rootfs, "sbin/init", err);
	if (r < 0)
		return r;

	version = busybox_version(busybox);
	if (!version)
		return err_set(err, -ENOMEM, "Out of memory");
	os_release = str_printf("NAME=\"BusyBox\"\nID=busybox\nVERSION_ID=\"%s\"\n"
				"PRETTY_NAME=\"BusyBox %s\"\n",
				version, version);
	if (!os_release)
		return err_set(err, -ENOMEM, "Out of memory");
	if ((r = write_file(rootfs, "etc/inittab", inittab, 0644, err)) < 0 ||
	    (r = write_file(rootfs, "etc/passwd", passwd, 0644, err)) < 0 ||
	    (r = write_file(rootfs, "etc/group", group, 0644, err)) < 0 ||
	    (r = write_file(rootfs, "etc/shadow", shadow, 0600, err)) < 0 ||
	    (r = write_file(rootfs, "etc/hostname", "busybox\n", 0644, err)) < 0 ||
	    (r = write_file(rootfs, "etc/profile", profile, 0644, err)) < 0 ||
	    (r = write_file(rootfs, "etc/os-release", os_release, 0644, err)) < 0 ||
	    (r = write_file(rootfs, "etc/init.d/network", network_init, 0755, err)) < 0 ||
	    (r = write_file(rootfs, "usr/share/udhcpc/default.script", udhcpc_script, 0755, err)) <
		0)
		return r;

	metadata = metadata_yaml(version);
	if (!metadata)
		return err_set(err, -ENOMEM, "Out of memory");
	return write_file(dir, "metadata.yaml", metadata, 0644, err);
}
