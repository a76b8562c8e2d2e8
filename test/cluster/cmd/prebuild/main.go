// Command prebuild builds (or finds in the cache) the kube-apiserver and etcd
// that package cluster runs, and prints their paths. The Makefile runs it
// before the tests so the first, slow build is visible on its own and does not
// count against go test's timeout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/podguard/podguard/test/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bins, err := cluster.EnsureBinaries(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	fmt.Println(bins.KubeAPIServer)
	fmt.Println(bins.Etcd)
}
