package stagecost

import "time"

// BusyShare is the share of the CPUs this process may run on that other
// processes may use while a probe measures before the probe counts as
// taken on a busy machine: its figure is used for the command at hand but
// not cached, and a warning says so (CPU time shared with other work comes out high: the
// probe's threads wait for each other and share caches).
const BusyShare = 0.25

// loadSample is one reading of the CPU time used so far on the CPUs this
// process may run on (summed over them) and by this process, at a wall
// time.
type loadSample struct {
	wall    time.Time
	machine time.Duration
	// cpus is the number of CPUs machine is summed over.
	cpus int
	self time.Duration
	// ok is false where the machine's CPU time is unknown.
	ok bool
}

// sampleLoad reads the machine's and the process's CPU time now.
func sampleLoad() loadSample {
	s := loadSample{wall: time.Now()}
	m, n, okM := machineCPU()
	p, okP := processCPU()
	s.machine, s.cpus, s.self, s.ok = m, n, p, okM && okP
	return s
}

// minLoadWindow is the shortest wall time over which otherShare judges the
// load: the machine's counters tick every 10 ms.
const minLoadWindow = 250 * time.Millisecond

// otherShare is the share of the CPUs this process may run on that other
// processes used between samples a and b; ok is false when it is unknown
// (no machine CPU time on this system, the CPUs changed, or less than
// minLoadWindow between the samples).
func otherShare(a, b loadSample) (share float64, ok bool) {
	wall := b.wall.Sub(a.wall)
	cpus := b.cpus
	if !a.ok || !b.ok || wall < minLoadWindow || cpus < 1 || a.cpus != cpus {
		return 0, false
	}
	other := (b.machine - a.machine) - (b.self - a.self)
	return max(0, other.Seconds()) / (wall.Seconds() * float64(cpus)), true
}
