// Command dalaba-cloud is the township service.
//
//	dalaba-cloud [serve] [--config FILE] [--data-dir DIR] [--http ADDR] [--mqtt ADDR]
//	dalaba-cloud box add ID --name NAME [--broker-url URL] [--config FILE] [--data-dir DIR]
//	dalaba-cloud user add NAME --role ROLE [--config FILE] [--data-dir DIR]   (password on stdin, or generated)
//	dalaba-cloud --version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dalaba/dalaba/cloud"
	"github.com/dalaba/dalaba/cloud/config"
)

// Set by the linker (-X main.version=... -X main.buildDate=...).
var (
	version   = "dev"
	buildDate = ""
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintf(stdout, "dalaba-cloud %s %s\n", version, buildDate)
		return 0
	}
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
		if (cmd == "box" || cmd == "user") && len(args) > 0 && args[0] == "add" {
			cmd, args = cmd+" add", args[1:]
		}
	}
	fs := flag.NewFlagSet("dalaba-cloud "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (configs/cloud.example.yaml documents every key)")
	dataDir := fs.String("data-dir", "", "data directory (overrides data_dir)")
	httpAddr := fs.String("http", "", "HTTP listen address (overrides http.listen)")
	mqttAddr := fs.String("mqtt", "", "embedded broker listen address (overrides mqtt.listen)")
	name := fs.String("name", "", "box add: the village's name")
	brokerURL := fs.String("broker-url", "", "box add: broker URL written into the box's config")
	role := fs.String("role", "", "user add: admin, reviewer, operator or viewer")

	// Positional operands (the box id, the user name) may come first.
	var operand string
	if cmd == "box add" || cmd == "user add" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "dalaba-cloud %s: missing the %s\n", cmd, map[string]string{"box add": "box id", "user add": "user name"}[cmd])
			return 2
		}
		operand, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if *mqttAddr != "" {
		cfg.MQTT.Listen = *mqttAddr
	}
	if err == nil || *dataDir != "" || *httpAddr != "" || *mqttAddr != "" {
		err = cfg.Validate() // flags may have fixed or broken what the file said
	}
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud: configuration:\n%v\n", err)
		return 2
	}
	log := cfg.Log.New(stderr)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve":
		c, err := cloud.New(cfg, cloud.Deps{Logger: log, Version: version, Stdout: stdout})
		if err == nil {
			err = c.Run(ctx)
		}
		if err != nil {
			log.Error("dalaba-cloud stopped", "err", err)
			return 1
		}
		return 0
	case "box add":
		if *name == "" {
			fmt.Fprintln(stderr, "dalaba-cloud box add: --name is required")
			return 2
		}
		out, err := cloud.AddBox(ctx, cfg, operand, *name, *brokerURL)
		if err != nil {
			fmt.Fprintf(stderr, "dalaba-cloud box add: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, out)
		return 0
	case "user add":
		pw := readPassword(stdin)
		pw, err := cloud.AddUser(ctx, cfg, operand, *role, pw)
		if err != nil {
			fmt.Fprintf(stderr, "dalaba-cloud user add: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "user %s (%s) password: %s\n", operand, *role, pw)
		return 0
	}
	fmt.Fprintf(stderr, "dalaba-cloud: unknown command %q (serve, box add, user add, --version)\n", cmd)
	return 2
}

// readPassword takes one line from stdin when it is not a terminal.
func readPassword(r io.Reader) string {
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice != 0 {
			return ""
		}
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return strings.TrimSpace(line)
}
