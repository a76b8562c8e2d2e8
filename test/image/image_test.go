package image

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/podguard/podguard/test/harness"
)

const testRef = "ghcr.io/podguard/podguard:0.0.0-test"

var built struct {
	once sync.Once
	path string
	err  error
}

// archivePath is the archive under test: $PODGUARD_IMAGE (make test passes the one
// make image wrote), or one built here from the test binary.
func archivePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PODGUARD_IMAGE"); p != "" {
		return p
	}
	built.once.Do(func() {
		bin, err := harness.Binary()
		if err != nil {
			built.err = err
			return
		}
		dir, err := os.MkdirTemp("", "podguard-image-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "podguard-image.tar")
		built.err = buildArchive(bin, built.path, "dev")
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func buildArchive(bin, path, version string) error {
	img, err := Build(Options{Binary: bin, Platform: runtime.GOOS + "/" + runtime.GOARCH, Version: version, Revision: "0123abc", Created: time.Unix(1700000000, 0)})
	if err != nil {
		return err
	}
	ref, err := name.NewTag(testRef)
	if err != nil {
		return err
	}
	return WriteArchive(path, img, ref)
}

// dockerImage reads the archive the way docker load does: manifest.json, its repository
// tag, the config and the layers it names.
func dockerImage(t *testing.T, path string) (v1.Image, DockerManifest) {
	t.Helper()
	var dms []DockerManifest
	if err := json.Unmarshal(member(t, path, "manifest.json"), &dms); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(dms) != 1 || len(dms[0].RepoTags) != 1 {
		t.Fatalf("manifest.json = %+v, want one image with one repository tag", dms)
	}
	tag, err := name.NewTag(dms[0].RepoTags[0], name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("reading %s as a Docker archive: %v", path, err)
	}
	return img, dms[0]
}

// members reads the archive's files in order, as name and content.
func members(t *testing.T, path string, each func(h *tar.Header, data []byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		each(h, b)
	}
}

func member(t *testing.T, path, want string) []byte {
	t.Helper()
	var found []byte
	members(t, path, func(h *tar.Header, data []byte) {
		if h.Name == want {
			found = data
		}
	})
	if found == nil {
		t.Fatalf("%s has no %s", path, want)
	}
	return found
}

// TestArchiveRunsAsNonRoot checks what the chart and the Dockerfile rely on: the non-root
// user, the entrypoint and command, the labels, and that the binary inside is the one that
// prints the version the labels name.
func TestArchiveRunsAsNonRoot(t *testing.T) {
	path := archivePath(t)
	img, _ := dockerImage(t, path)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" { // the chart's runAsUser and runAsGroup
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/podguard"}) || !slices.Equal(c.Cmd, []string{"serve", "--cert-dir=/etc/podguard/certs"}) {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	version := c.Labels["org.opencontainers.image.version"]
	want := Labels(version, c.Labels["org.opencontainers.image.revision"])
	for k, v := range want {
		if c.Labels[k] != v || v == "" {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if cf.OS+"/"+cf.Architecture != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("the image is for %s/%s; this test runs its binary, so it must run on that platform", cf.OS, cf.Architecture)
	}

	files := extract(t, img)
	bin := filepath.Join(t.TempDir(), "podguard")
	if err := os.WriteFile(bin, files["podguard"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("podguard version from the image: %v\n%s", err, out)
	}
	// The first line is "podguard <version>"; the commit, Go, OPA and platform follow.
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if want := "podguard " + version; first != want {
		t.Errorf("the image's binary prints version %q, its label says %q", first, version)
	}
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

// extract returns the image's flattened filesystem by path (without the leading slash).
func extract(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]entry{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "/"), "/")] = entry{h, b}
	}
}

// TestArchiveFilesystem checks the base the image gives the binary instead of
// distroless's: trusted roots that Go can load, the nonroot user, /tmp.
func TestArchiveFilesystem(t *testing.T) {
	img, _ := dockerImage(t, archivePath(t))
	files := extract(t, img)
	check := func(path string, mode int64, uid int) entry {
		t.Helper()
		e, ok := files[path]
		if !ok {
			t.Errorf("no /%s in the image", path)
			return entry{hdr: &tar.Header{}}
		}
		if e.hdr.Mode&0o7777 != mode || e.hdr.Uid != uid {
			t.Errorf("/%s: mode %o uid %d, want %o uid %d", path, e.hdr.Mode&0o7777, e.hdr.Uid, mode, uid)
		}
		return e
	}
	check("podguard", 0o755, 0)
	check("tmp", 0o1777, 0)
	check("home/nonroot", 0o700, 65532)
	if passwd := check("etc/passwd", 0o644, 0); !strings.Contains(string(passwd.data), "\nnonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd lacks nonroot 65532:\n%s", passwd.data)
	}
	certs := check("etc/ssl/certs/ca-certificates.crt", 0o644, 0)
	n := 0
	for rest := certs.data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("certificate %d: %v", n, err)
		}
		n++
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(certs.data) || n < 100 {
		t.Errorf("%d CA certificates, want the public roots (over 100)", n)
	}
	if len(files) != 11 {
		var names []string
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		t.Errorf("image holds %v; want only the base and the binary", names)
	}
}

