// Package e2e runs the built navarch binary as a user would: `navarch
// server` as a child process, and `navarch kubectl` (plus a stock kubectl
// when one is installed) against it. The tests assert what the user sees:
// kubectl's output, exit codes and the resulting objects.
package e2e
