#pragma once

/* The route handlers, one file per API family (api_*.c). See routes.h for the contract. */

#include <json-c/json.h>

struct daemon;
struct err;
struct request;

#define HANDLER(name)                                                                              \
	int name(struct daemon *d, struct request *req, json_object **ret_envelope,                \
		 struct err **err)

HANDLER(handle_root);
HANDLER(handle_server);
HANDLER(handle_operations_list);
HANDLER(handle_operation_get);
HANDLER(handle_operation_wait);
HANDLER(handle_instances_list);
HANDLER(handle_instances_create);
HANDLER(handle_instance_get);
HANDLER(handle_instance_put);
HANDLER(handle_instance_patch);
HANDLER(handle_instance_delete);
HANDLER(handle_instance_state_get);
HANDLER(handle_instance_state_put);
HANDLER(handle_images_list);
HANDLER(handle_images_create);
HANDLER(handle_aliases_list);
HANDLER(handle_aliases_create);
HANDLER(handle_alias_get);
HANDLER(handle_alias_delete);
HANDLER(handle_image_get);
HANDLER(handle_image_delete);
HANDLER(handle_pools_list);
HANDLER(handle_pools_create);
HANDLER(handle_pool_get);
HANDLER(handle_pool_resources);
