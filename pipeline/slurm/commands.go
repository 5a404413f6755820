package slurm

// Commands are the Slurm client commands the executor runs: sbatch to
// submit, squeue and sacct to follow jobs, scontrol to check the cluster and
// read a job, scancel to cancel.
var Commands = []string{"sbatch", "squeue", "sacct", "scontrol", "scancel"}