// TestArchiveOCILayout reads the same archive as an OCI image layout (what ctr, skopeo and
// crane read) and checks that it is the same image as the Docker half, named the same.
func TestArchiveOCILayout(t *testing.T) {
	path := archivePath(t)
	dimg, dm := dockerImage(t, path)
	dir := t.TempDir()
	untar(t, path, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
	}
	d := im.Manifests[0]
	if d.Annotations[AnnotationImageName] != dm.RepoTags[0] || !strings.HasSuffix(dm.RepoTags[0], ":"+d.Annotations[AnnotationRefName]) {
		t.Errorf("index.json names the image %v; manifest.json %v", d.Annotations, dm.RepoTags)
	}
	oimg, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(oimg); err != nil {
		t.Errorf("OCI image: %v", err)
	}
	oc, _ := oimg.ConfigName()
	dc, _ := dimg.ConfigName()
	if oc != dc {
		t.Errorf("OCI config %s, Docker config %s: two different images", oc, dc)
	}
	ol, _ := oimg.Layers()
	for i, l := range ol {
		od, _ := l.Digest()
		if want := "blobs/sha256/" + od.Hex; i >= len(dm.Layers) || dm.Layers[i] != want {
			t.Errorf("layer %d: OCI %s, Docker %v", i, want, dm.Layers)
		}
	}
}

func untar(t *testing.T, path, dir string) {
	t.Helper()
	members(t, path, func(h *tar.Header, data []byte) {
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			t.Fatal(err)
		}
	})
}

// TestArchiveContainerdImport runs containerd's own importer, the code behind
// `ctr images import` (which `kind load image-archive` runs on every node), on the archive
// as written, on its Docker half alone and on an index of two platforms, and resolves the
// image it imported for this platform.
func TestArchiveContainerdImport(t *testing.T) {
	path := archivePath(t)
	dockerOnly := filepath.Join(t.TempDir(), "docker-only.tar")
	copyTar(t, path, dockerOnly, func(name string) bool { return name != "oci-layout" && name != "index.json" })
	index, _ := runImageCommand(t, "0.0.0-index", indexPlatforms()...)

	for name, tc := range map[string]struct {
		path, mediaType string
	}{
		"as written: OCI layout":    {path, images.MediaTypeDockerSchema2Manifest},
		"Docker half alone":         {dockerOnly, images.MediaTypeDockerSchema2Manifest},
		"an index of two platforms": {index, ocispec.MediaTypeImageIndex},
	} {
		t.Run(name, func(t *testing.T) {
			_, dm := dockerImage(t, tc.path)
			ctx := t.Context()
			store, m := containerdImport(t, tc.path)
			if got := m.Annotations[images.AnnotationImageName]; got != dm.RepoTags[0] {
				t.Errorf("containerd names the image %q, want %q", got, dm.RepoTags[0])
			}
			if m.MediaType != tc.mediaType {
				t.Errorf("manifest media type %s, want %s", m.MediaType, tc.mediaType)
			}
			img := images.Image{Name: dm.RepoTags[0], Target: m}
			cfgDesc, err := img.Config(ctx, store, platforms.Only(platforms.DefaultSpec()))
			if err != nil {
				t.Fatalf("no image for %s: %v", platforms.DefaultString(), err)
			}
			var cfg ocispec.Image
			b, err := content.ReadBlob(ctx, store, cfgDesc)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Config.User != User || !slices.Equal(cfg.Config.Entrypoint, Entrypoint) {
				t.Errorf("containerd reads user %q entrypoint %q", cfg.Config.User, cfg.Config.Entrypoint)
			}
			if ok, _, _, missing, err := images.Check(ctx, store, m, platforms.Only(platforms.DefaultSpec())); err != nil || !ok || len(missing) > 0 {
				t.Errorf("containerd finds the image incomplete: available %v, missing %v, %v", ok, missing, err)
			}
		})
	}
}

// containerdImport imports the archive with containerd's own importer, as
// `ctr images import` does, into a new content store, and returns the store and the
// descriptor of the one image it found.
func containerdImport(t *testing.T, path string) (content.Store, ocispec.Descriptor) {
	t.Helper()
	ctx := t.Context()
	store, err := local.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idxDesc, err := archive.ImportIndex(ctx, store, f)
	if err != nil {
		t.Fatalf("containerd refuses the archive: %v", err)
	}
	raw, err := content.ReadBlob(ctx, store, idxDesc)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("containerd imported %d images, want 1", len(idx.Manifests))
	}
	return store, idx.Manifests[0]
}

// copyTar copies the members of a tar that keep accepts.
func copyTar(t *testing.T, from, to string, keep func(string) bool) {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	members(t, from, func(h *tar.Header, data []byte) {
		if !keep(h.Name) {
			return
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBuildReproducible builds twice from the same binary: the archives are the same
// bytes, so a digest names one build whoever makes it.
func TestBuildReproducible(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var sums []string
	for i := range 2 {
		p := filepath.Join(dir, string(rune('a'+i))+".tar")
		if err := buildArchive(bin, p, "dev"); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, h.String())
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds differ: %v", sums)
	}
}

// TestBuildRefuses checks that binaries the image could not start are refused.
func TestBuildRefuses(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	dynamic, err := exec.LookPath("ls")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		binary, platform, wantErr string
	}{
		"not linux":                 {bin, "darwin/" + runtime.GOARCH, "is a linux image"},
		"another architecture":      {bin, "linux/" + other, "not " + other},
		"not an executable":         {filepath.Join("..", "go.mod"), "linux/" + runtime.GOARCH, "not a linux executable"},
		"dynamically linked binary": {dynamic, runtime.GOOS + "/" + runtime.GOARCH, "dynamically linked"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Build(Options{Binary: tc.binary, Platform: tc.platform, Version: "dev"})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
