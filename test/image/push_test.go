package image

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// TestPushedDigest pushes what make image writes to a registry (go-containerregistry's,
// in process) the ways README gives, and pulls it back by the digest make image
// printed: it must be there, be the archive's manifest byte for byte, and validate.
func TestPushedDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	tests := map[string]struct {
		platforms []string
		// tarPushesFirst: crane push of the .tar file reads manifest.json, which names one
		// image; for an index, its first.
		tarPushesFirst bool
	}{
		"one platform":              {platforms: indexPlatforms()[:1]},
		"an index of two platforms": {platforms: indexPlatforms(), tarPushesFirst: true},
	}
	for desc, tc := range tests {
		t.Run(desc, func(t *testing.T) {
			tag := "0.1.0-" + strings.ReplaceAll(desc, " ", "-")
			archive, stdout := runImageCommand(t, tag, tc.platforms...)
			printed := printedDigest(t, stdout)
			repo := host + "/podguard/" + strings.ReplaceAll(desc, " ", "-")
			dir := t.TempDir()
			untar(t, archive, dir)

			// The OCI layout, unpacked: crane push of a directory, as skopeo copy
			// oci-archive: and ctr import then push send it.
			if got := cranePush(t, dir, repo+":layout"); got != printed {
				t.Errorf("crane push of the OCI layout stored %s, make image printed %s", got, printed)
			}
			tarDigest := cranePush(t, archive, repo+":tar")
			if !tc.tarPushesFirst && tarDigest != printed {
				t.Errorf("crane push %s stored %s, make image printed %s", filepath.Base(archive), tarDigest, printed)
			}
			if tc.tarPushesFirst && !slices.ContainsFunc(strings.Split(stdout, "\n"), func(line string) bool {
				f := strings.Fields(line)
				return len(f) > 2 && f[0] == tc.platforms[0] && f[1] == tarDigest.String() && strings.Contains(line, "crane push of the .tar file")
			}) {
				t.Errorf("crane push %s stored %s, which make image did not print as the %s image the file pushes:\n%s", filepath.Base(archive), tarDigest, tc.platforms[0], stdout)
			}

			ref, err := name.NewDigest(repo+"@"+printed.String(), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			pulled, err := remote.Get(ref)
			if err != nil {
				t.Fatalf("pulling %s: %v", ref, err)
			}
			if want := blobFile(t, dir, printed); !bytes.Equal(pulled.Manifest, want) {
				t.Errorf("the registry serves\n%s\nfor %s; the archive holds\n%s", pulled.Manifest, printed, want)
			}
			if len(tc.platforms) == 1 {
				img, err := pulled.Image()
				if err != nil {
					t.Fatal(err)
				}
				if err := validate.Image(img); err != nil {
					t.Errorf("the pulled image: %v", err)
				}
				return
			}
			idx, err := pulled.ImageIndex()
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(idx); err != nil {
				t.Errorf("the pulled index: %v", err)
			}
		})
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
