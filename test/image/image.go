package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// What the image runs as and how; the Dockerfile says the same (see the tests).
const (
	// BinaryPath is where the binary lies in the image.
	BinaryPath = "/podguard"
	// User is distroless's "nonroot", numeric so that runAsNonRoot can verify it.
	User = "65532:65532"
	// Source is the repository the image is built from.
	Source = "https://github.com/podguard/podguard"
	// CACertificates is where Go (and most TLS libraries) look for trusted roots.
	CACertificates = "/etc/ssl/certs/ca-certificates.crt"
)

var (
	Entrypoint = []string{BinaryPath}
	Cmd        = []string{"serve", "--cert-dir=/etc/podguard/certs"}
)

// Labels are the image's OCI annotations for a version and the commit it was built from.
// There is no org.opencontainers.image.licenses: the repository states no licence.
func Labels(version, revision string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "podguard",
		"org.opencontainers.image.description": "Kubernetes admission webhook that enforces Pod best practices with Rego policies",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
	}
}

// Options say what to build.
type Options struct {
	// Binary is the static podguard executable for Platform.
	Binary string
	// Platform is os/arch[/variant]; only linux is supported.
	Platform string
	// Version and Revision go into the labels.
	Version, Revision string
	// Created is the image's creation time and every file's modification time; the same
	// value gives the same image (SOURCE_DATE_EPOCH, the commit time).
	Created time.Time
}

// Build assembles the image.
func Build(o Options) (v1.Image, error) {
	p, err := v1.ParsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	if p.OS != "linux" {
		return nil, fmt.Errorf("platform %s: podguard's image is a linux image (build the binary with GOOS=linux)", o.Platform)
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	if err := checkBinary(bin, p.Architecture); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Binary, err)
	}
	base, err := baseLayer(o.Created)
	if err != nil {
		return nil, err
	}
	app, err := layer(o.Created, []file{{name: BinaryPath[1:], mode: 0o755, data: bin}})
	if err != nil {
		return nil, err
	}
	// Docker's media types, not OCI's: `crane push` (and every tool that pushes the
	// archive's manifest.json half) writes a Docker v2 manifest, so the OCI layout holds
	// the same bytes and one digest names the image however it is pushed (see doc.go).
	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	created := v1.Time{Time: o.Created.UTC()}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		Variant:      p.Variant,
		OS:           p.OS,
		Created:      created,
		// mutate.Append fills in the diff IDs, never the type, which the image spec and
		// Docker's loader require.
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:       User,
			Entrypoint: Entrypoint,
			Cmd:        Cmd,
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CACertificates},
			WorkingDir: "/home/nonroot",
			Labels:     Labels(o.Version, o.Revision),
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "podguard base: CA certificates, passwd with nonroot 65532, /tmp", Comment: "make image"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: created, CreatedBy: "COPY podguard " + BinaryPath, Comment: "make image"}},
	)
}

// BuildIndex assembles one image per Options, each for its own platform, and the OCI
// image index of them, in the order given.
func BuildIndex(opts []Options) (v1.ImageIndex, error) {
	if len(opts) == 0 {
		return nil, fmt.Errorf("an index needs at least one platform")
	}
	idx := &index{images: map[v1.Hash]v1.Image{}}
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	seen := map[string]bool{}
	for _, o := range opts {
		img, err := Build(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Platform, err)
		}
		desc, err := imageDescriptor(img)
		if err != nil {
			return nil, err
		}
		if seen[desc.Platform.String()] {
			return nil, fmt.Errorf("platform %s is given twice", desc.Platform)
		}
		seen[desc.Platform.String()] = true
		im.Manifests = append(im.Manifests, desc)
		idx.images[desc.Digest] = img
	}
	raw, err := json.Marshal(im)
	if err != nil {
		return nil, err
	}
	idx.raw = raw
	return idx, nil
}

// imageDescriptor describes img with its platform. It has no artifactType, which
// go-containerregistry's descriptors give an image (its config's media type): the image
// spec keeps that field for artifacts, and skopeo copy --all rewrites an index that has
// it, changing its digest.
func imageDescriptor(img v1.Image) (v1.Descriptor, error) {
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: digest, Platform: cf.Platform()}, nil
}

// index is an OCI image index of images held in memory.
type index struct {
	raw    []byte
	images map[v1.Hash]v1.Image
}

func (i *index) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (i *index) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *index) Size() (int64, error)                { return int64(len(i.raw)), nil }

func (i *index) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.raw))
	return h, err
}

func (i *index) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i *index) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := i.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("the index has no image %s", h)
}

func (i *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("the index holds images only, not an index %s", h)
}

// elfMachines are the architectures podguard's image is built for, as ELF names them.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM, "386": elf.EM_386,
	"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// checkBinary refuses a binary that would not start in the image: not an ELF executable
// for the platform, or one that needs a dynamic loader (the image has none).
func checkBinary(bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not a linux executable: %w", err)
	}
	want, ok := elfMachines[arch]
	if !ok {
		return fmt.Errorf("architecture %s is not supported", arch)
	}
	if f.Machine != want {
		return fmt.Errorf("built for %s, not %s (GOARCH)", f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked; the image has no C library (build with CGO_ENABLED=0, as make build does)")
		}
	}
	return nil
}

type file struct {
	name     string // without the leading slash
	mode     int64
	dir      bool
	uid, gid int
	data     []byte
}

// baseLayer is what distroless's static image gives a Go binary: trusted roots, the
// nonroot user and its home, and /tmp.
func baseLayer(mtime time.Time) (v1.Layer, error) {
	var certs bytes.Buffer
	for root := range bundle.Roots() {
		// A PEM file cannot carry a root's extra constraints (distrust after a date), so
		// such roots are left out rather than trusted without them.
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	return layer(mtime, []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(CACertificates, "/"), mode: 0o644, data: certs.Bytes()},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, dir: true, uid: 65532, gid: 65532},
		{name: "tmp", mode: 0o1777, dir: true},
	})
}

// layer is a gzip-compressed tar of files, in the order given, owned by root unless said.
func layer(mtime time.Time, files []file) (v1.Layer, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := b.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.DockerLayer))
}

// Ref is the repository:tag the archive names the image by.
func Ref(repository, tag string) (name.Tag, error) {
	return name.NewTag(repository+":"+tag, name.StrictValidation)
}
