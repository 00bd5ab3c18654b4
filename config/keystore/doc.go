// Package keystore owns spawnbeat's secrets keystore: a file under path.data
// (spawnbeat.keystore) that maps key names to secret values, so that the
// configuration can say ${ES_PWD} instead of the password.
//
// The format follows Beats' file keystore in spirit: a versioned header, then
// the secrets as JSON sealed with AES-256-GCM under a key derived by
// PBKDF2-HMAC-SHA512 from a password and a random salt. As in Beats the
// password is empty, so the encryption only obfuscates the secrets at rest:
// anyone who can read the file can read them. What protects them is the
// file's mode (0600, refused when group or others can read it) and its
// directory's. The file is replaced atomically (a temporary file in the same
// directory, fsync, rename, fsync of the directory), so a crash leaves the
// old keystore or the new one, never half of one.
package keystore
