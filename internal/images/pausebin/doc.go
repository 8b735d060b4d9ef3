// Package pausebin carries the pause program (images/pause) as static
// binaries embedded in navarch, one per architecture, so the agent can
// build its sandbox image on any machine with nothing but the navarch
// binary.
//
// Why a separate small binary rather than navarch itself as the pause
// process: every pod runs one, and navarch's package initialisation
// (kubectl, API types) costs about 70 MB of resident memory per process,
// against about 2 MB for the pause program.
//
// The binaries are generated, not written: after changing images/pause
// or internal/images/pause, run `go generate ./internal/images/pausebin`
// and commit the result. The package's tests check that each binary is a
// static executable for its architecture and that it runs.
package pausebin

//go:generate sh -c "CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w -buildid=' -o pause-linux-amd64 ../../../images/pause"
//go:generate sh -c "CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags='-s -w -buildid=' -o pause-linux-arm64 ../../../images/pause"
