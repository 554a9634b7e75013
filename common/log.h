#pragma once

/*
 * Logging. Only the edges (request handlers, main loops, the helpers' main, the CLI) log errors;
 * library folders return errors and log at debug level only. Messages start with a capital
 * letter, have no final period and quote user-supplied names.
 */

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_MAX,
};

/* The most verbose level that is printed (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Sends log lines to `fd` instead of stderr (helpers log to a file). */
void log_set_fd(int fd);

void log_emit(enum log_level level, const char *file, int line, const char *func, const char *fmt,
	      ...) __attribute__((format(printf, 5, 6)));

#define log_error(...) log_emit(LOG_LEVEL_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Logs at error level and evaluates to `r`, a negative errno or an exit status:
 * `return log_error_return(r, "...")`. */
#define log_error_return(r, ...)                                                                   \
	({                                                                                         \
		log_error(__VA_ARGS__);                                                            \
		(r);                                                                               \
	})
