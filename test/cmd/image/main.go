// Command image writes podguard's container image as an archive, without a container
// engine; `make image` runs it on the binaries it built, one per platform of
// IMAGE_PLATFORMS. One platform gives an image, several an OCI image index. It prints the
// digest a registry stores when the archive is pushed. See package image.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"

	"github.com/podguard/podguard/test/image"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

// binaries is the repeated -binary flag: os/arch[/variant]=path.
type binaries []image.Options

func (b *binaries) String() string { return "" }

func (b *binaries) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || platform == "" || path == "" {
		return fmt.Errorf("%q is not os/arch=path", v)
	}
	*b = append(*b, image.Options{Platform: platform, Binary: path})
	return nil
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var bins binaries
	var version, revision, repository, tag, out string
	var created int64
	fs.Var(&bins, "binary", "os/arch[/variant]=path: the static podguard binary for a platform; repeat it for an index")
	fs.StringVar(&version, "version", "dev", "version label")
	fs.StringVar(&revision, "revision", "unknown", "revision label (the commit)")
	fs.Int64Var(&created, "created", 0, "creation time, Unix seconds (SOURCE_DATE_EPOCH)")
	fs.StringVar(&repository, "repository", "ghcr.io/podguard/podguard", "repository the archive names")
	fs.StringVar(&tag, "tag", "dev", "tag the archive names")
	fs.StringVar(&out, "o", "bin/podguard-image.tar", "archive to write")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(bins) == 0 {
		return fmt.Errorf("no -binary os/arch=path given")
	}
	for i := range bins {
		bins[i].Version, bins[i].Revision, bins[i].Created = version, revision, time.Unix(created, 0)
	}

	ref, err := image.Ref(repository, tag)
	if err != nil {
		return err
	}
	var top partial.Describable
	var images []v1.Image
	if len(bins) == 1 {
		img, err := image.Build(bins[0])
		if err != nil {
			return err
		}
		top, images = img, []v1.Image{img}
	} else {
		idx, err := image.BuildIndex(bins)
		if err != nil {
			return err
		}
		if images, err = image.Images(idx); err != nil {
			return err
		}
		top = idx
	}
	if err := image.WriteArchive(out, top, ref); err != nil {
		return err
	}
	return printDigests(stdout, out, ref.String(), top, images)
}

// printDigests says what the archive holds and the digest a push of it stores, on a line
// of its own, "digest sha256:...", for scripts.
func printDigests(w io.Writer, out, ref string, top partial.Describable, images []v1.Image) error {
	digest, err := top.Digest()
	if err != nil {
		return err
	}
	var platforms []string
	for _, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		platforms = append(platforms, cf.Platform().String())
	}
	if len(images) == 1 {
		fmt.Fprintf(w, "%s: %s, %s\n", out, ref, platforms[0])
		fmt.Fprintf(w, "digest %s\n", digest)
		fmt.Fprintf(w, "  the manifest a registry stores when the archive is pushed (crane push, skopeo, ctr import and push)\n")
		return nil
	}
	fmt.Fprintf(w, "%s: %s, index of %s\n", out, ref, strings.Join(platforms, ", "))
	fmt.Fprintf(w, "digest %s\n", digest)
	fmt.Fprintf(w, "  the index a registry stores when the OCI layout is pushed (crane push of the unpacked\n")
	fmt.Fprintf(w, "  directory, skopeo copy --all oci-archive:, ctr import and push); its images:\n")
	for i, img := range images {
		d, err := img.Digest()
		if err != nil {
			return err
		}
		note := ""
		if i == 0 {
			note = "  (docker load and crane push of the .tar file take this image alone)"
		}
		fmt.Fprintf(w, "  %-14s %s%s\n", platforms[i], d, note)
	}
	return nil
}
