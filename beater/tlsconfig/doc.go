// Package tlsconfig owns the ssl.* settings that spawnbeat's clients share
// (output.elasticsearch.ssl and setup.kibana.ssl), as Beats' tlscommon does:
// CA certificates, a client certificate and key (files or inline PEM), the
// verification mode and the protocol versions, turned into a crypto/tls
// client configuration.
package tlsconfig
