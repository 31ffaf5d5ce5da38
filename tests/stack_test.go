package tests

import (
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"stf-farm/components/model"
)

// projectDir returns the repository's top folder, where Pulumi.yaml is.
func projectDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Dir(filepath.Dir(file))
}

// stackConfig reads Pulumi.<stack>.yaml the way the Pulumi engine does and returns the
// raw values the program receives, keyed without the namespace.
func stackConfig(t testing.TB, stack string) map[string]string {
	t.Helper()
	dir := projectDir(t)
	project, err := workspace.LoadProject(filepath.Join(dir, "Pulumi.yaml"))
	require.NoError(t, err)
	ps, err := workspace.LoadProjectStack(diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never}), project,
		filepath.Join(dir, "Pulumi."+stack+".yaml"))
	require.NoError(t, err)

	raw := map[string]string{}
	for key, value := range ps.Config {
		require.Equal(t, model.Namespace, key.Namespace(), "key %s", key)
		v, err := value.Value(config.NopDecrypter)
		require.NoError(t, err)
		raw[key.Name()] = v
	}
	return raw
}

// devConfig returns the validated reference stack.
func devConfig(t testing.TB) *model.Config {
	t.Helper()
	cfg, err := model.Load(stackConfig(t, "dev"))
	require.NoError(t, err)
	return cfg
}

// Pulumi writes an encryptionsalt line into a stack file when it creates the stack with
// a passphrase. The project's passphrase is generated in each checkout, so a salt in a
// committed stack file would make every other checkout fail to open the stack. The test
// reads the committed files, since `make up` adds a salt to the working copy.
func TestStackFilesCarryNoSalt(t *testing.T) {
	dir := projectDir(t)
	list := exec.Command("git", "ls-files", "Pulumi.*.yaml")
	list.Dir = dir
	out, err := list.Output()
	require.NoError(t, err, "git ls-files must list the committed stack files; the test needs a git checkout")
	files := strings.Fields(string(out))
	require.NotEmpty(t, files)
	for _, name := range files {
		show := exec.Command("git", "show", "HEAD:"+name)
		show.Dir = dir
		data, err := show.Output()
		require.NoError(t, err, "git show HEAD:%s", name)
		for _, line := range strings.Split(string(data), "\n") {
			assert.False(t, strings.HasPrefix(line, "encryptionsalt:"),
				"the committed %s has an encryptionsalt line; delete it and commit the file again", name)
		}
	}
}
