// Command dalaba-cloud is the township service.
//
//	dalaba-cloud [serve] [--config FILE] [--data-dir DIR] [--http ADDR] [--mqtt ADDR]
//	dalaba-cloud box add ID --name NAME [--township ID] [--broker-url URL] [--config FILE] [--data-dir DIR]
//	dalaba-cloud user add NAME --role ROLE [--township ID] [--config FILE] [--data-dir DIR]
//	dalaba-cloud township add ID --name NAME [--config FILE] [--data-dir DIR]
//	dalaba-cloud migrate --from bolt:PATH --to postgres:DSN
//	dalaba-cloud --version
//
// serve runs the service until SIGINT or SIGTERM. box add registers a box
// with the service stopped and prints its ready edge config on stdout.
// user add creates a user with the service stopped; the password is read
// from stdin (one line) when stdin is not a terminal, else generated and
// printed. --township puts the box or user in a township (which must
// exist; township add makes one, e.g. t-dongshan --name 东山镇); without it
// they are the county's own. migrate copies a township's bbolt store into a new, empty
// PostgreSQL database with the service stopped, checks the copy kind by
// kind and prints the check; it refuses a database that holds anything.
// configs/cloud.example.yaml documents the config file.
//
// Exit status: 0 done, 1 failed, 2 bad usage or configuration (every
// problem is listed).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dalaba/dalaba/cloud"
	"github.com/dalaba/dalaba/cloud/config"
)

// version is set by the linker: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// common are the flags every subcommand takes.
type common struct {
	config, dataDir string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config `file` (configs/cloud.example.yaml documents every key)")
	fs.StringVar(&c.dataDir, "data-dir", "", "data `directory` (overrides data_dir)")
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintf(stdout, "dalaba-cloud %s\n", version)
		return exitOK
	}
	cmd := "serve"
	switch {
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
	case args[0] == "serve":
		args = args[1:]
	case len(args) >= 2 && (args[0] == "box" || args[0] == "user" || args[0] == "township") && args[1] == "add":
		cmd, args = args[0]+" add", args[2:]
	case args[0] == "migrate":
		cmd, args = "migrate", args[1:]
	default:
		fmt.Fprintf(stderr, "dalaba-cloud: unknown command %q: serve, box add, user add, township add, migrate or --version\n", strings.Join(args[:min(2, len(args))], " "))
		return exitUsage
	}
	switch cmd {
	case "box add":
		return boxAdd(ctx, args, stdout, stderr)
	case "user add":
		return userAdd(ctx, args, stdin, stdout, stderr)
	case "township add":
		return townshipAdd(ctx, args, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, stdout, stderr)
	}
	return serve(ctx, args, stdout, stderr)
}

func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags around one operand (what: the box id or user name;
// "" = none expected), which may come before, between or after them.
func parse(fs *flag.FlagSet, args []string, what string) (operand string, ok bool) {
	var extra []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if operand == "" && what != "" {
			operand = args[0]
		} else {
			extra = append(extra, args[0])
		}
		args = args[1:]
	}
	switch {
	case what != "" && operand == "":
		fmt.Fprintf(fs.Output(), "%s: missing the %s\n", fs.Name(), what)
	case len(extra) > 0:
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), strings.Join(extra, " "))
	default:
		return operand, true
	}
	fs.Usage()
	return "", false
}

