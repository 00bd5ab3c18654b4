package elasticsearch

import "strings"

// redactURL hides the password in a URL's user information, for error
// messages about a setting that may not even parse as a URL:
// "https://elastic:pw@es:9200" becomes "https://elastic:xxxxx@es:9200". The
// password may have come from the keystore. A path with an "@" in it may be
// redacted too: a message that hides too much is the safe side.
func redactURL(s string) string {
	prefix, rest, ok := strings.Cut(s, "://")
	if ok {
		prefix += "://"
	} else {
		prefix, rest = "", s
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return prefix + user + ":xxxxx" + rest[at:]
}
