package engine

import (
	"encoding/json"
	"os"
	"testing"
)

// ReviewObject is the object of the AdmissionReview in file. A test helper, exported for
// the tests of package engine_test as well.
func ReviewObject(t testing.TB, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var review struct {
		Request struct {
			Object json.RawMessage `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(raw, &review); err != nil {
		t.Fatal(err)
	}
	return review.Request.Object
}
