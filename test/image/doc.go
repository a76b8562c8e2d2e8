// Package image builds podguard's container image without a container engine, from the
// static binary `make build` writes: a base of CA certificates, an /etc/passwd naming the
// non-root user 65532 and a writable /tmp, then the binary as /podguard, the entrypoint.
// The result is written as one tar archive in both layouts the container tools read:
// Docker's (manifest.json with a repository tag: docker load, kind load image-archive) and
// OCI's (oci-layout, index.json: ctr images import, skopeo, crane), sharing one set of
// blobs. The build is reproducible: the same binary and flags give the same bytes.
//
// `make image` runs it through test/cmd/image; the Dockerfile builds the same image for
// those who build with Docker, and this package's tests keep the two in agreement.
package image
