package image

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestArchiveValidates checks the archives against go-containerregistry's validators:
// validate.Image is what `crane validate --tarball` runs on the Docker half, and
// validate.Index checks the OCI layout's index.json, the image or index it names, each
// image of it and the platform its descriptor claims. Both halves of one archive must be
// the same image.
func TestArchiveValidates(t *testing.T) {
	index, _ := runImageCommand(t, "0.0.0-index", indexPlatforms()...)
	tests := map[string]struct {
		path      string
		platforms []string
	}{
		"the archive under test (make image's)": {archivePath(t), nil},
		"an index of two platforms":             {index, indexPlatforms()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dimg, err := tarball.ImageFromPath(tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(dimg); err != nil {
				t.Errorf("Docker half (crane validate --tarball): %v", err)
			}

			dir := t.TempDir()
			untar(t, tc.path, dir)
			lidx, err := layout.ImageIndexFromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(lidx); err != nil {
				t.Errorf("OCI layout: %v", err)
			}
			im, err := lidx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != 1 {
				t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
			}
			top := im.Manifests[0]
			noArtifactType(t, "index.json", im)
			var first v1.Image
			if tc.platforms == nil {
				if top.MediaType != types.DockerManifestSchema2 {
					t.Errorf("index.json names a %s, want the Docker v2 manifest crane push stores", top.MediaType)
				}
				if first, err = lidx.Image(top.Digest); err != nil {
					t.Fatal(err)
				}
			} else {
				if top.MediaType != types.OCIImageIndex {
					t.Fatalf("index.json names a %s, want an OCI image index", top.MediaType)
				}
				idx, err := lidx.ImageIndex(top.Digest)
				if err != nil {
					t.Fatal(err)
				}
				cim, err := idx.IndexManifest()
				if err != nil {
					t.Fatal(err)
				}
				noArtifactType(t, "the index", cim)
				images, err := Images(idx)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, img := range images {
					cf, err := img.ConfigFile()
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, cf.Platform().String())
				}
				if !slices.Equal(got, tc.platforms) {
					t.Errorf("the index holds %v, want %v", got, tc.platforms)
				}
				first = images[0]
			}
			// manifest.json names the index's first image (or the image): the same
			// manifest, byte for byte, so crane push of the file stores that digest.
			if dd, od := digest(t, dimg), digest(t, first); dd != od {
				t.Errorf("the Docker half is manifest %s, the OCI layout's (first) image %s", dd, od)
			}
		})
	}
}

// noArtifactType checks that an index describes its images as images: the image spec
// keeps artifactType for artifacts, and skopeo copy --all rewrites (so changes the digest
// of) an index whose descriptors carry it.
func noArtifactType(t *testing.T, what string, im *v1.IndexManifest) {
	t.Helper()
	for _, d := range im.Manifests {
		if d.ArtifactType != "" {
			t.Errorf("%s describes %s with artifactType %s", what, d.Digest, d.ArtifactType)
		}
	}
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestBuildIndexRefuses checks that an index cannot name one platform twice.
func TestBuildIndexRefuses(t *testing.T) {
	bin := binaryFor(t, runtime.GOARCH)
	tests := map[string]struct {
		platforms []string
		wantErr   string
	}{
		"no platform":             {nil, "at least one platform"},
		"the same platform twice": {[]string{indexPlatforms()[0], indexPlatforms()[0]}, "given twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var opts []Options
			for _, p := range tc.platforms {
				opts = append(opts, Options{Binary: bin, Platform: p, Version: "dev"})
			}
			_, err := BuildIndex(opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
