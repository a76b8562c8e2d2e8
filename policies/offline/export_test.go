package offline

import "io"

// Read splits one input into its documents, as kubectl does: YAML documents separated by
// "---" lines (Lists expanded into their items), or a stream of JSON objects.
func Read(name string, r io.Reader) ([]Manifest, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return newReader(nil).read(name, data), nil
}
