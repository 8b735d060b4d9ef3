// Command burn is the stats end-to-end test's container: it keeps
// $MEMORY_MIB mebibytes (default 64) of memory in use and one goroutine
// busy, until it is killed.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
)

func main() {
	mib := 64
	if v, err := strconv.Atoi(os.Getenv("MEMORY_MIB")); err == nil && v > 0 {
		mib = v
	}
	buf := make([]byte, mib<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1 // touch every page, so it counts in the working set
	}
	fmt.Printf("holding %d MiB, burning one CPU\n", mib)
	for n := uint64(0); ; n++ {
		if n%(1<<30) == 0 {
			runtime.KeepAlive(buf)
		}
	}
}
