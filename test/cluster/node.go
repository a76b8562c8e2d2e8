package cluster

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The node's network. Pods get addresses on a bridge of the harness's own;
// the host's end of it is the node's address (kubelet, probes, the API
// server's calls to webhooks), and the "kubernetes" Service's address is put
// there too, where the harness forwards it to the API server, since no
// kube-proxy runs.
const (
	NodeName      = "node1"
	bridgeName    = "pgnode0"
	podSubnet     = "10.214.0.0/24"
	nodeIP        = "10.214.0.1"
	serviceRange  = "10.213.0.0/24"
	kubernetesSvc = "10.213.0.1"
	// PauseImage is the sandbox image, built by the harness.
	PauseImage = "registry.k8s.io/pause:3.10"
)

// nodeReadyTimeout bounds the wait for the Node to be Ready once every
// process has started.
const nodeReadyTimeout = 3 * time.Minute

// kernelTunables are the sysctls the kubelet sets at start; the harness puts
// back the values it found.
var kernelTunables = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// Node is a kubelet with containerd and runc, registered with a Cluster as
// NodeName, with kube-controller-manager and kube-scheduler beside the API
// server so that Deployments get Pods and Pods get the node.
type Node struct {
	Name string
	// Dir holds every file of the node: configs, containerd's root and
	// state, the kubelet's root, Pod logs, and the processes' logs.
	Dir string
	// CgroupRoot is the kubelet's cgroupRoot: Pods' cgroups are under it in
	// every hierarchy.
	CgroupRoot string

	cluster  *Cluster
	socket   string
	procs    []*process
	undo     []func() error // cleanup steps, run in reverse
	stopOnce sync.Once
}

// NodeSupport says why this machine cannot run a node, or nil if it can:
// root, cgroups, containerd and ctr on PATH, and iproute2.
func NodeSupport() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d): containerd, runc, mounts, cgroups and the bridge need it", os.Geteuid()))
	}
	mounts, err := cgroupMounts()
	if err != nil || len(mounts) == 0 {
		missing = append(missing, fmt.Sprintf("mounted cgroups (%v)", err))
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin+" on PATH (Debian: apt-get install containerd iproute2)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("this machine cannot run a node; missing: %s", strings.Join(missing, "; "))
	}
	return nil
}

// StartWithNode starts a cluster and a node for it, and stops both in
// t.Cleanup. Only one node runs on a machine at a time (the network and the
// cgroup root are fixed); a second test waits for the first. A machine that
// cannot run a node fails the test with the reason.
func StartWithNode(t testing.TB, opts ...Option) (*Cluster, *Node) {
	t.Helper()
	if err := NodeSupport(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	bins, err := ensureNodeBinaries(t.Context(), t.Logf)
	if err != nil {
		t.Fatalf("node binaries: %v", err)
	}
	unlock, err := lockMachine(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)

	opts = append(opts,
		WithAPIServerFlag("service-cluster-ip-range", serviceRange),
		// Webhook calls go to the Service's endpoints (ready Pods) instead of
		// its cluster IP, which nothing routes without kube-proxy.
		WithAPIServerFlag("enable-aggregator-routing", "true"),
		WithAPIServerFlag("authorization-mode", "Node,RBAC"),
		// kube-controller-manager creates the ServiceAccounts, so Pods get
		// their tokens as in any cluster.
		WithAPIServerFlag("disable-admission-plugins", ""),
	)
	c := Start(t, opts...)
	began2 := time.Now()
	n, err := startNode(t.Context(), c, bins, t.Logf)
	if n != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, p := range n.procs {
					t.Logf("%s log (last lines):\n%s", p.name, p.logTail())
				}
			}
			if err := n.Stop(); err != nil {
				t.Errorf("stop node: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Logf("node %s Ready %s after the API server (%s in all, files in %s)", n.Name,
		time.Since(began2).Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond), n.Dir)
	return c, n
}

