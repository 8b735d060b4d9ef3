//go:build !linux

package nodeapi

import "errors"

// newInotifyWaiter fails: inotify is Linux's.
func newInotifyWaiter(string) (logWaiter, error) {
	return nil, errors.New("nodeapi: inotify is not available on this system")
}
