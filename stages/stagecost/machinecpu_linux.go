package stagecost

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/stat's counters (USER_HZ, 100 on every
// Linux ccq runs on).
const userHZ = 100

// maxTicks is the largest tick count a time.Duration holds.
const maxTicks = uint64(math.MaxInt64 / int64(time.Second/userHZ))

// machineCPU is the CPU time all processes have used so far on the CPUs
// this process may run on (its affinity mask: a cpuset of a container or a
// Slurm job leaves the others out), summed over them, and their number.
func machineCPU() (time.Duration, int, bool) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, 0, false
	}
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	var sum time.Duration
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cpu, busy, ok := parseProcStatCPU(sc.Text())
		if !ok || cpu < 0 || !set.IsSet(cpu) {
			continue
		}
		sum += busy
		n++
	}
	if sc.Err() != nil || n == 0 {
		return 0, 0, false
	}
	return sum, n, true
}

// parseProcStatCPU reads a "cpuN" line of /proc/stat: the CPU's number and
// its busy time (user, nice, system, irq, softirq and steal; not idle and
// iowait). The aggregate "cpu" line gives cpu -1; other lines ok false.
func parseProcStatCPU(line string) (cpu int, busy time.Duration, ok bool) {
	f := strings.Fields(line)
	if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
		return 0, 0, false
	}
	cpu = -1
	if num := f[0][3:]; num != "" {
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return 0, 0, false
		}
		cpu = int(n)
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		ticks += v
		if v > maxTicks || ticks > maxTicks {
			return 0, 0, false // beyond a time.Duration: not a real counter
		}
	}
	return cpu, time.Duration(ticks) * (time.Second / userHZ), true
}
