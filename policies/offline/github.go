package offline

import (
	"fmt"
	"io"
	"strings"
)

// writeGitHub prints GitHub Actions workflow commands, which annotate the file and line of
// each finding in a pull request: a denial the cluster would enforce is an error, a
// warning a warning, a violation the defaults fill a notice. Input that could not be read
// is an error; a chart or kustomization not rendered a notice (a warning under --strict).
func writeGitHub(w io.Writer, results []Result, strict bool) error {
	var err error
	emit := func(cmd, file string, line int, title, msg string) {
		if err != nil {
			return
		}
		props := "file=" + ghProperty(file)
		if line > 0 {
			props += fmt.Sprintf(",line=%d", line)
		}
		if title != "" {
			props += ",title=" + ghProperty(title)
		}
		_, err = fmt.Fprintf(w, "::%s %s::%s\n", cmd, props, ghData(msg))
	}
	for _, r := range results {
		file := strings.TrimPrefix(r.File, "./")
		switch r.Verdict {
		case VerdictRefuse:
			if r.Reason != "" {
				emit("error", file, r.Line, "podguard: refused", r.Reason)
			}
		case VerdictUnreadable, VerdictError:
			emit("error", file, r.Line, "podguard: not judged", r.Reason)
		case VerdictUnrendered:
			cmd := "notice"
			if strict {
				cmd = "warning"
			}
			emit(cmd, file, 0, "podguard: not rendered", r.Reason)
		}
		for _, f := range r.Findings {
			cmd := "notice"
			switch {
			case f.Defaulted:
			case f.Enforcement == "deny":
				cmd = "error"
			case f.Enforcement == "warn":
				cmd = "warning"
			}
			msg := r.id() + ": " + f.String()
			if n := f.Note(); n != "" {
				msg += " [" + n + "]"
			}
			if r.Via != "" {
				msg += " [" + r.Via + "]"
			}
			emit(cmd, file, r.FieldLine(f.Field), "podguard: "+f.Rule, msg)
		}
	}
	return err
}

// ghData escapes a workflow command's message, as the Actions toolkit does.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
