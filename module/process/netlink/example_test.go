package netlink_test

import (
	"errors"
	"net"

	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/module/process/netlink"
)

// A capture loop: one goroutine receives, another may Close to stop it.
func Example() {
	log := zap.NewNop()
	c, err := netlink.Open(netlink.Options{Events: netlink.MaskDefault}, log)
	if errors.Is(err, netlink.ErrUnsupported) || errors.Is(err, netlink.ErrPermission) {
		return // fall back to polling /proc, logging err
	}
	if err != nil {
		return
	}
	defer c.Close()
	for {
		events, err := c.Receive()
		switch {
		case errors.Is(err, netlink.ErrLost):
			continue // resync the process table from /proc, then go on
		case errors.Is(err, net.ErrClosed):
			return // Close was called
		case err != nil:
			return
		}
		for i := range events { // valid until the next Receive: copy what you keep
			e := &events[i]
			if e.What == netlink.WhatExec && e.PID == e.TGID {
				_ = c.Clock().Time(e.Timestamp) // @timestamp
			}
		}
	}
}
