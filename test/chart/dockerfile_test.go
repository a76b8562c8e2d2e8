package chart

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileBuildsLikeMakefile keeps the image's binary the one `make build` and
// `make test` build: same go build flags, static (CGO_ENABLED=0), and a distroless
// non-root base. No Docker engine runs here, so this reads the two files.
func TestDockerfileBuildsLikeMakefile(t *testing.T) {
	root := filepath.Join(Dir(), "..", "..")
	dockerfile := string(readFile(t, filepath.Join(root, "Dockerfile")))
	makefile := string(readFile(t, filepath.Join(root, "Makefile")))

	m := regexp.MustCompile(`(?m)^GOBUILD :=\s*(.*)$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatal("Makefile has no GOBUILD := line")
	}
	want := buildFlags(strings.ReplaceAll(m[1], "$(VERSION)", "VERSION"))
	run := regexp.MustCompile(`(?s)RUN ([^\n]*(?:\\\n[^\n]*)*go build[^\n]*)`).FindStringSubmatch(dockerfile)
	if run == nil {
		t.Fatal("Dockerfile has no RUN ... go build")
	}
	got := buildFlags(strings.ReplaceAll(strings.ReplaceAll(run[1], "\\\n", " "), "${VERSION}", "VERSION"))
	if got != want {
		t.Errorf("Dockerfile builds with\n  %s\nthe Makefile with\n  %s", got, want)
	}
	if !strings.Contains(want, "CGO_ENABLED=0") || !strings.Contains(want, "-trimpath") {
		t.Errorf("build flags %q: want a static, reproducible build", want)
	}

	for _, line := range []string{
		"FROM gcr.io/distroless/static:nonroot",
		"USER 65532:65532",
		`ENTRYPOINT ["/podguard"]`,
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(dockerfile) {
			t.Errorf("Dockerfile lacks %q", line)
		}
	}
	download := strings.Index(dockerfile, "RUN go mod download")
	sources := strings.Index(dockerfile, "COPY cmd/")
	if download < 0 || sources < 0 || download > sources {
		t.Error("Dockerfile must download modules in a layer of their own, before copying the sources")
	}
}

// buildFlags returns CGO_ENABLED and the go build flags of a build command line, without
// the platform variables and the output path.
func buildFlags(cmd string) string {
	var out []string
	fields := strings.Fields(cmd)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case strings.HasPrefix(f, "GOOS=") || strings.HasPrefix(f, "GOARCH="):
		case f == "-o":
			i++
		case strings.HasPrefix(f, "./"):
		default:
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}
