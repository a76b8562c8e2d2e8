// Package image builds podguard's container image without a container engine, from the
// static binary `make build` writes: a base of CA certificates, an /etc/passwd naming the
// non-root user 65532 and a writable /tmp, then the binary as /podguard, the entrypoint.
// Binaries for several platforms give an OCI image index of one image each.
//
// The result is written as one tar archive in both layouts the container tools read:
// Docker's (manifest.json with a repository tag: docker load, crane push of the file) and
// OCI's (oci-layout, index.json: ctr images import, kind, skopeo, crane push of the
// unpacked directory), sharing one set of blobs. The image manifests have Docker's v2
// media types: crane push of the file builds a Docker v2 manifest from manifest.json, and
// the OCI layout holds the very same bytes, so the image has one digest whichever layout
// is pushed. The index is an OCI image index; manifest.json names its first image only.
// The build is reproducible: the same binaries and flags give the same bytes.
//
// `make image` runs it through test/cmd/image; the Dockerfile builds the same image for
// those who build with Docker, and this package's tests keep the two in agreement.
package image
