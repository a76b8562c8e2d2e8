package image

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/platforms"
	cranecmd "github.com/google/go-containerregistry/cmd/crane/cmd"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// cranePush runs crane's own push command (`crane push path ref`) and returns the
// digest it reports having pushed.
func cranePush(t *testing.T, path, ref string) v1.Hash {
	t.Helper()
	options := []crane.Option{crane.Insecure}
	cmd := cranecmd.NewCmdPush(&options)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{path, ref})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("crane push %s %s: %v", path, ref, err)
	}
	d, err := name.NewDigest(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("crane push printed %q: %v", out.String(), err)
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// containerdPush does what `ctr images import` then `ctr images push` do, with
// containerd's own importer and pusher, and returns the digest of what it pushed.
func containerdPush(t *testing.T, path, ref string) v1.Hash {
	t.Helper()
	ctx := t.Context()
	store, target := containerdImport(t, path)
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchAllHosts))})
	pusher, err := resolver.Pusher(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remotes.PushContent(ctx, pusher, target, store, nil, platforms.All, nil); err != nil {
		t.Fatalf("containerd push %s: %v", ref, err)
	}
	h, err := v1.NewHash(target.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestPushedDigest pushes what make image writes to a registry (go-containerregistry's,
// in process) the ways README gives, and pulls each back by the digest make image
// printed: it must be there, be the archive's manifest byte for byte, and validate.
func TestPushedDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	tests := map[string][]string{
		"one platform":              indexPlatforms()[:1],
		"an index of two platforms": indexPlatforms(),
	}
	pushers := map[string]func(t *testing.T, archive, layoutDir, ref string) v1.Hash{
		"crane push of the .tar file": func(t *testing.T, archive, _, ref string) v1.Hash { return cranePush(t, archive, ref) },
		// As skopeo copy oci-archive: sends it.
		"crane push of the unpacked OCI layout":   func(t *testing.T, _, dir, ref string) v1.Hash { return cranePush(t, dir, ref) },
		"ctr images import, then ctr images push": func(t *testing.T, archive, _, ref string) v1.Hash { return containerdPush(t, archive, ref) },
	}
	for desc, platforms := range tests {
		t.Run(desc, func(t *testing.T) {
			slug := repoName(desc)
			archive, stdout := runImageCommand(t, "0.1.0-"+slug, platforms...)
			printed := printedDigest(t, stdout)
			dir := t.TempDir()
			untar(t, archive, dir)

			for how, push := range pushers {
				t.Run(how, func(t *testing.T) {
					repo := host + "/" + slug + "/" + repoName(how)
					pushed := push(t, archive, dir, repo+":0.1.0")
					want := printed
					// The .tar file is read through manifest.json, which names one image: of
					// an index, the first, whose digest make image prints on its line.
					if how == "crane push of the .tar file" && len(platforms) > 1 {
						want = printedImageDigest(t, stdout, platforms[0])
					}
					if pushed != want {
						t.Fatalf("%s stored %s, make image printed %s:\n%s", how, pushed, want, stdout)
					}
					pullAndCheck(t, repo, want, dir)
				})
			}
		})
	}
}

// repoName makes a test's description a repository name: lower case, letters, digits
// and dashes.
func repoName(desc string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(desc), "-"), "-")
}

// printedImageDigest is the digest make image printed for the image of one platform of
// an index, on the line it says crane push of the .tar file takes.
func printedImageDigest(t *testing.T, stdout, platform string) v1.Hash {
	t.Helper()
	i := slices.IndexFunc(strings.Split(stdout, "\n"), func(line string) bool {
		f := strings.Fields(line)
		return len(f) > 2 && f[0] == platform && strings.Contains(line, "crane push of the .tar file")
	})
	if i < 0 {
		t.Fatalf("make image printed no line for %s saying crane push of the .tar file takes it:\n%s", platform, stdout)
	}
	h, err := v1.NewHash(strings.Fields(strings.Split(stdout, "\n")[i])[1])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// pullAndCheck pulls repo@digest: the registry must serve the manifest the archive holds,
// byte for byte, and it must validate with every blob it names.
func pullAndCheck(t *testing.T, repo string, digest v1.Hash, layoutDir string) {
	t.Helper()
	ref, err := name.NewDigest(repo+"@"+digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Get(ref)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if want := blobFile(t, layoutDir, digest); !bytes.Equal(pulled.Manifest, want) {
		t.Errorf("the registry serves\n%s\nfor %s; the archive holds\n%s", pulled.Manifest, digest, want)
	}
	if pulled.MediaType.IsIndex() {
		idx, err := pulled.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(idx); err != nil {
			t.Errorf("the pulled index: %v", err)
		}
		return
	}
	img, err := pulled.Image()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("the pulled image: %v", err)
	}
}

func blobFile(t *testing.T, layoutDir string, h v1.Hash) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(layoutDir, "blobs", h.Algorithm, h.Hex))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
