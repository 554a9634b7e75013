#pragma once

/*
 * Scope-bound cleanup through __attribute__((cleanup)). Declare the variable at the top of its
 * scope, always initialised (NULL, or -EBADF for descriptors), and hand ownership out with
 * steal_pointer() / steal_fd().
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <json-c/json.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
	*(void **)p = NULL;
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
	*fd = -EBADF;
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
	*d = NULL;
}

static inline void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
	*o = NULL;
}

/* Frees a NULL-terminated array of strings and the array itself. */
static inline void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static inline void strv_freep(char ***v)
{
	strv_free(*v);
	*v = NULL;
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)
#define _cleanup_json_ _cleanup_(json_putp)
#define _cleanup_strv_ _cleanup_(strv_freep)

/* Returns *pp and sets it to NULL: ownership moves to the caller. */
#define steal_pointer(pp)                                                                          \
	({                                                                                         \
		typeof(*(pp)) _stolen = *(pp);                                                     \
		*(pp) = NULL;                                                                      \
		_stolen;                                                                           \
	})

/* Returns *fdp and sets it to -EBADF. */
#define steal_fd(fdp)                                                                              \
	({                                                                                         \
		int _fd = *(fdp);                                                                  \
		*(fdp) = -EBADF;                                                                   \
		_fd;                                                                               \
	})
