// Package file is the file output: one JSON document a line, appended to
// <path>/<filename>.ndjson and rotated by size to <filename>.ndjson.1 … .N-1.
// It is the embedded default output, so that spawnbeat runs without
// Elasticsearch.
package file
