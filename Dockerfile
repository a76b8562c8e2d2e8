# podguard image: a static binary with the Rego policies embedded (go:embed), on a
# distroless base with no shell, running as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t ghcr.io/podguard/podguard:0.1.0 .
#
# `make image` builds the same image without Docker (test/image). The build flags are the
# Makefile's `build` target's (GOBUILD); test/image checks that the two stay the same, and
# that user, entrypoint, command and labels are those of the image make image writes.

# The Go version of go.mod's go line.
ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY policies/ policies/
COPY webhook/ webhook/
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/podguard ./cmd/podguard

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG REVISION=unknown
# No org.opencontainers.image.licenses: the repository states no licence.
LABEL org.opencontainers.image.title="podguard" \
      org.opencontainers.image.description="Kubernetes admission webhook that enforces Pod best practices with Rego policies" \
      org.opencontainers.image.source="https://github.com/podguard/podguard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/podguard /podguard
# The numeric id of distroless's "nonroot", so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/podguard"]
CMD ["serve", "--cert-dir=/etc/podguard/certs"]