// lockMachine takes the machine-wide node lock, beside the binary cache.
func lockMachine(t testing.TB) (func(), error) {
	dir, err := BinDir()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "node.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("another node runs on this machine; waiting for %s", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func startNode(ctx context.Context, c *Cluster, bins NodeBinaries, logf logf) (n *Node, err error) {
	// Unix socket paths are limited to about 100 bytes: a short directory.
	dir, err := os.MkdirTemp("", "pgnode")
	if err != nil {
		return nil, err
	}
	n = &Node{Name: NodeName, Dir: dir, cluster: c, socket: filepath.Join(dir, "containerd.sock")}
	n.CgroupRoot = "/" + filepath.Base(dir)
	n.undo = append(n.undo, func() error { return os.RemoveAll(dir) })

	if err := n.saveKernelTunables(); err != nil {
		return n, err
	}
	if err := n.setupNetwork(); err != nil {
		return n, err
	}
	if err := n.forwardKubernetesService(); err != nil {
		return n, err
	}
	if err := n.makeCgroupRoot(); err != nil {
		return n, err
	}
	if err := n.startContainerd(ctx, bins); err != nil {
		return n, err
	}
	pause, err := n.buildPauseImage(ctx)
	if err != nil {
		return n, fmt.Errorf("pause image: %w", err)
	}
	if _, err := n.ImportImage(ctx, pause); err != nil {
		return n, err
	}
	admin := filepath.Join(dir, "admin.kubeconfig")
	if err := n.writeKubeconfig(admin, c.pki.clientCertPEM, c.pki.clientKeyPEM); err != nil {
		return n, err
	}
	if err := n.startControlPlane(bins, admin); err != nil {
		return n, err
	}
	if err := n.startKubelet(bins); err != nil {
		return n, err
	}
	if err := n.waitReady(ctx); err != nil {
		return n, err
	}
	logf("node %s Ready: containerd, runc %s, kubelet %s, Pods on %s (%s)", n.Name, RuncVersion, c.Version, podSubnet, dir)
	return n, nil
}

// Stop kills the node's processes and the containers they started, then
// undoes everything the harness changed on the machine: mounts, cgroups, the
// bridge, the forwarder, the kubelet's kernel tunables and its log links, and
// the node's directory. It is safe to call more than once.
func (n *Node) Stop() error {
	var errs []error
	n.stopOnce.Do(func() {
		for i := len(n.procs) - 1; i >= 0; i-- {
			errs = append(errs, n.procs[i].stop())
		}
		errs = append(errs, n.killContainers())
		for i := len(n.undo) - 1; i >= 0; i-- {
			errs = append(errs, n.undo[i]())
		}
	})
	return errors.Join(errs...)
}

func (n *Node) run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (n *Node) saveKernelTunables() error {
	saved := map[string]string{}
	for _, k := range kernelTunables {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			return err
		}
		saved[k] = strings.TrimSpace(string(b))
	}
	n.undo = append(n.undo, func() error {
		var errs []error
		for k, v := range saved {
			p := filepath.Join("/proc/sys", k)
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == v {
				continue
			}
			errs = append(errs, os.WriteFile(p, []byte(v), 0o644))
		}
		return errors.Join(errs...)
	})
	return nil
}

// setupNetwork makes the bridge the CNI bridge plugin attaches Pods to, with
// the node's address and the "kubernetes" Service's; deleting it at the end
// removes both. The plugin is not the gateway (it would turn on IP
// forwarding for the whole machine): the Pods' default route to the node's
// address comes from the IPAM configuration.
func (n *Node) setupNetwork() error {
	ctx := context.Background()
	if _, err := net.InterfaceByName(bridgeName); err == nil {
		// Left by a run that was killed; the machine lock says no node runs.
		if err := n.run(ctx, "ip", "link", "del", bridgeName); err != nil {
			return err
		}
	}
	if err := n.run(ctx, "ip", "link", "add", bridgeName, "type", "bridge"); err != nil {
		return err
	}
	n.undo = append(n.undo, func() error { return n.run(context.Background(), "ip", "link", "del", bridgeName) })
	for _, args := range [][]string{
		{"addr", "add", nodeIP + "/24", "dev", bridgeName},
		{"addr", "add", kubernetesSvc + "/32", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if err := n.run(ctx, "ip", args...); err != nil {
			return err
		}
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "podguard-node",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridgeName, "isGateway": false, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podSubnet, "gateway": nodeIP}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(n.Dir, "cni", "ipam"),
				},
			},
			map[string]any{"type": "loopback"},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(n.Dir, "cni", "net.d"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.Dir, "cni", "net.d", "10-podguard-node.conflist"), b, 0o644)
}

// forwardKubernetesService stands in for kube-proxy for the one Service Pods
// need: the API server's, which in-cluster clients reach at
// KUBERNETES_SERVICE_HOST:443.
func (n *Node) forwardKubernetesService() error {
	l, err := net.Listen("tcp", net.JoinHostPort(kubernetesSvc, "443"))
	if err != nil {
		return fmt.Errorf("forward the kubernetes Service: %w", err)
	}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.cluster.apiPort))
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				track(in, true)
				track(out, true)
				defer track(in, false)
				defer track(out, false)
				done := make(chan struct{}, 2)
				go func() { io.Copy(out, in); done <- struct{}{} }()
				go func() { io.Copy(in, out); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	n.undo = append(n.undo, func() error {
		err := l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		return err
	})
	return nil
}

