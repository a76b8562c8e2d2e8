package cluster

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestFirstServiceIP(t *testing.T) {
	for desc, c := range map[string]struct{ cidr, want, err string }{
		"default range": {cidr: "10.0.0.0/24", want: "10.0.0.1"},
		"node's range":  {cidr: serviceRange, want: kubernetesSvc},
		"not a CIDR":    {cidr: "10.0.0.0", err: `service-cluster-ip-range "10.0.0.0": invalid CIDR address: 10.0.0.0`},
		"IPv6":          {cidr: "fd00::/108", err: `service-cluster-ip-range "fd00::/108": only IPv4 is supported`},
	} {
		t.Run(desc, func(t *testing.T) {
			ip, err := firstServiceIP(c.cidr)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err = %v, want %s", err, c.err)
				}
				return
			}
			if err != nil || ip.String() != c.want {
				t.Fatalf("got %v, %v; want %s", ip, err, c.want)
			}
		})
	}
}

// The name a docker-save archive gives its image is the one the runtime knows
// it by after the import, e.g. the pause image's.
func TestArchiveRef(t *testing.T) {
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(PauseImage)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	got, err := archiveRef(path)
	if err != nil || got != PauseImage {
		t.Fatalf("archiveRef = %q, %v; want %s", got, err, PauseImage)
	}
}
