package webhook

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestExceptionsAdmitLogAndCount: a Deployment whose every violation an exception of the
// configuration covers is admitted without a warning, and each excepted violation is
// logged with the exception's reason and counted under enforcement="excepted".
func TestExceptionsAdmitLogAndCount(t *testing.T) {
	s := startServer(t, t.Context(), Options{ConfigFile: filepath.Join("testdata", "config", "exceptions.yaml")})
	series := []string{
		`podguard_violations_total{enforcement="excepted",rule="image-tag",webhook="validate"}`,
		`podguard_violations_total{enforcement="excepted",rule="required-labels",webhook="validate"}`,
	}
	var before []float64
	for _, name := range series {
		before = append(before, metricValue(t, s, name))
	}
	body := readRequest(t, "deployment-create-violating")
	resp := response(normalize(t, s.post(t, "/validate", body)))
	if resp["allowed"] != true || resp["warnings"] != nil {
		t.Fatalf("excepted Deployment answered %v, want allowed with no warning", resp)
	}
	for i, name := range series {
		if got := metricValue(t, s, name); got != before[i]+1 {
			t.Errorf("%s = %v, want %v", name, got, before[i]+1)
		}
	}
	var req struct {
		Request struct {
			UID string `json:"uid"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatal(err)
	}
	if lines := logs.containing("excepted violations", req.Request.UID, "[image-tag]", "[required-labels]", "Excepted by exceptions[0]: web is rebuilt with a pinned tag and labels in WEB-3"); len(lines) != 1 {
		t.Errorf("%d log lines of the excepted violations with the reason, want 1", len(lines))
	}
}

// TestExpiredExceptionLoggedAndNotApplied: an expired exception admits nothing, and the
// load of the configuration logs that it no longer applies.
func TestExpiredExceptionLoggedAndNotApplied(t *testing.T) {
	s := startServer(t, t.Context(), Options{ConfigFile: filepath.Join("testdata", "config", "exceptions-expired.yaml")})
	resp := response(normalize(t, s.post(t, "/validate", readRequest(t, "deployment-create-violating"))))
	if resp["allowed"] != false {
		t.Errorf("Deployment named by an expired exception answered %v, want refused", resp)
	}
	if lines := logs.containing("exception expired; it no longer applies", "pinned in WEB-3"); len(lines) == 0 {
		t.Error("no log line of the expired exception")
	}
}
