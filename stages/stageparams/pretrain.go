package stageparams

// Pretrain are the pretrain stage's parameters (the experiment's
// [pretrain] table without from, which is the stage's external file): the
// model and the training recipe, plus an optional limit on the number of
// training images for quick runs. `ccq train` builds them from its flags.
type Pretrain struct {
	// Model is the architecture (checked against package nn by the stage).
	Model string `json:"model"`
	// TrainLimit trains on the first TrainLimit training images (0: all).
	TrainLimit int `json:"train_limit,omitempty"`
	Recipe
}

// Recipe is the training recipe, field for field nn.TrainConfig (the
// pretrain stage converts it with nn.TrainConfig(r), which the compiler
// accepts only while the two agree) with every key optional: a zero field
// takes nn.TrainConfig's meaning, the default of nn.DefaultTrainConfig
// except for momentum, weight decay and warm-up, where zero is none. The
// defaults live in package nn.
type Recipe struct {
	Epochs       int       `json:"epochs,omitempty"`
	BatchSize    int       `json:"batch_size,omitempty"`
	LR           float64   `json:"lr,omitempty"`
	Momentum     float64   `json:"momentum,omitempty"`
	Nesterov     bool      `json:"nesterov,omitempty"`
	WeightDecay  float64   `json:"weight_decay,omitempty"`
	Schedule     string    `json:"schedule,omitempty"`
	Milestones   []float64 `json:"milestones,omitempty"`
	Gamma        float64   `json:"gamma,omitempty"`
	WarmupEpochs float64   `json:"warmup_epochs,omitempty"`
	Augment      string    `json:"augment,omitempty"`
	Seed         uint64    `json:"seed,omitempty"`
	EvalBatch    int       `json:"eval_batch,omitempty"`
}

// Validate checks that a model is named and the recipe's ranges (package
// nn checks the rest when training starts).
func (p *Pretrain) Validate() error {
	if p.Model == "" {
		return errEmpty("model")
	}
	for _, c := range []struct {
		key string
		v   float64
	}{{"epochs", float64(p.Epochs)}, {"batch_size", float64(p.BatchSize)}, {"lr", p.LR}, {"train_limit", float64(p.TrainLimit)}} {
		if err := nonNegative(c.key, c.v); err != nil {
			return err
		}
	}
	return nil
}
