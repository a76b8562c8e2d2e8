package image

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/podguard/podguard/test/harness"
)

// The platforms of the index under test: this machine's and one other, so the test runs
// the binary of one of them.
func indexPlatforms() []string {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	return []string{"linux/" + runtime.GOARCH, "linux/" + other}
}

var crossBuilt sync.Map // arch -> *crossBinary

type crossBinary struct {
	once sync.Once
	path string
	err  error
}

// binaryFor returns podguard built for linux/arch as make image builds it: static
// (CGO_ENABLED=0), with GOOS and GOARCH. This machine's is harness.Binary's.
func binaryFor(t *testing.T, arch string) string {
	t.Helper()
	if runtime.GOOS == "linux" && arch == runtime.GOARCH {
		bin, err := harness.Binary()
		if err != nil {
			t.Fatal(err)
		}
		return bin
	}
	v, _ := crossBuilt.LoadOrStore(arch, &crossBinary{})
	b := v.(*crossBinary)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "podguard-"+arch+"-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "podguard")
		// The Makefile's GOBUILD flags, so this shares the build cache with make image.
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=dev", "-o", b.path, "./cmd/podguard")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = &buildError{arch, err, out}
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

type buildError struct {
	arch string
	err  error
	out  []byte
}

func (e *buildError) Error() string {
	return "building podguard for linux/" + e.arch + ": " + e.err.Error() + "\n" + string(e.out)
}

var imageCommand struct {
	once sync.Once
	path string
	err  error
}

// runImageCommand runs test/cmd/image, what make image runs, with the flags the Makefile
// passes, for the platforms given, and returns the archive and what the command printed.
func runImageCommand(t *testing.T, tag string, platforms ...string) (archive, stdout string) {
	t.Helper()
	imageCommand.once.Do(func() {
		dir, err := os.MkdirTemp("", "podguard-image-cmd-")
		if err != nil {
			imageCommand.err = err
			return
		}
		imageCommand.path = filepath.Join(dir, "image")
		if out, err := exec.Command("go", "build", "-o", imageCommand.path, "../cmd/image").CombinedOutput(); err != nil {
			imageCommand.err = &buildError{"the image command", err, out}
		}
	})
	if imageCommand.err != nil {
		t.Fatal(imageCommand.err)
	}
	archive = filepath.Join(t.TempDir(), "podguard-image.tar")
	args := []string{"-version", tag, "-revision", "0123abc", "-created", "1700000000",
		"-repository", "ghcr.io/podguard/podguard", "-tag", tag, "-o", archive}
	for _, p := range platforms {
		args = append(args, "-binary", p+"="+binaryFor(t, strings.TrimPrefix(p, "linux/")))
	}
	out, err := exec.Command(imageCommand.path, args...).Output()
	if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
		t.Fatalf("image %q: %v\n%s", args, err, exit.Stderr)
	} else if err != nil {
		t.Fatal(err)
	}
	return archive, string(out)
}

// printedDigest is the digest the image command printed on its "digest " line.
func printedDigest(t *testing.T, stdout string) v1.Hash {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if d, ok := strings.CutPrefix(line, "digest "); ok {
			h, err := v1.NewHash(d)
			if err != nil {
				t.Fatalf("the digest line %q: %v", line, err)
			}
			return h
		}
	}
	t.Fatalf("the image command printed no digest line:\n%s", stdout)
	return v1.Hash{}
}
