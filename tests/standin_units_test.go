package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the STF stand-in (tools/standin) in check mode on the container
// command of every rendered unit that runs the STF image. The stand-in accepts exactly
// the subcommands and flags that the farm relies on, and rejects what STF's strict
// command line would reject. A template that misspells a flag or drops a required one
// therefore fails here rather than in a crash-looping container.

// stfCheckStandIn builds the stand-in from the tools module into a temporary folder,
// statically as its image needs it, and returns the path of the binary, named stf.
func stfCheckStandIn(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stf")
	build := exec.Command("go", "build", "-trimpath", "-o", path, "./standin/cmd/stf-standin")
	build.Dir = filepath.Join(projectDir(t), "tools")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "cannot build the STF stand-in in tools/:\n%s", out)
	return path
}

// stfCheckSplit splits a systemd command line into words as systemd does for ExecStart:
// whitespace separates words, double and single quotes group them, and backslash
// escapes are C escapes. Specifiers and $ are left for stfCheckExpand.
func stfCheckSplit(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case r == '\\':
			if i+1 >= len(runes) {
				return nil, fmt.Errorf("the command line ends with a backslash")
			}
			i++
			escaped, ok := map[rune]rune{
				'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
				'\\': '\\', '"': '"', '\'': '\'', 's': ' ', ';': ';',
			}[runes[i]]
			if !ok {
				return nil, fmt.Errorf("unsupported escape \\%c in %q", runes[i], line)
			}
			word.WriteRune(escaped)
			inWord = true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// stfCheckExpand resolves the specifiers of one word with sample values and turns $$
// into $, as systemd does after splitting. A variable reference is an error, because
// the farm's units pass no variables in ExecStart.
func stfCheckExpand(word string, specifiers map[byte]string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(word); i++ {
		c := word[i]
		if (c != '%' && c != '$') || i+1 >= len(word) {
			out.WriteByte(c)
			continue
		}
		i++
		next := word[i]
		switch {
		case next == c:
			out.WriteByte(c)
		case c == '%':
			value, ok := specifiers[next]
			if !ok {
				return "", fmt.Errorf("specifier %%%c in %q has no sample value", next, word)
			}
			out.WriteString(value)
		default:
			return "", fmt.Errorf("%q refers to an environment variable, which this test does not expand", word)
		}
	}
	return out.String(), nil
}

// stfCheckSpecifiers returns sample values of the specifiers for a unit name, the way
// systemd derives %i, %p and %n from it; %H is a sample host name.
func stfCheckSpecifiers(unitName string) map[byte]string {
	base := strings.TrimSuffix(unitName, ".service")
	prefix, instance, _ := strings.Cut(base, "@")
	return map[byte]string{'i': instance, 'p': prefix, 'n': unitName, 'H': "sample-host"}
}

// Options of docker run that the farm's units use. A unit with another option fails the
// test until it is added here, so a new option is never misread as the image.
var (
	stfCheckDockerValueOptions = map[string]bool{
		"--name": true, "--net": true, "--network": true, "-v": true, "--volume": true,
		"-e": true, "--env": true, "-p": true, "--publish": true, "--link": true,
	}
	stfCheckDockerFlagOptions = map[string]bool{"--rm": true, "--privileged": true, "-d": true, "--detach": true}
)

// stfCheckContainer is what docker run would start: the image, the environment from -e
// and the container command after the image.
type stfCheckContainer struct {
	image   string
	env     []string
	command []string
}

// stfCheckDockerRun reads the docker run command line of an ExecStart.
func stfCheckDockerRun(words []string) (stfCheckContainer, error) {
	var c stfCheckContainer
	if len(words) < 3 || filepath.Base(strings.TrimLeft(words[0], "-@+!:")) != "docker" || words[1] != "run" {
		return c, fmt.Errorf("ExecStart is not a docker run command: %q", words)
	}
	for i := 2; i < len(words); i++ {
		word := words[i]
		if !strings.HasPrefix(word, "-") {
			c.image = word
			c.command = words[i+1:]
			return c, nil
		}
		name, value, hasValue := strings.Cut(word, "=")
		switch {
		case stfCheckDockerFlagOptions[name] && !hasValue:
			continue
		case !stfCheckDockerValueOptions[name]:
			return c, fmt.Errorf("docker run option %s is not known to this test; add it to "+
				"stfCheckDockerValueOptions or stfCheckDockerFlagOptions", word)
		case !hasValue:
			if i+1 >= len(words) {
				return c, fmt.Errorf("docker run option %s has no value", name)
			}
			i++
			value = words[i]
		}
		if name == "-e" || name == "--env" {
			if !strings.Contains(value, "=") {
				return c, fmt.Errorf("docker run -e %s copies the variable from the machine, which this test cannot do", value)
			}
			c.env = append(c.env, value)
		}
	}
	return c, fmt.Errorf("docker run names no image: %q", words)
}

// stfCheckUnitContainer parses a unit file with go-systemd and returns the container
// its ExecStart runs, with specifiers resolved for unitName.
func stfCheckUnitContainer(unitName, text string) (stfCheckContainer, error) {
	opts, err := unit.DeserializeOptions(strings.NewReader(text))
	if err != nil {
		return stfCheckContainer{}, fmt.Errorf("the unit does not parse: %w", err)
	}
	var execStart []string
	for _, o := range opts {
		if o.Section == "Service" && o.Name == "ExecStart" {
			execStart = append(execStart, o.Value)
		}
	}
	if len(execStart) != 1 {
		return stfCheckContainer{}, fmt.Errorf("the unit has %d ExecStart lines, want 1", len(execStart))
	}

	// go-systemd keeps each line continuation; systemd reads it as a space.
	line := strings.ReplaceAll(execStart[0], "\\\n", " ")
	words, err := stfCheckSplit(line)
	if err != nil {
		return stfCheckContainer{}, err
	}
	specifiers := stfCheckSpecifiers(unitName)
	for i, word := range words {
		if words[i], err = stfCheckExpand(word, specifiers); err != nil {
			return stfCheckContainer{}, err
		}
	}
	return stfCheckDockerRun(words)
}

// stfCheckResult is the outcome of running the stand-in's check on one command.
type stfCheckResult struct {
	exitCode int
	stdout   string
	stderr   string
}

// stfCheckRun runs the container command through the stand-in in check mode, with only
// the container's -e variables in its environment, as argv[0] "stf" like the image.
func stfCheckRun(t *testing.T, standin string, container stfCheckContainer) stfCheckResult {
	t.Helper()
	require.NotEmpty(t, container.command, "the container has no command")
	cmd := exec.Command(standin, container.command[1:]...)
	cmd.Args[0] = container.command[0]
	cmd.Env = append([]string{"STF_STANDIN_CHECK=1"}, container.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	result := stfCheckResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		result.exitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("cannot run the stand-in: %v", err)
	}
	return result
}

func TestStandInAcceptsEveryRenderedUnit(t *testing.T) {
	standin := stfCheckStandIn(t)
	covered := map[string]bool{}
	for stack, cfg := range stackVariants(t) {
		for _, u := range renderUnits(t, cfg) {
			if !u.UsesImage {
				continue
			}
			container, err := stfCheckUnitContainer(u.Name, u.Text)
			if !assert.NoError(t, err, "%s/%s", stack, u.Name) {
				continue
			}
			assert.Equal(t, cfg.STF.Image, container.image, "%s/%s runs another image", stack, u.Name)
			if !assert.NotEmpty(t, container.command, "%s/%s has no container command", stack, u.Name) ||
				!assert.Equal(t, "stf", container.command[0], "%s/%s does not run stf", stack, u.Name) {
				continue
			}

			result := stfCheckRun(t, standin, container)
			if !assert.Equal(t, 0, result.exitCode, "%s/%s: the stand-in rejects %q:\n%s",
				stack, u.Name, container.command, result.stderr) {
				continue
			}
			var report struct {
				Subcommand string              `json:"subcommand"`
				Flags      map[string][]string `json:"flags"`
			}
			if assert.NoError(t, json.Unmarshal([]byte(result.stdout), &report), "%s/%s: %s", stack, u.Name, result.stdout) {
				assert.Equal(t, container.command[1], report.Subcommand, "%s/%s", stack, u.Name)
			}
			assert.NotContains(t, result.stdout, "s3cr", "%s/%s: the check report shows the secret", stack, u.Name)
			covered[report.Subcommand] = true
		}
	}
	for _, subcommand := range []string{"app", "auth-mock", "storage-plugin-apk", "storage-plugin-image",
		"storage-temp", "websocket", "api", "groups-engine", "processor", "provider", "reaper", "triproxy", "migrate"} {
		assert.True(t, covered[subcommand], "no rendered unit runs stf %s, so the check did not cover it", subcommand)
	}
}

// stfCheckDevUnit returns the text of one rendered unit of the dev stack.
func stfCheckDevUnit(t *testing.T, name string) string {
	t.Helper()
	for _, u := range renderUnits(t, devConfig(t)) {
		if u.Name == name {
			return u.Text
		}
	}
	t.Fatalf("the dev stack has no unit %s", name)
	return ""
}

func TestStandInRejectsBrokenUnits(t *testing.T) {
	standin := stfCheckStandIn(t)
	cases := []struct {
		name, unit, old, new, want string
	}{
		{"misspelt flag", "stf-app@3100.service", "--auth-url", "--auth-ulr",
			"stf app: unknown flag --auth-ulr (did you mean --auth-url?)"},
		{"flag of another subcommand", "stf-websocket@3600.service", "--storage-url", "--storage-dir",
			"stf websocket: unknown flag --storage-dir"},
		{"missing required flag", "stf-provider@1.service", "--storage-url \"http://192.168.56.101/\"", "",
			"missing required flag --storage-url"},
		{"missing secret", "stf-api@3700.service", "-e \"SECRET=s3cr%%t$$x\\\"y\"", "",
			"missing required flag --secret"},
		{"unknown subcommand", "stf-reaper.service", "stf reaper dev", "stf reap dev",
			"stf: unknown subcommand \"reap\""},
		{"endpoint without scheme", "stf-processor@1.service", "\"tcp://192.168.56.102:7160\"", "\"192.168.56.102:7160\"",
			"invalid value \"192.168.56.102:7160\" for --connect-app-dealer"},
		{"extra positional", "stf-storage-temp@3500.service", "--save-dir /data", "--save-dir /data /more",
			"unexpected argument \"/more\""},
	}
	for _, c := range cases {
		text := stfCheckDevUnit(t, c.unit)
		require.Contains(t, text, c.old, "%s: the unit no longer contains %q; update the case", c.name, c.old)
		broken := strings.Replace(text, c.old, c.new, 1)
		container, err := stfCheckUnitContainer(c.unit, broken)
		require.NoError(t, err, c.name)

		result := stfCheckRun(t, standin, container)
		assert.Equal(t, 2, result.exitCode, "%s: exit status of %q:\n%s", c.name, container.command, result.stderr)
		assert.Contains(t, result.stderr, c.want, c.name)
		assert.Empty(t, result.stdout, "%s: a rejected command printed a report", c.name)
	}
}

func TestStandInUnitSplitting(t *testing.T) {
	words, err := stfCheckSplit(`/usr/bin/docker run -e "A=x\"y\\z" 'single quoted' plain\ttab`)
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/bin/docker", "run", "-e", `A=x"y\z`, "single quoted", "plain\ttab"}, words)

	expanded, err := stfCheckExpand("%p-%i %%i $$HOME 100%%", stfCheckSpecifiers("stf-app@3100.service"))
	require.NoError(t, err)
	assert.Equal(t, "stf-app-3100 %i $HOME 100%", expanded)

	_, err = stfCheckExpand("$HOME", nil)
	assert.Error(t, err, "a variable reference must not pass silently")
	_, err = stfCheckSplit(`"unterminated`)
	assert.Error(t, err)

	container, err := stfCheckDockerRun([]string{"/usr/bin/docker", "run", "--rm", "--name=x", "-e", "A=1",
		"-p", "1:2", "img:1", "stf", "app"})
	require.NoError(t, err)
	assert.Equal(t, "img:1", container.image)
	assert.Equal(t, []string{"A=1"}, container.env)
	assert.Equal(t, []string{"stf", "app"}, container.command)

	_, err = stfCheckDockerRun([]string{"/usr/bin/docker", "run", "--entrypoint", "/bin/sh", "img"})
	assert.ErrorContains(t, err, "--entrypoint")
}
