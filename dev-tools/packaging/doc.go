// Package packaging builds spawnbeat's distributions: a .deb, an .rpm and a
// tar.gz for each architecture, named as Beats name theirs, each with a
// .sha512 beside it. The .deb and .rpm are written by goreleaser's nfpm;
// the tar.gz by archive/tar.
//
// Every package holds the layout Beats users know: the binary in
// /usr/share/spawnbeat/bin, /usr/bin/spawnbeat running it with the
// package's --path.* flags, the configuration in /etc/spawnbeat (the
// repository's spawnbeat.yml, the one the binary embeds, as a conffile),
// rules.d for the user's rules, the data and log folders and a hardened
// systemd unit. The files that are not built (the unit, the maintainer
// scripts, the wrapper, copyright, changelog, lintian overrides, the
// environment file) live in files/, embedded here.
//
// magefile.go's Package target calls Build; the package's tests build,
// inspect, install and upgrade the packages with the distributions' tools.
package packaging
