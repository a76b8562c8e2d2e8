package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The node's parts that do not come with Kubernetes. runc is newer than
// Debian's 1.1.5, which fails on this kind of machine with "can't get final
// child's PID from pipe"; the CNI plugins are the reference ones.
const (
	RuncVersion       = "v1.5.3"
	CNIPluginsVersion = "v1.10.0"
)

// cniPlugins are the plugins the node's network configuration uses, by the
// name the runtime looks them up with and their package.
var cniPlugins = map[string]string{
	"bridge":     "github.com/containernetworking/plugins/plugins/main/bridge",
	"host-local": "github.com/containernetworking/plugins/plugins/ipam/host-local",
	"loopback":   "github.com/containernetworking/plugins/plugins/main/loopback",
}

// NodeBinaries are the paths of the executables a node runs, beside the
// cluster's Binaries.
type NodeBinaries struct {
	Kubelet           string
	ControllerManager string
	Scheduler         string
	Runc              string
	// CNI maps a plugin's name (bridge, host-local, loopback) to its binary.
	CNI map[string]string
}

// EnsureNodeBinaries returns the cached node binaries, building them first if
// they are missing, in the same cache and the same way as EnsureBinaries.
func EnsureNodeBinaries(ctx context.Context, logw io.Writer) (NodeBinaries, error) {
	return ensureNodeBinaries(ctx, writerLogf(logw))
}

func ensureNodeBinaries(ctx context.Context, logf logf) (NodeBinaries, error) {
	kubeVersion, err := KubernetesVersion()
	if err != nil {
		return NodeBinaries{}, err
	}
	dir, err := BinDir()
	if err != nil {
		return NodeBinaries{}, err
	}
	var b NodeBinaries
	for _, k := range []struct {
		name string
		path *string
	}{
		{"kubelet", &b.Kubelet},
		{"kube-controller-manager", &b.ControllerManager},
		{"kube-scheduler", &b.Scheduler},
	} {
		name := k.name
		build := func(ctx context.Context, moddir, version string) ([]string, error) {
			return buildKubernetesCommand(ctx, moddir, version, name)
		}
		if *k.path, err = ensureBinary(ctx, logf, dir, name, kubeVersion, build); err != nil {
			return NodeBinaries{}, err
		}
	}
	// seccomp needs cgo and libseccomp-dev; without the tag runc cannot
	// apply the RuntimeDefault profile that podguard's Pods ask for.
	if b.Runc, err = ensureBinary(ctx, logf, dir, "runc", RuncVersion, modulePackage("github.com/opencontainers/runc", "github.com/opencontainers/runc", "-tags", "seccomp")); err != nil {
		return NodeBinaries{}, err
	}
	b.CNI = map[string]string{}
	for name, pkg := range cniPlugins {
		if b.CNI[name], err = ensureBinary(ctx, logf, dir, "cni-"+name, CNIPluginsVersion, modulePackage("github.com/containernetworking/plugins", pkg)); err != nil {
			return NodeBinaries{}, err
		}
	}
	return b, nil
}

// modulePackage builds pkg of module at the version asked for, with the
// build flags given before it.
func modulePackage(module, pkg string, flags ...string) buildFunc {
	return func(_ context.Context, moddir, version string) ([]string, error) {
		gomod := fmt.Sprintf("module podguard-build\n\ngo 1.26.0\n\nrequire %s %s\n", module, version)
		if err := os.WriteFile(filepath.Join(moddir, "go.mod"), []byte(gomod), 0o644); err != nil {
			return nil, err
		}
		return append(append([]string{}, flags...), pkg), nil
	}
}
