// Package ecs owns spawnbeat's documents: the typed Elastic Common Schema event
// that every stage from the process table to the encoder works on, the alert
// metadata that detection attaches to it, and its JSON encoding.
//
// An Event is owned by one stage at a time; it is not safe for concurrent use.
package ecs