// cgroupMounts lists the mount points of every cgroup hierarchy.
func cgroupMounts() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		_, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		if fs := strings.Fields(post); len(fs) > 0 && (fs[0] == "cgroup" || fs[0] == "cgroup2") {
			out = append(out, fields[4])
		}
	}
	return out, nil
}

// makeCgroupRoot creates the kubelet's cgroupRoot in every hierarchy (the
// kubelet requires it to exist) and removes it, with whatever was created
// under it, at the end.
func (n *Node) makeCgroupRoot() error {
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	var made []string
	n.undo = append(n.undo, func() error {
		var errs []error
		for _, d := range made {
			errs = append(errs, removeCgroup(d))
		}
		return errors.Join(errs...)
	})
	for _, m := range mounts {
		d := filepath.Join(m, n.CgroupRoot)
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		made = append(made, d)
		// A new cpuset starts with no CPUs and no memory nodes.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(m, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					return err
				}
			}
		}
		if _, err := os.Stat(filepath.Join(m, "cgroup.controllers")); err == nil && filepath.Clean(m) == "/sys/fs/cgroup" {
			// cgroup v2: give the kubelet the controllers it needs below.
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.controllers"))
			var enable []string
			for _, c := range strings.Fields(string(b)) {
				enable = append(enable, "+"+c)
			}
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeCgroup removes a cgroup directory tree, deepest first; only empty
// cgroups can go, so the processes in them must have been killed.
func removeCgroup(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		// A cgroup whose last process just died can be busy for a moment.
		for try := 0; try < 50; try++ {
			if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
		}
	}
	return errors.Join(errs...)
}

// killContainers kills what the runtime started and is left once containerd
// and the kubelet are gone: every process in the node's cgroups, then the
// shims of this containerd, then every mount under the node's directory.
func (n *Node) killContainers() error {
	var errs []error
	mounts, _ := cgroupMounts()
	for _, m := range mounts {
		filepath.WalkDir(filepath.Join(m, n.CgroupRoot), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
	// Shims leave containerd's process group when they start; they are
	// found by the address of this containerd on their command line.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "containerd-shim-runc-v2") && strings.Contains(string(b), n.socket) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	errs = append(errs, unmountUnder(n.Dir))
	return errors.Join(errs...)
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	var errs []error
	for try := 0; try < 5; try++ {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return err
		}
		var points []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				points = append(points, f[4])
			}
		}
		if len(points) == 0 {
			return nil
		}
		errs = nil
		for i := len(points) - 1; i >= 0; i-- {
			if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", points[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

func (n *Node) startContainerd(ctx context.Context, bins NodeBinaries) error {
	cniBin := filepath.Join(n.Dir, "cni", "bin")
	if err := os.MkdirAll(cniBin, 0o755); err != nil {
		return err
	}
	for name, path := range bins.CNI {
		if err := os.Symlink(path, filepath.Join(cniBin, name)); err != nil {
			return err
		}
	}
	d := func(p string) string { return strconv.Quote(filepath.Join(n.Dir, p)) }
	// Every path containerd would use is under the node's directory. This
	// machine kind refuses to lower oom_score_adj, hence
	// restrict_oom_score_adj.
	config := `version = 2
root = ` + d("containerd/root") + `
state = ` + d("containerd/state") + `

[grpc]
  address = ` + strconv.Quote(n.socket) + `

[ttrpc]
  address = ` + strconv.Quote(n.socket+".ttrpc") + `

[plugins."io.containerd.internal.v1.opt"]
  path = ` + d("containerd/opt") + `

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "` + PauseImage + `"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = ` + d("cni/bin") + `
  conf_dir = ` + d("cni/net.d") + `

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = ` + strconv.Quote(bins.Runc) + `
  Root = ` + d("containerd/runc") + `
  SystemdCgroup = false
`
	// containerd 1.6 puts its shims' sockets in /run/containerd/s whatever
	// its state directory.
	if !exists(containerdFixedDir) {
		n.undo = append(n.undo, func() error { return os.RemoveAll(containerdFixedDir) })
	}
	path := filepath.Join(n.Dir, "containerd.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return err
	}
	p, err := startProcess(n.Dir, "containerd", "containerd", "--config", path)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	deadline := time.Now().Add(time.Minute)
	for {
		err := exec.CommandContext(ctx, "ctr", "--address", n.socket, "version").Run()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("containerd exited during start: %v\n%s", p.err, p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd not answering on %s: %v\n%s", n.socket, err, p.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ImportImage imports an image archive (OCI layout or docker save) into the
// node's runtime, where the kubelet finds it, and returns the name it is
// known by there.
func (n *Node) ImportImage(ctx context.Context, archive string) (string, error) {
	ref, err := archiveRef(archive)
	if err != nil {
		return "", err
	}
	if err := n.run(ctx, "ctr", "--address", n.socket, "-n", "k8s.io", "images", "import", "--all-platforms", archive); err != nil {
		return "", err
	}
	return ref, nil
}

// archiveRef reads the name an archive gives its image: containerd's
// annotation in index.json, or the first tag of manifest.json.
func archiveRef(archive string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var dockerRef string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", archive, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "index.json":
			var index v1.IndexManifest
			if err := json.NewDecoder(tr).Decode(&index); err != nil {
				return "", fmt.Errorf("%s: index.json: %w", archive, err)
			}
			for _, m := range index.Manifests {
				if r := m.Annotations["io.containerd.image.name"]; r != "" {
					return r, nil
				}
			}
		case "manifest.json":
			var ms []struct{ RepoTags []string }
			if err := json.NewDecoder(tr).Decode(&ms); err == nil && len(ms) > 0 && len(ms[0].RepoTags) > 0 {
				dockerRef = ms[0].RepoTags[0]
			}
		}
	}
	if dockerRef == "" {
		return "", fmt.Errorf("%s names no image", archive)
	}
	r, err := name.ParseReference(dockerRef)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

// buildPauseImage builds cmd/pause and packs it as PauseImage.
func (n *Node) buildPauseImage(ctx context.Context) (string, error) {
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(n.Dir, "pause")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/pause")
	cmd.Dir = filepath.Dir(here)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/pause: %w\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	layer, err := tarLayer(map[string][]byte{"pause": data})
	if err != nil {
		return "", err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: runtime.GOARCH,
		Config: v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"},
	})
	if err != nil {
		return "", err
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return "", err
	}
	tag, err := name.NewTag(PauseImage)
	if err != nil {
		return "", err
	}
	out := filepath.Join(n.Dir, "pause.tar")
	return out, tarball.WriteToFile(out, tag, img)
}

func tarLayer(files map[string][]byte) (v1.Layer, error) {
	var b strings.Builder
	tw := tar.NewWriter(&b)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	content := b.String()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil })
}

func (n *Node) writeKubeconfig(path string, certPEM, keyPEM []byte) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: n.cluster.config.Host, CertificateAuthorityData: n.cluster.pki.caCertPEM}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	return clientcmd.WriteToFile(*kc, path)
}

