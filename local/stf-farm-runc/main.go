// Command stf-farm-runc is an OCI runtime for dockerd that starts runc after removing,
// from the container's spec, every capability that it cannot have.
//
// A process can only grant capabilities that are in its own bounding set. Docker 20.10
// requests every capability it knows for a --privileged container, so on a host whose
// bounding set lacks one (some virtual machines drop CAP_SYS_RESOURCE) runc fails with
// "unable to apply caps: operation not permitted", and --cap-drop has no effect together
// with --privileged. This wrapper reads its own bounding set from /proc/self/status,
// removes the missing capabilities from the spec that runc is about to use, and then
// replaces itself with runc, passing the command line on unchanged:
//
//   - "create" and "run" read <bundle>/config.json, where the bundle is the --bundle
//     (-b) option or else the working directory;
//   - "exec" reads the file named by --process (-p), when there is one;
//   - every other command is passed on untouched.
//
// On a host whose bounding set is complete the spec is left as it is. Register it with
// `dockerd --add-runtime stf-farm-runc=/path/to/stf-farm-runc --default-runtime
// stf-farm-runc`. It finds runc in PATH (or /usr/sbin/runc), or at the path in
// STF_FARM_REAL_RUNC when that is set.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	runc, err := findRunc()
	if err != nil {
		fail(err)
	}
	args := os.Args[1:]
	if path := specPath(args); path != "" {
		bounding, err := boundingSet("/proc/self/status")
		if err != nil {
			fail(err)
		}
		if err := filterSpecFile(path, bounding); err != nil {
			fail(err)
		}
	}
	argv := append([]string{"runc"}, args...)
	if err := syscall.Exec(runc, argv, os.Environ()); err != nil {
		fail(fmt.Errorf("starting %s failed: %w", runc, err))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "stf-farm-runc: %v\n", err)
	os.Exit(1)
}

// findRunc returns the path of the real runc, never this program itself.
func findRunc() (string, error) {
	if path := os.Getenv("STF_FARM_REAL_RUNC"); path != "" {
		return path, nil
	}
	self, _ := os.Executable()
	candidates := []string{}
	if path, err := exec.LookPath("runc"); err == nil {
		candidates = append(candidates, path)
	}
	candidates = append(candidates, "/usr/sbin/runc", "/usr/bin/runc")
	for _, path := range candidates {
		info, err := os.Stat(path)
		if err != nil || info.IsDir() {
			continue
		}
		if resolved, err := filepath.EvalSymlinks(path); err == nil && resolved == self {
			continue
		}
		return path, nil
	}
	return "", errors.New("runc was not found in PATH, /usr/sbin or /usr/bin; install the runc package or set STF_FARM_REAL_RUNC")
}

// globalValueOptions are runc's global options that take a value as the next argument.
var globalValueOptions = map[string]bool{
	"root": true, "log": true, "log-format": true, "criu": true, "rootless": true,
}

// specPath returns the spec file that the runc command line in args will read, or ""
// when the command reads none.
func specPath(args []string) string {
	command, rest := splitCommand(args)
	switch command {
	case "create", "run":
		bundle := optionValue(rest, "bundle", "b")
		if bundle == "" {
			bundle = "."
		}
		return filepath.Join(bundle, "config.json")
	case "exec":
		return optionValue(rest, "process", "p")
	}
	return ""
}

// splitCommand returns runc's command name and the arguments after it.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return arg, args[i+1:]
		}
		name := strings.TrimLeft(arg, "-")
		if !strings.Contains(name, "=") && globalValueOptions[name] {
			i++
		}
	}
	return "", nil
}

// optionValue returns the value of the option named long (or short) in args, written
// as "--long VALUE", "--long=VALUE", "-short VALUE" or "-short=VALUE".
func optionValue(args []string, long, short string) string {
	for i, arg := range args {
		if arg == "--" {
			break
		}
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name != long && name != short {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
