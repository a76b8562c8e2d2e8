package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// EtcdVersion is the etcd server built for the tests. It is the
// go.etcd.io/etcd/server/v3 version that k8s.io/kubernetes v1.37.2 pins in
// its go.mod (its integration tests run that etcd); revisit it when
// k8s.io/api moves to a new minor version.
const EtcdVersion = "v3.7.0"

// Binaries are the paths of the built executables.
type Binaries struct {
	KubeAPIServer string
	Etcd          string
}

// KubernetesVersion returns the kube-apiserver version that matches the
// k8s.io/api module this code is built with (v0.37.2 -> v1.37.2), so go.mod
// stays the one place to change it.
func KubernetesVersion() (string, error) {
	v, err := apiModuleVersion()
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(v, "v0.") {
		return "", fmt.Errorf("k8s.io/api version %q is not of the form v0.X.Y", v)
	}
	return "v1." + strings.TrimPrefix(v, "v0."), nil
}

func apiModuleVersion() (string, error) {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "k8s.io/api" {
				if m.Replace != nil && m.Replace.Version != "" {
					return m.Replace.Version, nil
				}
				return m.Version, nil
			}
		}
	}
	// Test binaries carry no dependency list in their build info, but go
	// test runs them inside their module, where go list gives the answer.
	out, err := exec.Command("go", "list", "-m", "-f", "{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}", "k8s.io/api").Output()
	if err != nil {
		return "", fmt.Errorf("k8s.io/api version: no build info and go list -m failed: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// BinDir is where built binaries are cached: $PODGUARD_TEST_BIN_DIR, else
// the user cache dir ($XDG_CACHE_HOME or ~/.cache) + podguard/bin. It is
// outside the clone so a fresh checkout or `git clean` does not cost a
// rebuild.
func BinDir() (string, error) {
	if d := os.Getenv("PODGUARD_TEST_BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "podguard", "bin"), nil
}

// EnsureBinaries returns the cached kube-apiserver and etcd, building them
// first if they are missing. Progress goes to logw (which may be nil).
func EnsureBinaries(ctx context.Context, logw io.Writer) (Binaries, error) {
	return ensureBinaries(ctx, writerLogf(logw))
}

// logf prints one progress line. Start passes t.Logf so the lines land in
// the test's output.
type logf func(format string, args ...any)

func writerLogf(w io.Writer) logf {
	if w == nil {
		w = io.Discard
	}
	return func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
}

func ensureBinaries(ctx context.Context, logf logf) (Binaries, error) {
	kubeVersion, err := KubernetesVersion()
	if err != nil {
		return Binaries{}, err
	}
	dir, err := BinDir()
	if err != nil {
		return Binaries{}, err
	}
	etcd, err := ensureBinary(ctx, logf, dir, "etcd", EtcdVersion, buildEtcd)
	if err != nil {
		return Binaries{}, err
	}
	apiserver, err := ensureBinary(ctx, logf, dir, "kube-apiserver", kubeVersion, buildKubeAPIServer)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{KubeAPIServer: apiserver, Etcd: etcd}, nil
}

// buildFunc writes go.mod into the empty module dir and returns the
// arguments for `go build` after "-o <file>".
type buildFunc func(ctx context.Context, moddir, version string) ([]string, error)

func ensureBinary(ctx context.Context, logf logf, dir, name, version string, build buildFunc) (string, error) {
	path := filepath.Join(dir, name+"-"+version)
	if isExecutable(path) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}

	// Test packages run as parallel processes; the lock makes the second
	// one wait for the first build instead of doing it again.
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if isExecutable(path) {
		return path, nil
	}

	moddir, err := os.MkdirTemp("", "podguard-build-"+name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(moddir)
	args, err := build(ctx, moddir, version)
	if err != nil {
		return "", fmt.Errorf("prepare %s %s build: %w", name, version, err)
	}

	logf("building %s %s into %s (kube-apiserver takes minutes the first time)", name, version, path)
	start := time.Now()
	// Under the lock the temp name is ours alone; a fixed name also means a
	// build killed half way leaves no pile of partial files.
	tmp := path + ".tmp"
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-mod=mod", "-o", tmp}, args...)...)
	cmd.Dir = moddir
	// A go.work above the temp dir, or GOFLAGS=-mod=vendor from the caller,
	// must not change what gets built.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build %s %s failed: %w\n%s", name, version, err, tail(out.Bytes(), 60))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	logf("built %s %s in %s", name, version, time.Since(start).Round(time.Second))
	return path, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func buildEtcd(ctx context.Context, moddir, version string) ([]string, error) {
	gomod := "module podguard-build\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 " + version + "\n"
	if err := os.WriteFile(filepath.Join(moddir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, err
	}
	return []string{"go.etcd.io/etcd/server/v3"}, nil
}

// stagingRE matches the `k8s.io/x => ./staging/src/k8s.io/x` lines of
// k8s.io/kubernetes's go.mod: inside the kubernetes repo the staging modules
// come from its own tree, so a module that requires k8s.io/kubernetes has to
// replace each of them with the published v0.X.Y.
var stagingRE = regexp.MustCompile(`(?m)^\s*(k8s\.io/\S+)\s+=>\s+\./staging/`)

func buildKubeAPIServer(ctx context.Context, moddir, version string) ([]string, error) {
	return buildKubernetesCommand(ctx, moddir, version, "kube-apiserver")
}

// buildKubernetesCommand prepares the build of k8s.io/kubernetes/cmd/<name> at version.
func buildKubernetesCommand(ctx context.Context, moddir, version, name string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	cmd.Dir = moddir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: %w\n%s%s", version, err, out, stderr.Bytes())
	}
	var mod struct{ GoMod string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, err
	}
	kubeGoMod, err := os.ReadFile(mod.GoMod)
	if err != nil {
		return nil, err
	}
	staging := stagingRE.FindAllSubmatch(kubeGoMod, -1)
	if len(staging) == 0 {
		return nil, fmt.Errorf("no ./staging replacements in %s", mod.GoMod)
	}

	stagingVersion := "v0." + strings.TrimPrefix(version, "v1.")
	var gomod strings.Builder
	fmt.Fprintf(&gomod, "module podguard-build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", version)
	for _, m := range staging {
		fmt.Fprintf(&gomod, "\t%s => %s %s\n", m[1], m[1], stagingVersion)
	}
	gomod.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(moddir, "go.mod"), []byte(gomod.String()), 0o644); err != nil {
		return nil, err
	}

	// A plain `go build` leaves the version at "v0.0.0-master"; the server
	// then reports that from /version. These are the variables that
	// hack/lib/version.sh sets in Kubernetes's own builds.
	major, minor, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	var ldflags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ldflags = append(ldflags,
			"-X", pkg+".gitVersion="+version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return []string{"-ldflags", strings.Join(ldflags, " "), "k8s.io/kubernetes/cmd/" + name}, nil
}

// tail returns the last n lines of b, which is what matters in a failed
// build or a crashed server's log.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
