package kibana

import (
	"fmt"
	"io/fs"
	"os"
)

// ReadContent reads what `spawnbeat setup` loads and `spawnbeat export
// kibana` prints: the saved objects and detection rules of the embedded
// assets, or of dir (setup.dashboards.directory, laid out as _meta/kibana
// is) when it is not empty.
func ReadContent(dir string) (Content, error) {
	fsys, source := Assets(), "the built-in assets"
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return Content{}, fmt.Errorf("setup.dashboards.directory: %w", err)
		}
		if !st.IsDir() {
			return Content{}, fmt.Errorf("setup.dashboards.directory: %s is not a directory", dir)
		}
		fsys, source = os.DirFS(dir), dir
	}
	return readContent(fsys, source)
}

func readContent(fsys fs.FS, source string) (Content, error) {
	objects, err := SavedObjects(fsys)
	if err != nil {
		return Content{}, fmt.Errorf("%s: %w", source, err)
	}
	rules, err := DetectionRules(fsys)
	if err != nil {
		return Content{}, fmt.Errorf("%s: %w", source, err)
	}
	return Content{Source: source, SavedObjects: objects, Rules: rules}, nil
}
