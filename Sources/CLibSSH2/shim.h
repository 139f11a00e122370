#include <libssh2.h>
#include <libssh2_sftp.h>
#include <string.h>
/* Swift does not import function-like macros: re-export the ones labctl needs. */
static inline LIBSSH2_SESSION *cssh2_session_init(void) { return libssh2_session_init_ex(NULL, NULL, NULL, NULL); }
static inline LIBSSH2_CHANNEL *cssh2_channel_open_session(LIBSSH2_SESSION *s) { return libssh2_channel_open_session(s); }
static inline int cssh2_channel_exec(LIBSSH2_CHANNEL *c, const char *cmd) { return libssh2_channel_exec(c, cmd); }
static inline ssize_t cssh2_channel_read(LIBSSH2_CHANNEL *c, char *b, size_t n) { return libssh2_channel_read(c, b, n); }
static inline ssize_t cssh2_channel_read_stderr(LIBSSH2_CHANNEL *c, char *b, size_t n) { return libssh2_channel_read_stderr(c, b, n); }
static inline int cssh2_session_disconnect(LIBSSH2_SESSION *s, const char *why) { return libssh2_session_disconnect(s, why); }
static inline const char *cssh2_header_version(void) { return LIBSSH2_VERSION; }
