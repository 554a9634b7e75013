#include "cmd/cairn/cli.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/util.h"

/*
 * The words of generated instance names, in the adjective-noun style Incus uses ("wise-lark").
 * Short, lower-case ASCII, so every pair is a valid instance name and a valid hostname.
 */
static const char *const adjectives[] = {
    "able",  "bold",  "brave", "brisk", "calm",	 "clear", "cool",  "crisp", "eager",  "fair",
    "fine",  "fond",  "glad",  "grand", "happy", "hardy", "keen",  "kind",  "lively", "loyal",
    "lucid", "merry", "mild",  "neat",	"noble", "plain", "proud", "quick", "quiet",  "rapid",
    "ready", "sharp", "shy",   "smart", "snowy", "solid", "sound", "spry",  "steady", "still",
    "sunny", "swift", "tidy",  "true",	"vast",	 "vivid", "warm",  "wise",  "witty",  "young",
};

static const char *const nouns[] = {
    "badger", "bass",	"bear",	 "bison", "crane",  "crow",   "deer",  "dove",	"eagle", "egret",
    "falcon", "ferret", "finch", "fox",	  "gecko",  "goose",  "hare",  "hawk",	"heron", "ibis",
    "jay",    "koala",	"lark",	 "lemur", "lynx",   "marten", "mole",  "moose", "newt",	 "otter",
    "owl",    "panda",	"perch", "pika",  "puffin", "quail",  "raven", "robin", "seal",	 "shrew",
    "skink",  "sloth",	"snipe", "stoat", "swan",   "tern",   "toad",  "trout", "vole",	 "wren",
};

#define NADJ (sizeof(adjectives) / sizeof(adjectives[0]))
#define NNOUN (sizeof(nouns) / sizeof(nouns[0]))

size_t cli_generated_name_count(void)
{
	return NADJ * NNOUN;
}

char *cli_generated_name(uint32_t n)
{
	n %= (uint32_t)(NADJ * NNOUN);
	return str_printf("%s-%s", adjectives[n / NNOUN], nouns[n % NNOUN]);
}
