package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of index.json that name the image: containerd's (what ctr images import
// and kind name it by) and OCI's (the tag alone, what skopeo and crane read).
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// DockerManifest is one entry of a Docker archive's manifest.json.
type DockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteArchive writes top, a v1.Image or a v1.ImageIndex of images, as a tar that is at
// once an OCI image layout and a Docker archive, as `docker save` does since Docker 25:
// blobs under blobs/sha256/, index.json and oci-layout for OCI readers, manifest.json for
// Docker's. index.json names top; manifest.json names an image, so for an index it names
// the index's first image, as containerd's exporter names the one of its platform. Every
// entry carries the image's creation time (the first image's, for an index), so the
// archive is as reproducible as the image.
func WriteArchive(path string, top partial.Describable, ref name.Tag) (err error) {
	var images []v1.Image
	var desc v1.Descriptor
	switch t := top.(type) {
	case v1.Image:
		images = []v1.Image{t}
		if desc, err = imageDescriptor(t); err != nil {
			return err
		}
	case v1.ImageIndex:
		if images, err = Images(t); err != nil {
			return err
		}
		if desc.MediaType, err = t.MediaType(); err != nil {
			return err
		}
		if desc.Size, err = t.Size(); err != nil {
			return err
		}
		if desc.Digest, err = t.Digest(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("an archive holds an image or an index, not %T", top)
	}
	cf, err := images[0].ConfigFile()
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriter(f)
	w := &archiveWriter{tw: tar.NewWriter(bw), mtime: cf.Created.Time, written: map[v1.Hash]bool{}}

	if err := w.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	var dms []DockerManifest
	for _, img := range images {
		dm, err := w.image(img)
		if err != nil {
			return err
		}
		dms = append(dms, dm)
	}
	if idx, ok := top.(v1.ImageIndex); ok {
		raw, err := idx.RawManifest()
		if err != nil {
			return err
		}
		if err := w.blob(raw); err != nil {
			return err
		}
	}
	desc.Annotations = map[string]string{AnnotationImageName: ref.String(), AnnotationRefName: ref.TagStr()}
	index, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{desc}})
	if err != nil {
		return err
	}
	if err := w.file("index.json", index); err != nil {
		return err
	}
	docker := dms[0]
	docker.RepoTags = []string{ref.String()}
	manifestJSON, err := json.Marshal([]DockerManifest{docker})
	if err != nil {
		return err
	}
	if err := w.file("manifest.json", manifestJSON); err != nil {
		return err
	}
	if err := w.tw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Images returns the images of an index, in its order.
func Images(idx v1.ImageIndex) ([]v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) == 0 {
		return nil, fmt.Errorf("the index lists no image")
	}
	var images []v1.Image
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			return nil, fmt.Errorf("the index lists a %s; only images can be archived", d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	return images, nil
}

type archiveWriter struct {
	tw      *tar.Writer
	mtime   time.Time
	written map[v1.Hash]bool // blobs: the images of an index share their base layer
}

func (w *archiveWriter) add(name string, size int64, content io.Reader) error {
	if err := w.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: w.mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := io.Copy(w.tw, content)
	return err
}

func (w *archiveWriter) file(name string, b []byte) error {
	return w.add(name, int64(len(b)), bytes.NewReader(b))
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// blob writes b under its digest, once.
func (w *archiveWriter) blob(b []byte) error {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return err
	}
	if w.written[h] {
		return nil
	}
	w.written[h] = true
	return w.file(blobPath(h), b)
}

// image writes the config, layers and manifest of img, and returns its manifest.json
// entry, untagged.
func (w *archiveWriter) image(img v1.Image) (DockerManifest, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return DockerManifest{}, err
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return DockerManifest{}, err
	}
	if err := w.blob(rawCfg); err != nil {
		return DockerManifest{}, err
	}
	dm := DockerManifest{Config: blobPath(cfgName)}
	layers, err := img.Layers()
	if err != nil {
		return DockerManifest{}, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return DockerManifest{}, err
		}
		dm.Layers = append(dm.Layers, blobPath(d))
		if w.written[d] {
			continue
		}
		w.written[d] = true
		size, err := l.Size()
		if err != nil {
			return DockerManifest{}, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return DockerManifest{}, err
		}
		err = w.add(blobPath(d), size, rc)
		rc.Close()
		if err != nil {
			return DockerManifest{}, err
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return DockerManifest{}, err
	}
	return dm, w.blob(raw)
}
