// Command prebuild builds (or finds in the cache) the kube-apiserver and etcd
// that package cluster runs, and prints their paths; with -node, also what a
// node runs (kubelet, kube-controller-manager, kube-scheduler, runc and the
// CNI plugins). The Makefile runs it before the tests so the first, slow
// build is visible on its own and does not count against go test's timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"

	"github.com/podguard/podguard/test/cluster"
)

func main() {
	node := flag.Bool("node", false, "also build the node's binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bins, err := cluster.EnsureBinaries(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	fmt.Println(bins.KubeAPIServer)
	fmt.Println(bins.Etcd)
	if !*node {
		return
	}
	nb, err := cluster.EnsureNodeBinaries(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	paths := []string{nb.Kubelet, nb.ControllerManager, nb.Scheduler, nb.Runc}
	for _, p := range nb.CNI {
		paths = append(paths, p)
	}
	sort.Strings(paths[4:])
	for _, p := range paths {
		fmt.Println(p)
	}
}
