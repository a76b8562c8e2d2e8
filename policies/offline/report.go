package offline

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/podguard/podguard/policies/engine"
)

// level maps a finding to how a CI system should show it.
func level(f Finding) string {
	switch {
	case f.Defaulted:
		return "note" // the cluster fills it in; worth knowing, not a failure
	case f.Enforcement == "deny":
		return "error"
	case f.Enforcement == "warn":
		return "warning"
	}
	return "note"
}

// unjudgedRule is the SARIF rule of documents that could not be read or judged.
var unjudgedRule = struct{ ID, Name string }{"podguard-input", "Input podguard could not read or judge"}

// writeSARIF writes a SARIF 2.1.0 log: one result per finding, located on the YAML line
// of the field it names, so code scanning annotates the manifest where the fix goes.
// A chart or kustomization that could not be rendered is a note (a warning under
// --strict): the run still judged everything it could read.
func writeSARIF(w io.Writer, e *engine.Engine, version string, results []Result, strict bool) error {
	type message struct {
		Text string `json:"text"`
	}
	type rule struct {
		ID               string   `json:"id"`
		Name             string   `json:"name,omitempty"`
		ShortDescription *message `json:"shortDescription,omitempty"`
		FullDescription  *message `json:"fullDescription,omitempty"`
		HelpURI          string   `json:"helpUri,omitempty"`
	}
	type region struct {
		StartLine int `json:"startLine"`
	}
	type location struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
			Region region `json:"region"`
		} `json:"physicalLocation"`
	}
	type result struct {
		RuleID    string     `json:"ruleId"`
		Level     string     `json:"level"`
		Message   message    `json:"message"`
		Locations []location `json:"locations"`
	}
	rules := []rule{}
	for _, id := range e.Rules() {
		info := e.Info(id)
		r := rule{ID: id, Name: info.Title, HelpURI: info.Link}
		if info.Title != "" {
			r.ShortDescription = &message{Text: info.Title}
		}
		if info.Description != "" {
			r.FullDescription = &message{Text: info.Description}
		}
		rules = append(rules, r)
	}
	out := []result{}
	failed, unrendered, refusedInput := false, false, false
	for _, r := range results {
		if r.Verdict == VerdictUnrendered {
			unrendered = true
			var loc location
			loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(r.File, "./")
			loc.PhysicalLocation.Region.StartLine = 1
			lvl := "note"
			if strict {
				lvl = "warning"
			}
			out = append(out, result{RuleID: unjudgedRule.ID, Level: lvl, Message: message{r.Reason}, Locations: []location{loc}})
		}
		if r.Verdict == VerdictRefuse && r.Reason != "" {
			refusedInput = true
			var loc location
			loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(r.File, "./")
			loc.PhysicalLocation.Region.StartLine = max(r.Line, 1)
			out = append(out, result{RuleID: unjudgedRule.ID, Level: "error", Message: message{r.Reason}, Locations: []location{loc}})
		}
		if r.Verdict == VerdictUnreadable || r.Verdict == VerdictError {
			// Input that could not be judged fails the run; code scanning shows it on
			// the document's line.
			failed = true
			var loc location
			loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(r.File, "./")
			loc.PhysicalLocation.Region.StartLine = max(r.Line, 1)
			out = append(out, result{RuleID: unjudgedRule.ID, Level: "error", Message: message{r.Reason}, Locations: []location{loc}})
		}
		for _, f := range r.Findings {
			var loc location
			loc.PhysicalLocation.ArtifactLocation.URI = strings.TrimPrefix(r.File, "./")
			loc.PhysicalLocation.Region.StartLine = max(r.FieldLine(f.Field), 1)
			text := f.String()
			if r.Via != "" {
				text += " [" + r.Via + "]"
			}
			if n := f.Note(); n != "" {
				text += " (" + n + ")"
			}
			out = append(out, result{RuleID: f.Rule, Level: level(f), Message: message{text}, Locations: []location{loc}})
		}
	}
	if failed || unrendered || refusedInput {
		rules = append(rules, rule{ID: unjudgedRule.ID, Name: unjudgedRule.Name, ShortDescription: &message{unjudgedRule.Name}})
	}
	log := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool": map[string]any{"driver": map[string]any{
				"name": "podguard", "version": version, "informationUri": "https://github.com/podguard/podguard", "rules": rules,
			}},
			"results":     out,
			"invocations": []any{map[string]any{"executionSuccessful": !failed}},
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// writeJUnit writes one test case per checked manifest; a manifest the cluster would
// refuse is a failure listing its denials.
func writeJUnit(w io.Writer, results []Result) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		Classname string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
		Error     *failure `xml:"error,omitempty"`
		Skipped   *struct {
			Message string `xml:"message,attr"`
		} `xml:"skipped,omitempty"`
		SystemOut string `xml:"system-out,omitempty"`
	}
	type testsuite struct {
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Errors   int        `xml:"errors,attr"`
		Skipped  int        `xml:"skipped,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	suites := map[string]*testsuite{}
	var names []string
	for _, r := range results {
		s := suites[r.File]
		if s == nil {
			s = &testsuite{Name: r.File}
			suites[r.File] = s
			names = append(names, r.File)
		}
		name, class := r.id(), "podguard."+r.Kind
		if r.Kind == "" {
			name, class = "document", "podguard.document"
		}
		tc := testcase{Name: fmt.Sprintf("%s (line %d)", name, r.Line), Classname: class}
		var notes, denials []string
		for _, f := range r.Findings {
			line := fmt.Sprintf("%s:%d: %s %s", r.File, r.FieldLine(f.Field), label(f), f.String())
			if n := f.Note(); n != "" {
				line += " [" + n + "]"
			}
			if f.Enforcement == "deny" && !f.Defaulted {
				denials = append(denials, line)
			} else {
				notes = append(notes, line)
			}
		}
		switch r.Verdict {
		case "refuse":
			s.Failures++
			tc.Failure = &failure{Message: "the cluster would refuse it: " + plural(len(denials), "violation", "violations"), Type: "refused", Text: strings.Join(denials, "\n")}
			if r.Reason != "" {
				tc.Failure = &failure{Message: r.Reason, Type: "refused", Text: r.Position() + ": " + r.Reason}
			}
		case VerdictUnchecked, VerdictExempt, VerdictSkipped, VerdictUnrendered:
			s.Skipped++
			msg := r.Verdict
			if r.Reason != "" {
				msg += ": " + r.Reason
			}
			tc.Skipped = &struct {
				Message string `xml:"message,attr"`
			}{Message: msg}
		case VerdictUnreadable, VerdictError:
			s.Errors++
			tc.Error = &failure{Message: r.Reason, Type: r.Verdict, Text: r.Position() + ": " + r.Reason}
		}
		tc.SystemOut = strings.Join(notes, "\n")
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	sort.Strings(names)
	doc := struct {
		XMLName xml.Name     `xml:"testsuites"`
		Name    string       `xml:"name,attr"`
		Suites  []*testsuite `xml:"testsuite"`
	}{Name: "podguard eval"}
	for _, n := range names {
		doc.Suites = append(doc.Suites, suites[n])
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// writeExplain lists what each rule that fired is for, and where to read more.
func writeExplain(w io.Writer, e *engine.Engine, results []Result) {
	seen := map[string]bool{}
	for _, r := range results {
		for _, f := range r.Findings {
			seen[f.Rule] = true
		}
	}
	if len(seen) == 0 {
		return
	}
	fmt.Fprintln(w, "\nRules:")
	for _, id := range e.Rules() {
		if !seen[id] {
			continue
		}
		info := e.Info(id)
		fmt.Fprintf(w, "  %s: %s\n", id, info.Title)
		for _, line := range strings.Split(info.Description, "\n") {
			if line != "" {
				fmt.Fprintf(w, "    %s\n", line)
			}
		}
		if info.Link != "" {
			fmt.Fprintf(w, "    See %s\n", info.Link)
		}
	}
}
