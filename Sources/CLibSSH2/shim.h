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
/* GuestSSH additions: more function-like macros, and SHA-256 from libcrypto
   (libssh2-1-dev depends on libssl-dev, and libssh2 links libcrypto already). */
#include <openssl/evp.h>
static inline int cssh2_channel_write(LIBSSH2_CHANNEL *c, const char *b, size_t n) { return (int)libssh2_channel_write_ex(c, 0, b, n); }
static inline int cssh2_channel_send_eof(LIBSSH2_CHANNEL *c) { return libssh2_channel_send_eof(c); }
static inline LIBSSH2_SFTP_HANDLE *cssh2_sftp_open(LIBSSH2_SFTP *s, const char *path, unsigned long flags, long mode) {
    return libssh2_sftp_open_ex(s, path, (unsigned int)strlen(path), flags, mode, LIBSSH2_SFTP_OPENFILE);
}
static inline int cssh2_sftp_rename(LIBSSH2_SFTP *s, const char *from, const char *to, long flags) {
    return libssh2_sftp_rename_ex(s, from, (unsigned int)strlen(from), to, (unsigned int)strlen(to), flags);
}
static inline int cssh2_sftp_unlink(LIBSSH2_SFTP *s, const char *path) { return libssh2_sftp_unlink_ex(s, path, (unsigned int)strlen(path)); }
static inline int cssh2_sftp_fchmod(LIBSSH2_SFTP_HANDLE *h, unsigned long mode) {
    LIBSSH2_SFTP_ATTRIBUTES a; memset(&a, 0, sizeof a);
    a.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS; a.permissions = mode;
    return libssh2_sftp_fstat_ex(h, &a, 1);
}
static inline int cssh2_sftp_close(LIBSSH2_SFTP_HANDLE *h) { return libssh2_sftp_close_handle(h); }
static inline int cssh2_userauth_password(LIBSSH2_SESSION *s, const char *user, const char *pw) {
    return libssh2_userauth_password_ex(s, user, (unsigned int)strlen(user), pw, (unsigned int)strlen(pw), NULL);
}
static inline int cssh2_userauth_publickey_fromfile(LIBSSH2_SESSION *s, const char *user, const char *priv, const char *pass) {
    return libssh2_userauth_publickey_fromfile_ex(s, user, (unsigned int)strlen(user), NULL, priv, pass);
}
/* SHA-256 of a buffer into out[32]; returns 1 on success. */
static inline int cssh2_sha256(const void *data, size_t n, unsigned char *out) {
    unsigned int len = 32;
    return EVP_Digest(data, n, out, &len, EVP_sha256(), NULL);
}
#include <openssl/hmac.h>
/* HMAC-SHA1, for OpenSSH's hashed known_hosts names (|1|salt|hash). */
static inline int cssh2_hmac_sha1(const void *key, int keylen, const void *data, size_t n, unsigned char *out) {
    unsigned int len = 20;
    return HMAC(EVP_sha1(), key, keylen, (const unsigned char *)data, n, out, &len) != NULL;
}
