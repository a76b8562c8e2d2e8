package chart

import (
	"path/filepath"
	"testing"
)

// TestSubchart renders podguard as a dependency of testdata/umbrella, whose values set
// global (which Helm passes to every subchart) and one of podguard's values.
func TestSubchart(t *testing.T) {
	for _, sdk := range SDKs {
		t.Run(string(sdk), func(t *testing.T) {
			r, err := Render(t.Context(), Options{ReleaseName: "platform", SDK: sdk, Umbrella: filepath.Join("testdata", "umbrella")})
			if err != nil {
				t.Fatalf("podguard as a subchart with global set: %v", err)
			}
			d, err := r.Deployment()
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != "platform-podguard" || d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Errorf("Deployment %s with replicas %v, want platform-podguard with the umbrella's 3", d.Name, d.Spec.Replicas)
			}
		})
	}
}
