package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/ccq-project/ccq/stages/stagecost"
	"github.com/spf13/cobra"
)

// estimateFlags choose where plan and run take their time estimates from.
type estimateFlags struct {
	source      string
	recalibrate bool
}

func (e *estimateFlags) add(cmd *cobra.Command) {
	def := os.Getenv("CCQ_ESTIMATES")
	if def == "" {
		def = "probe"
	}
	cmd.Flags().StringVar(&e.source, "estimates", def, "where time estimates come from: probe (measure this machine once per "+
		"architecture and kind of work, cached in "+displayCostCache()+" unless other processes kept its CPUs busy) or reference (the built-in table of a "+
		stagecost.ReferenceMachine+"; no measuring); $CCQ_ESTIMATES sets the default")
	cmd.Flags().BoolVar(&e.recalibrate, "recalibrate", false, "measure this machine again instead of using cached costs")
}

// install makes the stage kinds' estimates use the chosen source.
func (e *estimateFlags) install() error {
	switch e.source {
	case "probe":
		stagecost.SetDefault(stagecost.New(stagecost.Options{Probe: true, CacheFile: stagecost.DefaultCacheFile(),
			Recalibrate: e.recalibrate, Logger: slog.Default()}, nil))
	case "reference":
		if e.recalibrate {
			return fmt.Errorf("--recalibrate needs --estimates probe")
		}
		stagecost.SetDefault(stagecost.New(stagecost.Options{}, nil))
	default:
		return fmt.Errorf("--estimates %q: expected probe or reference", e.source)
	}
	return nil
}

// displayCostCache names the cost cache for help texts without the
// user's home folder.
func displayCostCache() string { return "$XDG_CACHE_HOME/ccq/costs.json" }
