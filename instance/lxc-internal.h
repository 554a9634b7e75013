#pragma once

/* Private helpers of instance/: the liblxc container handle under the cleanup convention. */

#include <lxc/lxccontainer.h>

static inline void lxc_container_putp(struct lxc_container **c)
{
	if (*c)
		lxc_container_put(*c);
	*c = NULL;
}

#define _cleanup_lxc_container_ __attribute__((cleanup(lxc_container_putp)))
