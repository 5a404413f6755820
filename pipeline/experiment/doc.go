package experiment

// The experiment file format (TOML). testdata/example.toml uses every key.
//
//	name        = "..."        optional; results go to runs/<name> (default: the file name)
//	description = "..."        optional
//
//	[dataset]                  required
//	name        = "mnist"      required; the dataset stage checks the value
//	val_size    = 5000         optional, >= 0
//	split_seed  = 1            optional, >= 0
//	source      = "dir"        optional folder; a hint outside the key
//
//	[pretrain]                 required; model and the keys of stageparams.Pretrain
//	model       = "lenet5"     (nn.TrainConfig's: epochs >= 1, batch_size >= 1, seed,
//	epochs = 2, lr = 0.01 ...  lr > 0, momentum, nesterov, weight_decay, schedule,
//	                           milestones, gamma, warmup_epochs, augment, eval_batch;
//	                           and train_limit); the pretrain stage checks the model;
//	from        = "m.safetensors"  instead of training: import this file (only model may stay)
//
//	[[quantize]]               zero or more baseline quantizers
//	label       = "rtn"        optional; default the method; unique
//	method      = "rtn"        required
//	bits        = [2, 4]       required, each 1..8
//	granularity = ["tensor"]   default ["tensor"]; "tensor" | "channel"
//	act_bits    = [32]         default [32]; 32 (float) or 1..8
//	[quantize.params]          method parameters (stageparams.MethodParams; the quantize
//	                           stage checks that the method reads each one)
//
//	[[optimizers]]             zero or more optimizer runs
//	name        = "ccea"       optional label; default the plugin name; unique, except
//	                           that entries differing only in bits, act_bits and the
//	                           start's label (same quantizer method) may share it, so
//	                           that selected W/A pairs (W4A4, W3A3, W2A4) make one row
//	plugin      = "ccea"       built-in name, or a path to an executable (contains '/')
//	sha256      = "..."        optional pin of a path plugin's content (64 hex digits)
//	start       = "rtn"        quantize label, with "/<granularity>" when it lists several
//	bits        = [2, 4]       default: the start quantizer's bits; each must be among them
//	act_bits    = [32]         default: the start quantizer's act_bits; each among them
//	seeds       = [1, 2, 3]    required, non-empty, unique
//	budget      = { evaluations = 5000, wall_time = "30m" }   at least one bound (also generations = N)
//	[optimizers.params]        plugin parameters
//	[optimizers.host]          options of the evolve stage's host loop: batch_size (fitness
//	                           mini-batch, 1024), validate_every (10 generations),
//	                           validation_size (all), checkpoint_every (10 generations),
//	                           select ("final": the optimizer's final solution, the
//	                           default; "best-validation": the base with the highest
//	                           validation accuracy, final solution included),
//	                           race ("off", the default, or "z": race candidates on
//	                           race_fraction of the batch, 0.25, with a z-test at
//	                           race_z, 3, keeping race_keep, the built-in's mu + 2;
//	                           plugins/README.md, "Racing")
//	[optimizers.matrix]        name = [values...]: one run per combination (cartesian
//	                           product), merged into the plugin parameters; names
//	                           "host.X" go to the host options instead
//
//	[evaluate]                 open table, passed to every evaluate stage: batch (1024),
//	                           skip_validation (false), integer (models with
//	                           act_bits < 32 also run integer-only inference on the
//	                           test split: unset, where the CPU has AVX-512 VNNI;
//	                           true, always; false, never)
//	[report]                   reference = "rtn" (float, a quantize label or an
//	                           optimizer name); pairs = [["ccea", "ccea-random"], ...]
//	                           instead tests each pair's first row against its second
//	                           (same settings, Holm over a column's pairs); other keys
//	                           (alpha, no_png) go to the report stage
//	[executor]                 kind = "local" | "slurm"; jobs = N;
//	[executor.slurm]           partition, account, time, cpus_per_stage, args
//
// Stage names, kinds, parameters and inputs are listed on Expand.
