// Package config owns spawnbeat's settings file: loading it from YAML
// (go-ucfg) with ${KEY} from the keystore or the environment and -E
// overrides, the strict-permissions check, unknown-key detection, and
// validation that reports every problem at once, each with its file, line
// and key. It types and checks the sections it owns (spawnbeat.*, logging,
// path, http, name, max_procs).
//
// The outputs (output.<name>), the queue types (queue.<type>) and the setup
// sections own their settings, as libbeat's do: the beater hands Load an
// Owners listing each one's key, settings struct and Unpack, and config
// checks that exactly one output is enabled and at most one queue type is
// configured, runs each owner's Unpack so that its problems are reported
// with their file and line, and hands the sections on as given
// (Config.Output, Config.Queue, Config.Section) for the owner to read
// again where it is used. config imports none of them, so adding an output
// touches only the output's package and the line that registers it.
//
// It hands parsed values on and never changes running state.
package config
