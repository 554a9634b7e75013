#pragma once

#include <stdbool.h>

/*
 * Crash points for the crash tests. When the environment variable CAIRN_CRASHPOINT names this
 * point, the process writes the point's name to $CAIRN_DIR/crashpoint and stops there for good,
 * so that a test can SIGKILL the daemon at exactly that step and check what the next start
 * finds. Unset (always, outside tests), a crash point costs one getenv().
 */

/* Stops here forever when CAIRN_CRASHPOINT equals `name`. */
void crashpoint(const char *name);

/*
 * For a point where the test decides what happens next rather than killing the process: when
 * CAIRN_CRASHPOINT equals `name`, writes the name to $CAIRN_DIR/crashpoint as crashpoint() does
 * and returns true (the caller then waits for what the test does); false otherwise.
 */
bool crashpoint_reached(const char *name);
