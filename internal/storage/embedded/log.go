package embedded

import (
	"os"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func newStderrLogger() *zap.Logger {
	encoder := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(os.Stderr), zapcore.ErrorLevel))
}

// closeNoise are the errors etcd logs when Close shuts its listeners: the
// accept loops see the listener go away and report it.
var closeNoise = []string{
	"use of closed network connection",
	"mux: server closed",
	"mux: listener closed",
	"http: Server closed",
	"grpc: the server has been stopped",
}

// storageVersionNoise is what etcd logs when, just after a fresh start, it
// tries to record the storage version before the backend has committed
// the raft term; it retries a few seconds later and succeeds.
const (
	storageVersionMessage = "failed to update storage version"
	storageVersionNoise   = "missing term information"
)

// quietOnClose wraps a core so that, once closing is set, entries that only
// report listeners closing are dropped.
func quietOnClose(closing *atomic.Bool) func(zapcore.Core) zapcore.Core {
	return func(core zapcore.Core) zapcore.Core {
		return &quietCore{Core: core, closing: closing}
	}
}

type quietCore struct {
	zapcore.Core
	closing *atomic.Bool
}

func (c *quietCore) With(fields []zapcore.Field) zapcore.Core {
	return &quietCore{Core: c.Core.With(fields), closing: c.closing}
}

func (c *quietCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.Enabled(entry.Level) {
		return checked
	}
	return checked.AddCore(entry, c)
}

func (c *quietCore) Write(entry zapcore.Entry, fields []zapcore.Field) error {
	if entry.Message == storageVersionMessage && mentions(fields, storageVersionNoise) {
		return nil
	}
	if c.closing.Load() && mentions(fields, closeNoise...) {
		return nil
	}
	return c.Core.Write(entry, fields)
}

// mentions reports whether an error or string field contains one of texts.
func mentions(fields []zapcore.Field, texts ...string) bool {
	for _, f := range fields {
		var value string
		if err, ok := f.Interface.(error); ok {
			value = err.Error()
		} else if f.Type == zapcore.StringType {
			value = f.String
		}
		for _, text := range texts {
			if value != "" && strings.Contains(value, text) {
				return true
			}
		}
	}
	return false
}
