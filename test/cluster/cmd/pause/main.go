// Command pause is the node's sandbox image: it holds a Pod's namespaces and
// waits for SIGTERM, as registry.k8s.io/pause does. With -v it prints its
// name and exits 0, which test Pods use as an exec probe.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (podguard node harness)")
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