// startControlPlane runs kube-controller-manager (Deployments, ReplicaSets,
// ServiceAccounts, the kube-root-ca.crt ConfigMap, EndpointSlices) and
// kube-scheduler, both as the admin.
func (n *Node) startControlPlane(bins NodeBinaries, kubeconfig string) error {
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	p := n.cluster.pki
	kcm, err := startProcess(n.Dir, "kube-controller-manager", bins.ControllerManager, flagArgs(map[string]string{
		"kubeconfig":                       kubeconfig,
		"authentication-kubeconfig":        kubeconfig,
		"authorization-kubeconfig":         kubeconfig,
		"bind-address":                     "127.0.0.1",
		"secure-port":                      strconv.Itoa(ports[0]),
		"cert-dir":                         filepath.Join(n.Dir, "kcm-certs"),
		"leader-elect":                     "false",
		"root-ca-file":                     p.caFile,
		"service-account-private-key-file": p.serviceAccountKey,
		"use-service-account-credentials":  "false",
		"service-cluster-ip-range":         serviceRange,
	})...)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, kcm)
	sched, err := startProcess(n.Dir, "kube-scheduler", bins.Scheduler, flagArgs(map[string]string{
		"kubeconfig":                kubeconfig,
		"authentication-kubeconfig": kubeconfig,
		"authorization-kubeconfig":  kubeconfig,
		"bind-address":              "127.0.0.1",
		"secure-port":               strconv.Itoa(ports[1]),
		"cert-dir":                  filepath.Join(n.Dir, "scheduler-certs"),
		"leader-elect":              "false",
	})...)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, sched)
	return nil
}

