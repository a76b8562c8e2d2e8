// Command image writes podguard's container image as an archive, without a container
// engine; `make image` runs it on the binary `make build` wrote. See package image.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/podguard/podguard/test/image"
)

func main() {
	var o image.Options
	var repository, tag, out string
	var created int64
	flag.StringVar(&o.Binary, "binary", "bin/podguard", "the static podguard binary")
	flag.StringVar(&o.Platform, "platform", "linux/amd64", "os/arch the binary is built for")
	flag.StringVar(&o.Version, "version", "dev", "version label")
	flag.StringVar(&o.Revision, "revision", "unknown", "revision label (the commit)")
	flag.Int64Var(&created, "created", 0, "creation time, Unix seconds (SOURCE_DATE_EPOCH)")
	flag.StringVar(&repository, "repository", "ghcr.io/podguard/podguard", "repository the archive names")
	flag.StringVar(&tag, "tag", "dev", "tag the archive names")
	flag.StringVar(&out, "o", "bin/podguard-image.tar", "archive to write")
	flag.Parse()
	o.Created = time.Unix(created, 0)

	if err := run(o, repository, tag, out); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(o image.Options, repository, tag, out string) error {
	ref, err := image.Ref(repository, tag)
	if err != nil {
		return err
	}
	img, err := image.Build(o)
	if err != nil {
		return err
	}
	if err := image.WriteArchive(out, img, ref); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s, manifest %s)\n", out, ref, o.Platform, digest)
	return nil
}
