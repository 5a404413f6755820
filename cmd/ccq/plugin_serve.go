package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// pluginCmd groups the plugin-side commands ccq runs on itself; it is hidden
// from help because users never call it.
var pluginCmd = &cobra.Command{
	Use:    "plugin",
	Short:  "Plugin-side commands that ccq runs on itself",
	Hidden: true,
}

// pluginServeCmd serves a built-in optimizer over go-plugin: the host
// re-executes its own binary with `plugin serve NAME`. Nothing may be
// printed on stdout before rpc.Serve (the handshake line goes there).
var pluginServeCmd = &cobra.Command{
	Use:   "serve NAME",
	Short: "Serve a built-in optimizer to a ccq host over go-plugin",
	Args:  cobra.ExactArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		opt, err := builtin.New(args[0])
		if err != nil {
			return err
		}
		var level slog.Level
		_ = level.UnmarshalText([]byte(globals.logLevel))
		slog.SetDefault(slog.New(rpc.NewPluginLogHandler(level)))
		rpc.Serve(opt)
		return nil
	},
}

func init() {
	pluginCmd.AddCommand(pluginServeCmd)
	rootCmd.AddCommand(pluginCmd)
}
