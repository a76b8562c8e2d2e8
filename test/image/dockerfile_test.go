package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func repoFile(t *testing.T, name string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// finalStage returns the instructions of the Dockerfile's last stage, continuation lines
// joined, comments dropped.
func finalStage(dockerfile string) []string {
	joined := strings.ReplaceAll(dockerfile, "\\\n", " ")
	var out []string
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			out = nil
		}
		out = append(out, line)
	}
	return out
}

// TestDockerfileMatchesImage keeps the Dockerfile's image and the one make image writes
// alike in what users and the chart depend on: base, user, entrypoint, command, where the
// binary lies, and the labels. No Docker engine runs here, so this reads the Dockerfile.
func TestDockerfileMatchesImage(t *testing.T) {
	stage := finalStage(repoFile(t, "Dockerfile"))
	find := func(instr string) []string {
		var out []string
		for _, l := range stage {
			if strings.HasPrefix(l, instr+" ") {
				out = append(out, strings.TrimSpace(strings.TrimPrefix(l, instr+" ")))
			}
		}
		return out
	}
	one := func(instr string) string {
		t.Helper()
		v := find(instr)
		if len(v) != 1 {
			t.Fatalf("the Dockerfile's final stage has %d %s instructions, want 1", len(v), instr)
		}
		return v[0]
	}
	if from := one("FROM"); from != "gcr.io/distroless/static:nonroot" {
		t.Errorf("FROM %s: the image make image writes imitates distroless static:nonroot", from)
	}
	if user := one("USER"); user != User {
		t.Errorf("USER %s, make image %s", user, User)
	}
	for instr, want := range map[string][]string{"ENTRYPOINT": Entrypoint, "CMD": Cmd} {
		var got []string
		if err := json.Unmarshal([]byte(one(instr)), &got); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s %s, make image %q", instr, one(instr), want)
		}
	}
	if cp := strings.Fields(one("COPY")); cp[len(cp)-1] != BinaryPath {
		t.Errorf("COPY puts the binary at %s, make image at %s", cp[len(cp)-1], BinaryPath)
	}

	labels := map[string]string{}
	pair := regexp.MustCompile(`([a-z0-9.]+)="([^"]*)"`)
	for _, l := range find("LABEL") {
		for _, m := range pair.FindAllStringSubmatch(l, -1) {
			labels[m[1]] = m[2]
		}
	}
	want := Labels("${VERSION}", "${REVISION}")
	if len(labels) != len(want) {
		t.Errorf("Dockerfile labels %v, make image %v", labels, want)
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s: Dockerfile %q, make image %q", k, labels[k], v)
		}
	}
	// A licence label would be made up while the repository states none; once it does,
	// both images must carry it.
	if _, err := os.Stat(filepath.Join("..", "..", "LICENSE")); err == nil {
		t.Error("the repository has a LICENSE: add org.opencontainers.image.licenses to Labels and the Dockerfile")
	}
}

// TestDockerfileBuildsLikeMakefile keeps the image's binary the one `make build` and
// `make test` build: same go build flags, static (CGO_ENABLED=0).
func TestDockerfileBuildsLikeMakefile(t *testing.T) {
	dockerfile, makefile := repoFile(t, "Dockerfile"), repoFile(t, "Makefile")
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
	download := strings.Index(dockerfile, "RUN go mod download")
	sources := strings.Index(dockerfile, "COPY cmd/")
	if download < 0 || sources < 0 || download > sources {
		t.Error("Dockerfile must download modules in a layer of their own, before copying the sources")
	}
	// make image builds each platform's binary as make build does, with its GOOS and GOARCH.
	recipe := regexp.MustCompile(`(?m)^image:.*\n((?:\t.*\n)+)`).FindStringSubmatch(makefile)
	if recipe == nil || !strings.Contains(recipe[1], "GOOS=$$os GOARCH=$$arch $$goarm $(GOBUILD) ") {
		t.Error("the Makefile's image target does not build its binaries with $(GOBUILD), GOOS and GOARCH")
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
