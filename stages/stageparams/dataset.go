package stageparams

// Dataset are the dataset stage's parameters (the experiment's [dataset]
// without its source folder, a machine-local hint outside the key).
type Dataset struct {
	// Name is the dataset (checked against package datasets by the stage).
	Name string `json:"name"`
	// ValSize is the number of training images held out for validation:
	// nil for the datasets package's default, 0 for none.
	ValSize *int `json:"val_size,omitempty"`
	// SplitSeed carves the validation split (nil: DefaultSplitSeed).
	SplitSeed *uint64 `json:"split_seed,omitempty"`
}

// DefaultSplitSeed is Dataset.SplitSeed when nil.
const DefaultSplitSeed = 1

// Validate checks that a name is given.
func (p *Dataset) Validate() error {
	if p.Name == "" {
		return errEmpty("name")
	}
	if p.ValSize != nil {
		return nonNegative("val_size", *p.ValSize)
	}
	return nil
}

// Split returns the validation size and split seed as datasets.Options
// take them: 0 for the default size, -1 for no validation split.
func (p Dataset) Split() (valSize int, seed uint64) {
	seed = DefaultSplitSeed
	if p.SplitSeed != nil {
		seed = *p.SplitSeed
	}
	if p.ValSize != nil {
		valSize = *p.ValSize
		if valSize == 0 {
			valSize = -1 // 0 in an experiment means no validation split
		}
	}
	return valSize, seed
}