func (n *Node) startKubelet(bins NodeBinaries) error {
	certPEM, keyPEM, err := n.cluster.pki.clientCert("system:node:"+n.Name, "system:nodes")
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.Dir, "kubelet.kubeconfig")
	if err := n.writeKubeconfig(kubeconfig, certPEM, keyPEM); err != nil {
		return err
	}
	ports, err := FreePorts(1)
	if err != nil {
		return err
	}
	// Everything the kubelet writes is under the node's directory, but the
	// links in /var/log/containers and its device plugin socket in
	// /var/lib/kubelet/device-plugins, fixed paths in the kubelet.
	config := map[string]any{
		"apiVersion":               "kubelet.config.k8s.io/v1beta1",
		"kind":                     "KubeletConfiguration",
		"address":                  nodeIP,
		"port":                     ports[0],
		"readOnlyPort":             0,
		"healthzPort":              0,
		"containerRuntimeEndpoint": "unix://" + n.socket,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               n.CgroupRoot,
		"failCgroupV1":             false,
		"failSwapOn":               false,
		"podLogsDir":               filepath.Join(n.Dir, "pod-logs"),
		"volumePluginDir":          filepath.Join(n.Dir, "volume-plugins"),
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": n.cluster.pki.caFile},
		},
		"authorization": map[string]any{"mode": "Webhook"},
		// The test's images are imported, never pulled: nothing may
		// collect them, and a full disk elsewhere must not evict Pods.
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard": map[string]string{
			"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%",
		},
		"serializeImagePulls": false,
		// Status as soon as it changes, so tests wait less.
		"nodeStatusUpdateFrequency": "2s",
		"syncFrequency":             "10s",
	}
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(n.Dir, "kubelet.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	logDirExisted := exists("/var/log/containers")
	n.undo = append(n.undo, func() error { return n.removeLogLinks(logDirExisted) })
	// The device plugin socket's directory is fixed in the kubelet too.
	if !exists(kubeletFixedDir) {
		n.undo = append(n.undo, func() error { return os.RemoveAll(kubeletFixedDir) })
	}
	p, err := startProcess(n.Dir, "kubelet", bins.Kubelet,
		"--config="+path,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(n.Dir, "kubelet"),
		"--cert-dir="+filepath.Join(n.Dir, "kubelet-pki"),
		"--hostname-override="+n.Name,
		"--node-ip="+nodeIP,
		"--v=2",
	)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	return nil
}

// containerdFixedDir is where containerd 1.6 puts shim sockets.
const containerdFixedDir = "/run/containerd"

// kubeletFixedDir is /var/lib/kubelet, where the kubelet puts its device
// plugin socket whatever its --root-dir.
const kubeletFixedDir = "/var/lib/kubelet"

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// removeLogLinks removes the kubelet's links to this node's logs from
// /var/log/containers, and the directory if the kubelet made it.
func (n *Node) removeLogLinks(dirExisted bool) error {
	const dir = "/var/log/containers"
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, n.Dir+"/") {
			errs = append(errs, os.Remove(p))
		}
	}
	if !dirExisted {
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOTEMPTY) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitReady waits for the Node to be Ready and free of the not-ready taint,
// so that the scheduler places Pods on it.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, nodeReadyTimeout)
	defer cancel()
	var last string
	for {
		for _, p := range n.procs {
			select {
			case <-p.exited:
				return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.logTail())
			default:
			}
		}
		node, err := n.cluster.Clientset.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
		} else {
			last = nodeState(node)
			if last == "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready: %v (last: %s)\n%s", n.Name, ctx.Err(), last, n.logTails())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// nodeState is what keeps the scheduler from the node, or "".
func nodeState(node *corev1.Node) string {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("Ready=%s: %s", c.Status, c.Message)
		}
	}
	ready := false
	for _, c := range node.Status.Conditions {
		ready = ready || c.Type == corev1.NodeReady
	}
	if !ready {
		return "no Ready condition yet"
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return "taint " + t.Key
		}
	}
	return ""
}

func (n *Node) logTails() string {
	var b strings.Builder
	for _, p := range n.procs {
		fmt.Fprintf(&b, "--- %s log (last lines) ---\n%s\n", p.name, p.logTail())
	}
	return b.String()
}

// PodCgroup returns the directory of a container's cgroup in the hierarchy
// of controller (e.g. "cpu") as the kubelet lays it out with the cgroupfs
// driver: <cgroupRoot>/kubepods[/<qos>]/pod<uid>/<container id>.
func (n *Node) PodCgroup(controller string, pod *corev1.Pod, containerID string) string {
	qos := ""
	switch pod.Status.QOSClass {
	case corev1.PodQOSBurstable:
		qos = "burstable"
	case corev1.PodQOSBestEffort:
		qos = "besteffort"
	}
	_, id, _ := strings.Cut(containerID, "://")
	return filepath.Join("/sys/fs/cgroup", controller, n.CgroupRoot, "kubepods", qos, "pod"+string(pod.UID), id)
}
