// Package executable checks that a path names a program this process could
// start: an existing regular file (or a link to one) with an execute
// permission bit set. Plugin resolution and the pipeline's file checks
// share it, so `ccq validate` and the run refuse the same paths.
package executable

import (
	"fmt"
	"os"
)

// Check returns nil when path is an existing file with an execute bit set,
// and otherwise an error that says which of these fails.
func Check(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}
