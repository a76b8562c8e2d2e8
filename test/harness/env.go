package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/podguard/podguard/test/cluster"
)

// Env is a cluster for a whole test binary (its TestMain) or a program such as the demo,
// where no testing.T can clean up: kube-apiserver and etcd with their files in a
// temporary directory, and an admin kubeconfig for podguard processes.
type Env struct {
	*cluster.Cluster
	// Dir is the temporary directory; Close removes it.
	Dir string
	// Kubeconfig is the admin's kubeconfig file, in Dir.
	Kubeconfig string
}

// StartEnv starts a cluster under a new temporary directory named after prefix (see
// cluster.StartProcess for logw and opts) and writes the admin kubeconfig.
func StartEnv(ctx context.Context, prefix string, logw io.Writer, opts ...cluster.Option) (*Env, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	c, err := cluster.StartProcess(ctx, filepath.Join(dir, "cluster"), logw, opts...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	e := &Env{Cluster: c, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := WriteKubeconfig(c.RestConfig(), e.Kubeconfig); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the cluster and removes the directory.
func (e *Env) Close() {
	e.Cluster.Close()
	os.RemoveAll(e.Dir)
}
