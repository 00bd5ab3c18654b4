package pipeline

import (
	"fmt"

	"github.com/elastic/go-ucfg"
	"go.uber.org/zap"

	"github.com/spawnbeat/spawnbeat/config"
)

// QueueType is a queue events can wait in, as it registers: its name and
// settings (queue.<name>, a config.Section) and how it opens. The config
// package knows of a queue type only its name and its settings' schema; it
// checks that at most one is configured and hands its settings on as given.
type QueueType struct {
	Settings config.Section
	open     func(raw *ucfg.Config, dataDir string, log *zap.Logger) (Queue, FlushConfig, error)
}

// MemQueueType is queue.mem: the memory queue.
func MemQueueType() QueueType {
	return newQueueType(QueueMem, UnpackMem, func(c MemConfig, _ string, log *zap.Logger) (Queue, FlushConfig, error) {
		q, err := NewMemQueue(c, log)
		if err != nil {
			return nil, FlushConfig{}, err
		}
		return q, c.Flush, nil
	})
}

// DiskQueueType is queue.disk: the disk queue, under path.data unless
// queue.disk.path says otherwise.
func DiskQueueType() QueueType {
	return newQueueType(QueueDisk, UnpackDisk, func(c DiskConfig, dataDir string, log *zap.Logger) (Queue, FlushConfig, error) {
		q, err := OpenDisk(c, dataDir, log)
		if err != nil {
			return nil, FlushConfig{}, err
		}
		return q, c.Flush, nil
	})
}

func newQueueType[T any](name string, unpack func(*ucfg.Config) (T, error), open func(T, string, *zap.Logger) (Queue, FlushConfig, error)) QueueType {
	return QueueType{
		Settings: config.Own(name, unpack),
		open: func(raw *ucfg.Config, dataDir string, log *zap.Logger) (Queue, FlushConfig, error) {
			settings, err := unpack(raw)
			if err != nil {
				return nil, FlushConfig{}, err
			}
			return open(settings, dataDir, log)
		},
	}
}

// QueueTypes is the queue types spawnbeat knows. A plain value.
type QueueTypes []QueueType

// Sections is what config checks: each queue type's name and settings.
func (t QueueTypes) Sections() []config.Section {
	out := make([]config.Section, len(t))
	for i, qt := range t {
		out[i] = qt.Settings
	}
	return out
}

// Open opens the queue ns names with its settings, under dataDir when it
// keeps files, and returns it with its flush settings, which drive the
// delivery loop.
func (t QueueTypes) Open(ns config.Namespace, dataDir string, log *zap.Logger) (Queue, FlushConfig, error) {
	for _, qt := range t {
		if qt.Settings.Key == ns.Name {
			return qt.open(ns.Config, dataDir, log)
		}
	}
	return nil, FlushConfig{}, fmt.Errorf("open queue: %q is not a queue type spawnbeat knows", ns.Name)
}
