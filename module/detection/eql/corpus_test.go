package eql_test

import (
	"github.com/spawnbeat/spawnbeat/module/detection/internal/corpus"
	"testing"
)

// corpusRule is one rule file of the shared detection-rules corpus.
type corpusRule = corpus.Rule

func loadCorpus(tb testing.TB) []corpusRule { return corpus.Load(tb) }