// loadConfig reads the file and environment, applies the flags, and
// validates once, so every problem is reported together.
func loadConfig(c common, apply func(*config.Config), stderr io.Writer) (config.Config, bool) {
	cfg, err := config.Read(c.config)
	if err == nil {
		if c.dataDir != "" {
			cfg.DataDir = c.dataDir
		}
		if apply != nil {
			apply(&cfg)
		}
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud: configuration:\n%v\n", err)
		return config.Config{}, false
	}
	return cfg, true
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	var httpAddr, mqttAddr string
	fs := newFlags("dalaba-cloud serve", "dalaba-cloud [serve] [--config FILE] [--data-dir DIR] [--http ADDR] [--mqtt ADDR]", stderr)
	c.register(fs)
	fs.StringVar(&httpAddr, "http", "", "HTTP listen `address` (overrides http.listen)")
	fs.StringVar(&mqttAddr, "mqtt", "", "embedded broker listen `address` (overrides mqtt.listen)")
	if _, ok := parse(fs, args, ""); !ok {
		return exitUsage
	}
	cfg, ok := loadConfig(c, func(cfg *config.Config) {
		if httpAddr != "" {
			cfg.HTTP.Listen = httpAddr
		}
		if mqttAddr != "" {
			cfg.MQTT.Listen = mqttAddr
		}
	}, stderr)
	if !ok {
		return exitUsage
	}
	log := cfg.Log.New(stderr)
	svc, err := cloud.New(cfg, cloud.Deps{Logger: log, Version: version, Stdout: stdout})
	if err == nil {
		err = svc.Run(ctx)
	}
	if err != nil {
		log.Error("dalaba-cloud stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

func boxAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	var name, brokerURL, township string
	fs := newFlags("dalaba-cloud box add", "dalaba-cloud box add ID --name NAME [--township ID] [--broker-url URL] [--config FILE] [--data-dir DIR]", stderr)
	c.register(fs)
	fs.StringVar(&name, "name", "", "the village's `name` (required)")
	fs.StringVar(&township, "township", "", "the `id` of the township the box belongs to (default: the county's own)")
	fs.StringVar(&brokerURL, "broker-url", "", "broker `URL` written into the box's config (default: mqtt.public_url, or derived)")
	id, ok := parse(fs, args, "box id")
	if !ok {
		return exitUsage
	}
	if name == "" {
		fmt.Fprintln(stderr, "dalaba-cloud box add: --name is required")
		return exitUsage
	}
	cfg, ok := loadConfig(c, nil, stderr)
	if !ok {
		return exitUsage
	}
	out, err := cloud.AddBox(ctx, cfg, id, name, township, brokerURL)
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud box add: %v\n", err)
		return exitFailed
	}
	fmt.Fprint(stdout, out)
	return exitOK
}

func userAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var c common
	var role, township string
	fs := newFlags("dalaba-cloud user add", "dalaba-cloud user add NAME --role admin|reviewer|operator|supervisor|viewer [--township ID] [--config FILE] [--data-dir DIR] < password", stderr)
	c.register(fs)
	fs.StringVar(&role, "role", "", "admin, reviewer, operator, supervisor or viewer (required)")
	fs.StringVar(&township, "township", "", "the `id` of the township the user works in (default: the county, every village)")
	name, ok := parse(fs, args, "user name")
	if !ok {
		return exitUsage
	}
	if role == "" {
		fmt.Fprintln(stderr, "dalaba-cloud user add: --role is required")
		return exitUsage
	}
	cfg, ok := loadConfig(c, nil, stderr)
	if !ok {
		return exitUsage
	}
	password, err := readPassword(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud user add: reading the password from stdin: %v\n", err)
		return exitFailed
	}
	generated, err := cloud.AddUser(ctx, cfg, name, role, township, password)
	if err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud user add: %v\n", err)
		return exitFailed
	}
	if generated != "" {
		fmt.Fprintf(stdout, "user %s (%s) added; password %s (shown only this once)\n", name, role, generated)
	} else {
		fmt.Fprintf(stdout, "user %s (%s) added\n", name, role)
	}
	return exitOK
}

func townshipAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c common
	var name string
	fs := newFlags("dalaba-cloud township add", "dalaba-cloud township add ID --name NAME [--config FILE] [--data-dir DIR]", stderr)
	c.register(fs)
	fs.StringVar(&name, "name", "", "the township's `name`, e.g. 东山镇 (required)")
	id, ok := parse(fs, args, "township id")
	if !ok {
		return exitUsage
	}
	if name == "" {
		fmt.Fprintln(stderr, "dalaba-cloud township add: --name is required")
		return exitUsage
	}
	cfg, ok := loadConfig(c, nil, stderr)
	if !ok {
		return exitUsage
	}
	if err := cloud.AddTownship(ctx, cfg, id, name); err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud township add: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "township %s (%s) added\n", id, name)
	return exitOK
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var from, to string
	fs := newFlags("dalaba-cloud migrate", "dalaba-cloud migrate --from bolt:PATH --to postgres:DSN", stderr)
	fs.StringVar(&from, "from", "", "the bbolt store, bolt:`PATH` (data_dir/cloud.db)")
	fs.StringVar(&to, "to", "", "the new, empty PostgreSQL database, postgres:`DSN`")
	if _, ok := parse(fs, args, ""); !ok {
		return exitUsage
	}
	if from == "" || to == "" {
		fmt.Fprintln(stderr, "dalaba-cloud migrate: --from and --to are required")
		fs.Usage()
		return exitUsage
	}
	if err := cloud.Migrate(ctx, from, to, stdout); err != nil {
		fmt.Fprintf(stderr, "dalaba-cloud migrate: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// readPassword reads one line from stdin unless it is a terminal (then ""
// means: generate one). A password is never taken from the command line,
// where ps would show it.
func readPassword(r io.Reader) (string, error) {
	if f, ok := r.(*os.File); ok {
		st, err := f.Stat()
		if err != nil || st.Mode()&os.ModeCharDevice != 0 {
			return "", nil
		}
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
