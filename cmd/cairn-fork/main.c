/*
 * cairn-fork: the helper program cairnd spawns to start a container, run a command in one, and
 * dump or restore one with CRIU, outside the multithreaded daemon. Not meant to be run by hand;
 * the command lines are in instance/fork.h.
 */
#include "instance/fork.h"

int main(int argc, char **argv)
{
	return instance_fork_main(argc, argv);
}
