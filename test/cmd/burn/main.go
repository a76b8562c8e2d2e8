// Command burn keeps every core busy until it is stopped, so that tests can be run on a
// machine as loaded as a shared CI runner: `make test-stress` starts it beside `make unit`.
// It runs one spinning goroutine per core and stops on SIGINT or SIGTERM, or when the
// process that started it goes away, so a burner is never left behind.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	cores := runtime.NumCPU()
	runtime.GOMAXPROCS(cores + 1) // one more for the watcher below
	for range cores {
		go spin()
	}
	fmt.Fprintf(os.Stderr, "burn: %d cores busy (pid %d)\n", cores, os.Getpid())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	parent := os.Getppid()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case s := <-stop:
			fmt.Fprintf(os.Stderr, "burn: stopped by %v\n", s)
			return
		case <-tick.C:
			// Re-parented: whoever started the burner is gone without stopping it.
			if os.Getppid() != parent {
				fmt.Fprintln(os.Stderr, "burn: the process that started it is gone; stopping")
				return
			}
		}
	}
}

// spin keeps one core busy with work the compiler cannot drop.
func spin() {
	x := uint64(1)
	for {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if x == 0 {
			fmt.Fprintln(os.Stderr, x)
		}
	}
}
